"""Plain data of the semantic cache, and the two keys every entry is filed under.

* :func:`namespace_for` hashes everything that changes an answer except the last user
  message (system prompt, earlier turns, response format, tools). Entries in different
  namespaces never match each other.
* :func:`normalize_prompt` is the exact-match key inside a namespace.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from core.types import Message, Sampling, Usage

__all__ = [
    "DEFAULT_MAX_TEMPERATURE",
    "CacheEntry",
    "CacheHit",
    "CacheStats",
    "LookupResult",
    "NamespaceStats",
    "Rejection",
    "SearchResult",
    "Verifier",
    "VerifierVerdict",
    "ask_verifier",
    "namespace_for",
    "normalize_prompt",
    "why_not_storable",
]

#: Above this temperature an answer is one sample among many: not worth replaying.
DEFAULT_MAX_TEMPERATURE = 0.7

_TRAILING = frozenset(".?!…;:,。？！；：，、")
# Finish reasons of a complete answer; anything else (length, content_filter,
# tool_calls, cancelled, error) is never stored.
_COMPLETE = frozenset({"stop", "end_turn", "stop_sequence", "eos", "completed"})


def normalize_prompt(prompt: str) -> str:
    """NFKC, casefold, collapse whitespace, drop trailing sentence punctuation."""
    text = " ".join(unicodedata.normalize("NFKC", prompt).casefold().split())
    while text and (text[-1] in _TRAILING or text[-1].isspace()):
        text = text[:-1]
    return text


def namespace_for(
    system: str | None,
    history: Sequence[Message],
    response_format: str | None = None,
    tools: str | None = None,
    temperature: float | None = None,
    *,
    cacheable_max_temperature: float = DEFAULT_MAX_TEMPERATURE,
    sampling: Sampling | None = None,
    turn: Sequence[Message] = (),
) -> str | None:
    """The namespace of a request, or ``None`` when its answer must not be cached.

    ``turn`` is the new turn's messages when they are more than the user's text
    (images, tool results): they join the key whole, so a semantic match is only
    possible between requests whose non-text parts are identical. ``tools`` is the
    whole tool set (definitions, choice, parallel flag).

    ``history`` is every message before the final user message. Temperature decides
    only whether the request is cacheable, not the namespace: a cached answer from a
    0.2 request serves a 0.5 one. ``max_tokens`` is left out too: the store only
    serves an entry whose output fits the request (``max_output_tokens`` on lookup).
    ``sampling`` (top_p, stop sequences, seed) is part of the key when asked for: a stop
    sequence or a seed changes the answer.
    """
    if temperature is not None and temperature > cacheable_max_temperature:
        return None
    payload = {
        "v": 1,
        "system": (system or "").strip(),
        "history": [_message_key(m) for m in history],
        "response_format": response_format,
        "tools": tools,
    }
    if sampling is not None and sampling.asked():  # absent: keys stay as they were
        payload["sampling"] = [sampling.top_p, list(sampling.stop), sampling.seed]
    if turn:  # the new turn's images or tool results: only identical ones may match
        payload["turn"] = [_message_key(m) for m in turn]
    blob = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return "ns-" + hashlib.sha256(blob.encode("utf-8")).hexdigest()[:32]


def _message_key(m: Message) -> list[object]:
    """A message in a cache key: role, name and text, plus (only when present, so
    plain keys stay as they were) its tool calls, the call it answers and its images."""
    key: list[object] = [m.role, m.name, m.content]
    if m.tool_calls or m.tool_call_id or m.images:
        key.append(
            {
                "calls": [[c.id, c.name, c.arguments] for c in m.tool_calls],
                "answers": m.tool_call_id,
                "images": [[i.sha256, i.detail] for i in m.images],
            }
        )
    return key


def why_not_storable(status: str, finish_reason: str | None, response: str) -> str | None:
    """Why an answer must not be cached, or ``None`` when it may be."""
    if status != "ok":
        return f"the request ended with status {status!r}"
    if finish_reason is not None and finish_reason not in _COMPLETE:
        return f"the answer is incomplete (finish reason {finish_reason!r})"
    if not response.strip():
        return "the answer is empty"
    return None


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """One cached answer, as the browser and ``centwise cache`` show it."""

    id: int
    namespace: str
    prompt: str
    response: str
    model: str | None
    tier: str | None
    tier_rank: int
    request_id: str | None
    usage: Usage
    cost_usd: Decimal | None
    created_at: float
    last_hit_at: float | None
    hits: int
    ttl_seconds: int | None
    bad: bool
    embedder: str | None = None
    #: What its hits saved, net of what the cache spent on them (verification, a
    #: remote embedder); hits of unknown cost add nothing.
    saved_usd: Decimal = Decimal(0)

    @property
    def expires_at(self) -> float | None:
        return None if self.ttl_seconds is None else self.created_at + self.ttl_seconds

    def expired(self, now: float) -> bool:
        expires = self.expires_at
        return expires is not None and now >= expires


@dataclass(frozen=True, slots=True)
class CacheHit:
    """A cached answer served for a request, and where it came from."""

    entry_id: int
    request_id: str | None  # the request that paid for the answer
    prompt: str  # the cached prompt that matched
    similarity: float
    outcome: Literal["exact", "semantic"]
    response: str
    model: str | None
    tier: str | None
    usage: Usage  # what the original request used
    cost_usd: Decimal | None  # what the original request cost (None: unknown)
    score: float | None = None  # the pair verifier's score (None: exact, or rules only)

    @classmethod
    def from_entry(
        cls,
        entry: CacheEntry,
        similarity: float,
        outcome: Literal["exact", "semantic"],
        score: float | None = None,
    ) -> CacheHit:
        return cls(
            entry_id=entry.id,
            request_id=entry.request_id,
            prompt=entry.prompt,
            similarity=similarity,
            outcome=outcome,
            response=entry.response,
            model=entry.model,
            tier=entry.tier,
            usage=entry.usage,
            cost_usd=entry.cost_usd,
            score=score,
        )


@dataclass(frozen=True, slots=True)
class Rejection:
    """A candidate above the threshold that was not served, and why."""

    entry_id: int
    prompt: str
    similarity: float
    reasons: tuple[str, ...]
    score: float | None = None  # the pair verifier's score, when it ran


@dataclass(frozen=True, slots=True)
class VerifierVerdict:
    """A verifier's answer: do both prompts ask the same? and what did asking cost."""

    same: bool
    cost_usd: Decimal | None = None
    usage: Usage | None = None


