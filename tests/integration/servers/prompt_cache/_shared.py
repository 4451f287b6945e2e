"""What every emulated prompt cache shares: the tokenizer, the server clock, the
per-request :class:`CacheEvent` and the :class:`PromptCacheEmulator` base."""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import tiktoken

from core.accounting.tokens import BPE_SHA256, default_bpe_files
from tests.integration.servers._base import DEFAULT, Behaviour

__all__ = [
    "CacheEvent",
    "CacheTotals",
    "Clock",
    "Entry",
    "FakeClock",
    "Mark",
    "PromptCacheEmulator",
    "canonical",
    "count_tokens",
    "output_tokens",
    "prefix_hashes",
    "running_totals",
    "token_ids",
]

Clock = Callable[[], float]

# --- Tokens ----------------------------------------------------------------------------

_CL100K = "cl100k_base"
# tiktoken's own split pattern for cl100k_base (tiktoken_ext/openai_public.py).
_CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++"""
    r"""[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)


@functools.cache
def _encoding() -> tiktoken.Encoding:
    """cl100k_base from the installed official rank file; never downloads, never guesses."""
    source = default_bpe_files()[_CL100K]
    raw = source.path.read_bytes()
    if hashlib.sha256(raw).hexdigest() != BPE_SHA256[_CL100K]:
        raise RuntimeError(f"{source.path} is not the official {_CL100K} rank file")
    ranks = {}
    for line in raw.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return tiktoken.Encoding(
        _CL100K, pat_str=_CL100K_PATTERN, mergeable_ranks=ranks, special_tokens={}
    )


@functools.lru_cache(maxsize=16384)
def token_ids(text: str) -> tuple[int, ...]:
    """cl100k_base token ids of ``text`` (special-token text counts as plain text)."""
    return tuple(_encoding().encode_ordinary(text))


def count_tokens(text: str) -> int:
    """cl100k_base tokens in ``text``, as the emulated providers count them."""
    return len(token_ids(text))


def canonical(obj: Any) -> str:
    """A JSON value as stable text, without its cache mark (a mark changes the price,
    not the prompt)."""
    if isinstance(obj, dict):
        obj = {k: v for k, v in obj.items() if k != "cache_control"}
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def output_tokens(b: Behaviour) -> int:
    """What a scripted reply costs as output: its text, thinking and tool calls."""
    text = b.text + (b.thinking or "") + "".join(n + a for _, n, a in b.tool_calls)
    return max(1, count_tokens(text))


# --- Clock, events, base class --------------------------------------------------------


class FakeClock:
    """A clock a test moves by hand: ``clock.advance(301)`` passes a 5-minute TTL."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


@dataclass(frozen=True, slots=True)
class Mark:
    """One Anthropic ``cache_control`` mark as the server saw it."""

    #: The marked block's index in the tools → system → messages sequence.
    block: int
    ttl: str
    #: Tokens in the prefix ending at this block.
    tokens: int
    #: Whether the prefix is long enough to be cached (the model's minimum).
    cacheable: bool


@dataclass(frozen=True, slots=True)
class CacheEvent:
    """What one request did to the provider's prompt cache."""

    provider: str
    model: str
    #: The whole prompt, cached parts included.
    prompt_tokens: int
    read_tokens: int
    write_tokens: int = 0
    #: The part of ``write_tokens`` written to a one-hour cache (Anthropic).
    write_1h_tokens: int = 0
    marks: tuple[Mark, ...] = ()
    #: OpenAI's ``prompt_cache_key`` as received (None: not sent).
    cache_key: str | None = None
    #: The server clock when the request came.
    at: float = 0.0


@dataclass(frozen=True, slots=True)
class CacheTotals:
    """Sums over some :class:`CacheEvent` s (for a benchmark's figures)."""

    requests: int = 0
    prompt_tokens: int = 0
    read_tokens: int = 0
    write_tokens: int = 0
    write_1h_tokens: int = 0

    @property
    def uncached_tokens(self) -> int:
        return self.prompt_tokens - self.read_tokens - self.write_tokens


@dataclass(slots=True)
class Entry:
    """A cached prefix: its TTL, when it expires, and (Gemini) its length."""

    ttl: float
    expires: float
    tokens: int = 0


def prefix_hashes(model: str, keys: list[str]) -> list[bytes]:
    """The hash of every prefix of ``keys`` (one per block edge), keyed by model."""
    digest = hashlib.sha256(model.encode()).digest()
    out = []
    for key in keys:
        digest = hashlib.sha256(digest + b"\x00" + key.encode()).digest()
        out.append(digest)
    return out


def running_totals(counts: list[int]) -> list[int]:
    """Where each block ends, in tokens from the start of the prompt."""
    total, out = 0, []
    for n in counts:
        total += n
        out.append(total)
    return out


class PromptCacheEmulator:
    """One provider's cache: :meth:`answer` accounts for a chat request and gives the
    behaviour its measured usage. Thread-safe (the server answers in many threads)."""

    provider: ClassVar[str] = ""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or time.monotonic
        self.events: list[CacheEvent] = []
        self._lock = threading.Lock()

    @property
    def last(self) -> CacheEvent:
        with self._lock:
            return self.events[-1]

    def totals(self, since: int = 0) -> CacheTotals:
        """Sums over the events from index ``since`` on."""
        with self._lock:
            events = self.events[since:]
        return CacheTotals(
            len(events),
            sum(e.prompt_tokens for e in events),
            sum(e.read_tokens for e in events),
            sum(e.write_tokens for e in events),
            sum(e.write_1h_tokens for e in events),
        )

    def clear(self) -> None:
        """Forget every cached prefix (the recorded events stay)."""
        with self._lock:
            self._forget()

    def refusal(self, body: Any) -> str | None:
        """Why the provider would refuse this body's cache settings (None: fine)."""
        return None

    def account(self, body: dict[str, Any], model: str) -> CacheEvent:
        """Look the request's prefix up, update the cache, record and return the event."""
        with self._lock:
            event = self._account(body, model, self.clock())
            self.events.append(event)
            return event

    def answer(self, b: Behaviour, body: Any, model: str) -> Behaviour:
        """The behaviour a 200 reply is rendered from: with the measured usage unless
        the test scripted one. Scripted failures and raw bodies leave the cache alone."""
        if b.status != 200 or b.body is not None or not isinstance(body, dict):
            return b
        event = self.account(body, model)
        if b.usage is not DEFAULT:
            return b
        return replace(b, usage=self.usage(event, output_tokens(b)))

    def usage(self, event: CacheEvent, output_tokens: int) -> dict[str, Any]:
        """The provider's usage object for ``event``."""
        raise NotImplementedError

    def _account(self, body: dict[str, Any], model: str, now: float) -> CacheEvent:
        raise NotImplementedError

    def _forget(self) -> None:
        raise NotImplementedError
