"""Pytest fixtures: one loopback server per provider and a loopback-only client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from core.config import ProviderConfig
from core.providers._pool import LeanTransport
from core.providers.base import Provider, load_provider_class
from core.types import Secret
from tests.integration.servers._base import LoopbackServer, serve
from tests.integration.servers.dialects import (
    AnthropicDialect,
    GeminiDialect,
    OllamaDialect,
    OpenAIDialect,
)

__all__ = [
    "TEST_KEY",
    "anthropic_server",
    "gemini_server",
    "http_client",
    "make_provider",
    "ollama_server",
    "openai_server",
]

#: A recognisable fake key: tests assert it never appears in error messages.
TEST_KEY = "sk-test-DO-NOT-LEAK-0123456789"


def make_provider(
    kind: str,
    server: LoopbackServer,
    client: httpx.AsyncClient,
    key: str | None = TEST_KEY,
    **settings: Any,
) -> Provider:
    """A provider of ``kind`` pointed at ``server`` (short timeouts unless overridden)."""
    config = ProviderConfig(
        kind=kind,
        base_url=server.base_url,
        timeout_seconds=settings.pop("timeout_seconds", 5.0),
        connect_timeout_seconds=settings.pop("connect_timeout_seconds", 2.0),
        **settings,
    )
    cls = load_provider_class(kind)
    return cls(kind, config, client, Secret(key) if key is not None else None)


@pytest.fixture(params=["httpx-pool", "lean-pool"])
async def http_client(request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    """Every provider test runs over httpx's own transport and over the lean pool the
    engine uses (core/providers/_pool.py), so each fault is seen through both."""
    transport = LeanTransport(trust_env=False) if request.param == "lean-pool" else None
    async with httpx.AsyncClient(trust_env=False, transport=transport) as client:
        yield client


@pytest.fixture
def openai_server() -> Iterator[LoopbackServer]:
    with serve(OpenAIDialect(), "/v1") as server:
        yield server


@pytest.fixture
def anthropic_server() -> Iterator[LoopbackServer]:
    with serve(AnthropicDialect()) as server:
        yield server


@pytest.fixture
def gemini_server() -> Iterator[LoopbackServer]:
    with serve(GeminiDialect(), "/v1beta") as server:
        yield server


@pytest.fixture
def ollama_server() -> Iterator[LoopbackServer]:
    with serve(OllamaDialect()) as server:
        yield server
