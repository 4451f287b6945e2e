"""A provider's prompt cache, emulated: which prefixes it holds, until when.

The providers do not say what they cache; they say afterwards how many tokens were
read from their cache. :class:`WarmCache` follows their published rules over the
requests sent (a prefix written at a mark, or every long-enough prefix for automatic
caching, kept for the TTL and refreshed by each read). The engine uses it to know,
before a call, what should be read, and so to tell a break or a miss from a hit (see
:mod:`core.prompt_cache`); the Simulator uses it to answer as the real model's cache
would.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from core.content.prefix import Prefix

__all__ = [
    "AUTOMATIC_STEP",
    "LOOKBACK_BLOCKS",
    "MAX_MARKS",
    "CacheTerms",
    "WarmCache",
    "WarmHit",
    "vendor_of",
]

#: Anthropic: at most four cache breakpoints per request ...
MAX_MARKS = 4
#: ... and a read is looked for up to 20 blocks before each.
LOOKBACK_BLOCKS = 20
#: OpenAI caches in steps of 128 tokens past the first 1,024.
AUTOMATIC_STEP = 128
_MAX_ENTRIES = 20_000


def vendor_of(model: str) -> str:
    """Whose model this is by its name: "anthropic", "gemini", else "openai" (the
    Simulator stands in for the real model, so it caches the way that vendor does)."""
    name = model.lower()
    return "anthropic" if "claude" in name else "gemini" if "gemini" in name else "openai"


class CacheTerms(Protocol):
    """What the emulation needs of a caching rule."""

    @property
    def min_tokens(self) -> int: ...

    def cacheable(self, tokens: int) -> int:
        """The part of a ``tokens``-long shared prefix the provider serves from cache."""
        ...


@dataclass(frozen=True, slots=True)
class WarmHit:
    """The longest warm prefix: its last block and its tokens (0 and -1: none)."""

    position: int = -1
    tokens: int = 0


class WarmCache:
    """Prefixes believed cached, per provider and model: chained digest → (tokens,
    expiry). Expired entries are kept a while, so a miss can be told apart as
    "expired" rather than "never cached"."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], OrderedDict[str, tuple[int, float]]] = {}

    def longest(
        self,
        provider: str,
        model: str,
        prefix: Prefix,
        now: float | None,
        rule: CacheTerms,
        marks: Iterable[int] | None = None,
    ) -> WarmHit:
        """The longest prefix of ``prefix`` the cache holds (unexpired at ``now``; any
        age when ``now`` is None). With ``marks`` (Anthropic) a prefix is only read
        when a mark sits at it or at most 20 blocks after it."""
        table = self._entries.get((provider, model))
        if not table:
            return WarmHit()
        marked = sorted(marks) if marks is not None else None
        for i in range(len(prefix) - 1, -1, -1):
            found = table.get(prefix.chain[i])
            if found is None or (now is not None and found[1] < now):
                continue
            if marked is not None and not any(i <= m <= i + LOOKBACK_BLOCKS for m in marked):
                continue
            tokens = rule.cacheable(prefix.tokens_to(i))
            if tokens:
                return WarmHit(i, tokens)
        return WarmHit()

    def keep(
        self,
        provider: str,
        model: str,
        prefix: Prefix,
        positions: Iterable[int],
        until: float,
        rule: CacheTerms,
    ) -> None:
        """Note the prefixes ending at ``positions`` as cached until ``until`` (those
        shorter than the model's minimum are not cached)."""
        table = self._entries.setdefault((provider, model), OrderedDict())
        for i in positions:
            if 0 <= i < len(prefix) and prefix.tokens_to(i) >= rule.min_tokens:
                key = prefix.chain[i]
                table[key] = (prefix.tokens_to(i), until)
                table.move_to_end(key)
        while len(table) > _MAX_ENTRIES:
            table.popitem(last=False)
