"""OpenAI's automatic prompt cache: prompts of 1,024 tokens and more, hits in 128-token
steps, kept apart by model and ``prompt_cache_key``, gone after 5 minutes unused."""

from __future__ import annotations

from typing import Any, ClassVar

from tests.integration.servers.prompt_cache._shared import (
    CacheEvent,
    Clock,
    PromptCacheEmulator,
    canonical,
    token_ids,
)

__all__ = ["OpenAICache"]


def _openai_prompt(body: dict[str, Any]) -> list[int]:
    """The prompt's tokens in cache order: tools, then messages (Chat Completions) or
    instructions and input (Responses)."""
    pieces = [canonical(tool) for tool in body.get("tools") or []]
    if isinstance(body.get("instructions"), str):
        pieces.append("<instructions>\n" + body["instructions"])
    items = body.get("messages") or body.get("input") or []
    for message in [items] if isinstance(items, str) else items:
        if not isinstance(message, dict):
            pieces.append(str(message))
            continue
        content = message.get("content")
        text = content if isinstance(content, str) else canonical(content)
        rest = {k: v for k, v in message.items() if k not in ("role", "content")}
        pieces.append(f"<{message.get('role')}>\n{text}" + (canonical(rest) if rest else ""))
    out: list[int] = []
    for piece in pieces:
        out += token_ids(piece)
    return out


def _shared(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    """Length of the common prefix of two token sequences."""
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:  # slice comparisons run in C; a binary search keeps them few
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


class OpenAICache(PromptCacheEmulator):
    """OpenAI's automatic prompt cache (see the module docstring)."""

    provider: ClassVar[str] = "openai"

    def __init__(
        self,
        *,
        min_tokens: int = 1024,
        increment: int = 128,
        ttl_seconds: float = 300.0,
        max_entries: int = 256,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(clock)
        self.min_tokens = min_tokens
        self.increment = increment
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        #: (model, prompt_cache_key) → cached prompts → when each was last used.
        self._entries: dict[tuple[str, str | None], dict[tuple[int, ...], float]] = {}

    def _forget(self) -> None:
        self._entries.clear()

    def _account(self, body: dict[str, Any], model: str, now: float) -> CacheEvent:
        prompt = tuple(_openai_prompt(body))
        key = body.get("prompt_cache_key")
        key = key if isinstance(key, str) else None
        entries = self._entries.setdefault((model, key), {})
        for old in [p for p, used in entries.items() if now - used >= self.ttl_seconds]:
            del entries[old]
        best, shared = None, 0
        for cached in entries:
            n = _shared(cached, prompt)
            if n > shared:
                best, shared = cached, n
        read = 0
        if best is not None and shared >= self.min_tokens:
            read = shared - (shared - self.min_tokens) % self.increment
            entries[best] = now
        if len(prompt) >= self.min_tokens:
            entries[prompt] = now
            while len(entries) > self.max_entries:
                del entries[min(entries, key=entries.__getitem__)]
        return CacheEvent(self.provider, model, len(prompt), read, cache_key=key, at=now)

    def usage(self, event: CacheEvent, output_tokens: int) -> dict[str, Any]:
        return {
            "prompt_tokens": event.prompt_tokens,
            "completion_tokens": output_tokens,
            "total_tokens": event.prompt_tokens + output_tokens,
            "prompt_tokens_details": {"cached_tokens": event.read_tokens, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        }

    def responses_usage(self, event: CacheEvent, output_tokens: int) -> dict[str, Any]:
        """The same numbers in the Responses API's shape."""
        return {
            "input_tokens": event.prompt_tokens,
            "input_tokens_details": {"cached_tokens": event.read_tokens},
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": event.prompt_tokens + output_tokens,
        }
