"""Loopback servers with prompt caching on, for tests and benchmarks."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from tests.integration.servers._base import LoopbackServer, serve
from tests.integration.servers.prompt_cache._shared import (
    CacheEvent,
    CacheTotals,
    FakeClock,
    PromptCacheEmulator,
)
from tests.integration.servers.prompt_cache.anthropic import AnthropicCache
from tests.integration.servers.prompt_cache.gemini import GeminiCache
from tests.integration.servers.prompt_cache.openai import OpenAICache

__all__ = ["CachingServers", "caching_servers", "serve_caching"]

#: The base-URL prefix each provider's adapter expects.
_PREFIXES = {"anthropic": "", "openai": "/v1", "gemini": "/v1beta"}
_CACHES: dict[str, type[AnthropicCache | OpenAICache | GeminiCache]] = {
    "anthropic": AnthropicCache,
    "openai": OpenAICache,
    "gemini": GeminiCache,
}


@contextlib.contextmanager
def serve_caching(
    kind: str, cache: PromptCacheEmulator | None = None, **options: Any
) -> Iterator[LoopbackServer]:
    """A loopback server for ``kind`` ("anthropic", "openai" or "gemini") with its
    prompt cache emulated; ``options`` (``clock``, ``min_tokens``, …) build the
    emulator when ``cache`` is not given. Its events: ``server.dialect.prompt_cache``."""
    # Imported here: the dialects import this package for their emulators.
    from tests.integration.servers.dialects import AnthropicDialect, GeminiDialect, OpenAIDialect

    dialects = {"anthropic": AnthropicDialect, "openai": OpenAIDialect, "gemini": GeminiDialect}
    emulator = cache if cache is not None else _CACHES[kind](**options)
    with serve(dialects[kind](prompt_cache=emulator), _PREFIXES[kind]) as server:
        yield server


@dataclass
class CachingServers:
    """One caching loopback server per provider, sharing one clock."""

    #: "anthropic", "openai" and "gemini" → its server.
    servers: dict[str, LoopbackServer]
    #: Moves all three servers' time (``clock.advance(seconds)``).
    clock: FakeClock

    def server(self, kind: str) -> LoopbackServer:
        """The server for ``kind``; ``openai-compatible`` is the OpenAI one."""
        return self.servers["openai" if kind == "openai-compatible" else kind]

    def cache(self, kind: str) -> PromptCacheEmulator:
        """The emulator behind ``kind``'s server (``clear()`` empties its cache)."""
        emulator: PromptCacheEmulator = self.server(kind).dialect.prompt_cache
        return emulator

    def events(self, kind: str) -> list[CacheEvent]:
        """Every request's cache event so far, in arrival order."""
        return list(self.cache(kind).events)

    def totals(self, kind: str, since: int = 0) -> CacheTotals:
        """Token sums over ``kind``'s events from index ``since`` on."""
        return self.cache(kind).totals(since)


@contextlib.contextmanager
def caching_servers(
    clock: FakeClock | None = None, **options: Mapping[str, Any]
) -> Iterator[CachingServers]:
    """Anthropic, OpenAI and Gemini loopback servers with caching on, for a ``with``
    block. ``clock`` (a fresh :class:`FakeClock` unless given) drives all three;
    ``options`` give per-provider emulator settings, e.g.
    ``caching_servers(anthropic={"min_tokens": 2048}, openai={"ttl_seconds": 60})``."""
    clock = clock or FakeClock()
    with contextlib.ExitStack() as stack:
        servers = {
            kind: stack.enter_context(
                serve_caching(kind, cls(clock=clock, **options.get(kind, {})))
            )
            for kind, cls in _CACHES.items()
        }
        yield CachingServers(servers, clock)
