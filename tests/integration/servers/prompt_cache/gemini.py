"""Gemini's implicit prompt cache: a repeated prefix (tools → system instruction →
contents) of at least the model's minimum, seen within the TTL, at block edges."""

from __future__ import annotations

from typing import Any, ClassVar

from tests.integration.servers.prompt_cache._shared import (
    CacheEvent,
    Clock,
    Entry,
    PromptCacheEmulator,
    canonical,
    count_tokens,
    prefix_hashes,
    running_totals,
)

__all__ = ["GeminiCache", "gemini_min_tokens"]


def gemini_min_tokens(model: str) -> int:
    """The shortest prefix Gemini caches implicitly: 4,096 on Pro models, else 1,024."""
    return 4096 if "-pro" in model.lower() else 1024


def _gemini_blocks(body: dict[str, Any]) -> list[tuple[str, str]]:
    """(section, text) of each block: tools (one per declaration), system instruction
    parts, then content parts (a content's first part carries its role in its text)."""
    out = []
    for tool in body.get("tools") or []:
        declarations = tool.get("functionDeclarations") if isinstance(tool, dict) else None
        for item in declarations if isinstance(declarations, list) else [tool]:
            out.append(("tool", canonical(item)))
    system = body.get("systemInstruction")
    for part in (system.get("parts") or []) if isinstance(system, dict) else []:
        out.append(("system", _part_text(part)))
    for content in body.get("contents") or []:
        parts = content.get("parts") if isinstance(content, dict) else None
        for n, part in enumerate(parts if isinstance(parts, list) else []):
            head = f"\n\n{content.get('role', 'user')}: " if n == 0 else ""
            out.append(("content", head + _part_text(part)))
    return out


def _part_text(part: Any) -> str:
    if isinstance(part, dict) and set(part) == {"text"}:
        return str(part["text"])
    return canonical(part)


class GeminiCache(PromptCacheEmulator):
    """Gemini's implicit cache (see the module docstring); ``min_tokens`` replaces
    :func:`gemini_min_tokens` for every model."""

    provider: ClassVar[str] = "gemini"

    def __init__(
        self,
        *,
        min_tokens: int | None = None,
        ttl_seconds: float = 300.0,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(clock)
        self.min_tokens = min_tokens
        self.ttl_seconds = ttl_seconds
        self._entries: dict[bytes, Entry] = {}

    def min_tokens_for(self, model: str) -> int:
        return gemini_min_tokens(model) if self.min_tokens is None else self.min_tokens

    def _forget(self) -> None:
        self._entries.clear()

    def _account(self, body: dict[str, Any], model: str, now: float) -> CacheEvent:
        blocks = _gemini_blocks(body)
        ends = running_totals([count_tokens(text) for _, text in blocks])
        digests = prefix_hashes(model, [f"{section}:{text}" for section, text in blocks])
        minimum = self.min_tokens_for(model)
        self._entries = {k: e for k, e in self._entries.items() if e.expires > now}
        read = max((ends[i] for i, d in enumerate(digests) if d in self._entries), default=0)
        for i, digest in enumerate(digests):  # every long-enough prefix, seen just now
            if ends[i] >= minimum:
                self._entries[digest] = Entry(self.ttl_seconds, now + self.ttl_seconds, ends[i])
        total = ends[-1] if ends else 0
        return CacheEvent(self.provider, model, total, read, at=now)

    def usage(self, event: CacheEvent, output_tokens: int) -> dict[str, Any]:
        out: dict[str, Any] = {
            "promptTokenCount": event.prompt_tokens,
            "candidatesTokenCount": output_tokens,
            "totalTokenCount": event.prompt_tokens + output_tokens,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": event.prompt_tokens}],
        }
        if event.read_tokens:  # the API leaves the cache fields out when nothing was cached
            out["cachedContentTokenCount"] = event.read_tokens
            out["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": event.read_tokens}]
        return out
