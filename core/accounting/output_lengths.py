"""Learned output lengths: how long a model's answers to a kind of prompt really are.

A hard budget that reserves every request's ``max_tokens`` refuses a burst long
before the money runs out; most answers are a fraction of that. :class:`OutputLengths`
keeps, per model and *kind of prompt*, the provider-reported output tokens of the
last finished requests and gives their 95th percentile, which the budget uses to cap
``max_tokens`` when the money left is tight (see :mod:`core.accounting.budget`).

A kind of prompt is ``(purpose, shape, size)``: the request's purpose (``user``,
``context``, ``cache_verify`` …), ``tools`` when tools were offered, ``json`` for
structured output, else ``text``, and the estimated input size bucket (under 256,
under 2,048, or 2,048 tokens and more). A kind needs :data:`MIN_SAMPLES` answers
before its percentile is trusted; until then the model's percentile over every kind
is used, and with fewer samples than that there is none (the budget then reserves
the worst case).
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar

from core.types import RequestRecord

__all__ = ["MIN_SAMPLES", "WINDOW", "OutputLengths", "PromptKind", "prompt_kind"]

#: Answers kept per model and per (model, kind): the most recent ones.
WINDOW = 500
#: Answers a key needs before its percentile is used.
MIN_SAMPLES = 20
_QUANTILE = 0.95
_SIZE_BUCKETS = ((256, "<256"), (2048, "<2048"))

K = TypeVar("K")


@dataclass(frozen=True, slots=True)
class PromptKind:
    """What kind of prompt a request is, as far as its answer's length goes."""

    purpose: str
    shape: str  # tools | json | text
    size: str  # <256 | <2048 | >=2048 estimated input tokens


def prompt_kind(purpose: str, *, tools: bool, json: bool, input_tokens: int) -> PromptKind:
    """The kind of a prompt from what the request carries."""
    shape = "tools" if tools else "json" if json else "text"
    size = next((name for limit, name in _SIZE_BUCKETS if input_tokens < limit), ">=2048")
    return PromptKind(purpose, shape, size)


def record_kind(record: RequestRecord) -> PromptKind:
    """The kind of the prompt a ledger record answered."""
    detail = record.request_detail
    tokens = record.estimated_input_tokens
    if tokens is None:
        tokens = record.usage.input_tokens
    return prompt_kind(
        record.purpose,
        tools=bool(detail.get("tools")),
        json=detail.get("response_format") is not None,
        input_tokens=tokens,
    )


class _Window:
    """The last ``size`` samples and their percentile, recomputed only after a change."""

    __slots__ = ("_p95", "samples")

    def __init__(self, size: int) -> None:
        self.samples: deque[int] = deque(maxlen=size)
        self._p95: int | None = None

    def add(self, value: int) -> None:
        self.samples.append(value)
        self._p95 = None

    def p95(self) -> int:
        if self._p95 is None:
            ordered = sorted(self.samples)
            rank = math.ceil(_QUANTILE * len(ordered))  # nearest rank, 1-based
            self._p95 = ordered[max(rank, 1) - 1]
        return self._p95


class OutputLengths:
    """The p95 of output tokens per (model, kind of prompt), learned online.

    Feed it finished requests with :meth:`learn` (the budget subscribes it to the
    engine's ``REQUEST_FINISHED`` event) and seed it from the ledger's recent records
    with :meth:`seed`. Thread-safe: the event may come from any thread.
    """

    def __init__(self, window: int = WINDOW, min_samples: int = MIN_SAMPLES) -> None:
        if window < 1 or not 1 <= min_samples <= window:
            raise ValueError("need window >= 1 and 1 <= min_samples <= window")
        self.window = window
        self.min_samples = min_samples
        self._by_kind: dict[tuple[str, PromptKind], _Window] = {}
        self._by_model: dict[str, _Window] = {}
        self._lock = threading.Lock()

    def add(self, model: str, kind: PromptKind, output_tokens: int) -> None:
        """Count one answer of ``output_tokens`` from ``model`` to a prompt of ``kind``."""
        with self._lock:
            _window(self._by_kind, (model, kind), self.window).add(output_tokens)
            _window(self._by_model, model, self.window).add(output_tokens)

    def learn(self, record: RequestRecord) -> bool:
        """Count a finished request's answer if it tells anything; True if it did.

        Only answers a provider produced and reported count: cached answers,
        failures, refusals and estimated usage do not. An answer cut at
        ``max_tokens`` counts at its cut length: a lower bound, but one that sits
        above the cap's percentile, so it pushes the percentile up, never down.
        """
        if (
            record.status != "ok"
            or record.cache_outcome != "miss"
            or record.usage_estimated
            or record.model is None
        ):
            return False
        self.add(record.model, record_kind(record), record.usage.output_tokens)
        return True

    def seed(self, records: Iterable[RequestRecord]) -> int:
        """Learn from ``records``, oldest first; returns how many counted."""
        return sum(self.learn(r) for r in records)

    def p95(self, model: str, kind: PromptKind) -> int | None:
        """The learned 95th percentile for ``model`` answering ``kind``: the kind's own
        with enough samples, else the model's over every kind, else None."""
        with self._lock:
            for found in (self._by_kind.get((model, kind)), self._by_model.get(model)):
                if found is not None and len(found.samples) >= self.min_samples:
                    return found.p95()
        return None

    def samples(self, model: str, kind: PromptKind | None = None) -> int:
        """How many answers are held for ``model`` (and ``kind``, when given)."""
        with self._lock:
            found = self._by_model.get(model) if kind is None else self._by_kind.get((model, kind))
            return 0 if found is None else len(found.samples)


def _window(table: dict[K, _Window], key: K, size: int) -> _Window:
    found = table.get(key)
    if found is None:
        found = table[key] = _Window(size)
    return found