#: ``await verifier(new_prompt, cached_prompt, cached_response)``.
Verifier = Callable[[str, str, str], Awaitable[VerifierVerdict]]


@dataclass(slots=True)
class LookupResult:
    """A lookup's full story: the hit (if any), rejected candidates, verifier spend."""

    hit: CacheHit | None = None
    rejections: list[Rejection] = field(default_factory=list)
    verifier_calls: int = 0
    verifier_cost_usd: Decimal = Decimal(0)
    verifier_cost_known: bool = True
    verified: bool = False  # the hit was confirmed by the yes/no verifier


@dataclass(frozen=True, slots=True)
class SearchResult:
    entry: CacheEntry
    similarity: float


@dataclass(frozen=True, slots=True)
class NamespaceStats:
    """``saved_usd`` adds what each hit saved, net of what the cache spent on it (hits
    on entries of unknown cost are counted in ``hits_unknown_cost`` instead)."""

    namespace: str
    entries: int
    bad: int
    hits: int
    saved_usd: Decimal
    hits_unknown_cost: int


@dataclass(frozen=True, slots=True)
class CacheStats:
    namespaces: list[NamespaceStats]

    @property
    def entries(self) -> int:
        return sum(n.entries for n in self.namespaces)

    @property
    def hits(self) -> int:
        return sum(n.hits for n in self.namespaces)

    @property
    def saved_usd(self) -> Decimal:
        return sum((n.saved_usd for n in self.namespaces), Decimal(0))


async def ask_verifier(
    result: LookupResult, verifier: Verifier, prompt: str, entry: CacheEntry, sim: float
) -> bool:
    """Put one candidate to ``verifier``; count its cost and any rejection in ``result``."""
    verdict = await verifier(prompt, entry.prompt, entry.response)
    result.verifier_calls += 1
    if verdict.cost_usd is None:
        result.verifier_cost_known = False
    else:
        result.verifier_cost_usd += verdict.cost_usd
    if not verdict.same:
        reasons = ("verifier: the fast tier said the prompts ask different things",)
        result.rejections.append(Rejection(entry.id, entry.prompt, sim, reasons))
    return verdict.same
