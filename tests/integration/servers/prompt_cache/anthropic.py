"""Anthropic's explicit prompt cache: ``cache_control`` marks, a per-model minimum,
a 20-block lookback, 5-minute and 1-hour TTLs (Anthropic's prompt-caching docs)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from tests.integration.servers.prompt_cache._shared import (
    CacheEvent,
    Clock,
    Entry,
    Mark,
    PromptCacheEmulator,
    canonical,
    count_tokens,
    prefix_hashes,
    running_totals,
)

__all__ = ["ANTHROPIC_MINIMUMS", "AnthropicCache", "anthropic_min_tokens"]

#: Minimum cacheable prefix by model name prefix (Anthropic's prompt-caching docs);
#: Opus 4.5 and later also need 4,096 (see :func:`anthropic_min_tokens`).
ANTHROPIC_MINIMUMS: Mapping[str, int] = {
    "claude-haiku-4-5": 4096,
    "claude-3-5-haiku": 2048,
    "claude-3-haiku": 2048,
    "claude-haiku-3": 2048,
}
_OPUS = re.compile(r"claude-opus-(\d+)(?:-(\d))?(?!\d)")
_TTLS = {"5m": 300.0, "1h": 3600.0}


def anthropic_min_tokens(model: str) -> int:
    """The shortest prefix Anthropic caches for ``model`` (1,024 unless listed)."""
    name = model.lower()
    for prefix, minimum in ANTHROPIC_MINIMUMS.items():
        if name.startswith(prefix):
            return minimum
    opus = _OPUS.match(name)
    if opus and (int(opus[1]), int(opus[2] or 0)) >= (4, 5):
        return 4096
    return 1024


def _mark_of(item: Any) -> Any:
    return item.get("cache_control") if isinstance(item, dict) else None


def _anthropic_blocks(body: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """(section, text, cache mark) of each block, in cache order: tools, system,
    messages. A message's first block carries its role in its text."""
    out: list[tuple[str, str, Any]] = []
    for tool in body.get("tools") or []:
        out.append(("tool", canonical(tool), _mark_of(tool)))
    system = body.get("system")
    blocks = [{"type": "text", "text": system}] if isinstance(system, str) and system else system
    for block in blocks if isinstance(blocks, list) else []:
        out.append(("system", _block_text(block), _mark_of(block)))
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        parts = [{"type": "text", "text": content}] if isinstance(content, str) else content
        for n, block in enumerate(parts if isinstance(parts, list) else []):
            head = f"\n\n{str(message.get('role')).title()}: " if n == 0 else ""
            out.append(("message", head + _block_text(block), _mark_of(block)))
    return out


def _block_text(block: Any) -> str:
    if isinstance(block, dict) and block.get("type") == "text":
        return str(block.get("text", ""))
    return canonical(block)


def _marks(body: Any) -> list[Any]:
    """Every ``cache_control`` value in the body, in cache order."""
    if not isinstance(body, dict):
        return []
    return [mark for _, _, mark in _anthropic_blocks(body) if mark is not None]


class AnthropicCache(PromptCacheEmulator):
    """Anthropic's explicit prompt cache (see the module docstring).

    ``min_tokens`` replaces the per-model minimum (:func:`anthropic_min_tokens`) for
    every model; ``lookback`` is how many blocks before a mark are checked for a hit.
    """

    provider: ClassVar[str] = "anthropic"
    max_marks: ClassVar[int] = 4

    def __init__(
        self, *, min_tokens: int | None = None, lookback: int = 20, clock: Clock | None = None
    ) -> None:
        super().__init__(clock)
        self.min_tokens = min_tokens
        self.lookback = lookback
        self._entries: dict[bytes, Entry] = {}

    def min_tokens_for(self, model: str) -> int:
        return anthropic_min_tokens(model) if self.min_tokens is None else self.min_tokens

    def refusal(self, body: Any) -> str | None:
        seen_5m = False
        for mark in _marks(body):
            if not isinstance(mark, dict) or mark.get("type") != "ephemeral":
                return f"cache_control: Input tag {mark!r} does not match 'ephemeral'"
            ttl = mark.get("ttl", "5m")
            if ttl not in _TTLS:
                return f"cache_control.ttl: Input should be '5m' or '1h', got {ttl!r}"
            if ttl == "1h" and seen_5m:
                return (
                    "a cache_control block with ttl='1h' cannot come after one with "
                    "ttl='5m' (longer TTLs must come first)"
                )
            seen_5m = seen_5m or ttl == "5m"
        return None

    def _forget(self) -> None:
        self._entries.clear()

    def _account(self, body: dict[str, Any], model: str, now: float) -> CacheEvent:
        blocks = _anthropic_blocks(body)
        ends = running_totals([count_tokens(text) for _, text, _ in blocks])
        digests = prefix_hashes(model, [f"{section}:{text}" for section, text, _ in blocks])
        minimum = self.min_tokens_for(model)
        marks = tuple(
            Mark(i, str(mark.get("ttl", "5m")), ends[i], ends[i] >= minimum)
            for i, (_, _, mark) in enumerate(blocks)
            if isinstance(mark, dict)
        )
        self._entries = {k: e for k, e in self._entries.items() if e.expires > now}
        hit = -1
        for mark in marks:  # the mark's own block, then up to `lookback` blocks before it
            for at in range(mark.block, max(hit, mark.block - self.lookback - 1), -1):
                if digests[at] in self._entries:
                    hit = at
                    break
        read = ends[hit] if hit >= 0 else 0
        if hit >= 0:
            entry = self._entries[digests[hit]]
            entry.expires = now + entry.ttl  # a read refreshes the entry
        written = [m for m in marks if m.block > hit and m.cacheable]
        for m in written:
            self._entries[digests[m.block]] = Entry(_TTLS[m.ttl], now + _TTLS[m.ttl])
        write = written[-1].tokens - read if written else 0
        last_1h = [m for m in written if m.ttl == "1h"]
        write_1h = last_1h[-1].tokens - read if last_1h else 0
        total = ends[-1] if ends else 0
        return CacheEvent(self.provider, model, total, read, write, write_1h, marks, at=now)

    def usage(self, event: CacheEvent, output_tokens: int) -> dict[str, Any]:
        return {
            "input_tokens": event.prompt_tokens - event.read_tokens - event.write_tokens,
            "cache_creation_input_tokens": event.write_tokens,
            "cache_read_input_tokens": event.read_tokens,
            "cache_creation": {
                "ephemeral_5m_input_tokens": event.write_tokens - event.write_1h_tokens,
                "ephemeral_1h_input_tokens": event.write_1h_tokens,
            },
            "output_tokens": output_tokens,
        }
