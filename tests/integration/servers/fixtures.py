"""Pytest fixtures: one loopback server per provider and a loopback-only client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.config import NetworkConfig, ProviderConfig, parse_config
from core.engine import Engine
from core.providers.base import Provider, load_provider_class
from core.providers.client import make_client
from core.types import Secret
from tests.integration.servers._base import LoopbackServer, serve
from tests.integration.servers.dialects import (
    AnthropicDialect,
    GeminiDialect,
    OllamaDialect,
    OpenAIDialect,
)

__all__ = [
    "CLIENTS",
    "TEST_KEY",
    "anthropic_server",
    "gemini_server",
    "http_client",
    "loopback_client",
    "make_provider",
    "ollama_server",
    "one_tier_engine",
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
        # A loopback connect takes microseconds; the margin is for a busy 2-core CI
        # machine running PostgreSQL servers beside the suite (one run timed out at 2 s).
        connect_timeout_seconds=settings.pop("connect_timeout_seconds", 10.0),
        **settings,
    )
    cls = load_provider_class(kind)
    return cls(kind, config, client, Secret(key) if key is not None else None)


def one_tier_engine(base_url: str, data_dir: Path, network: str = "") -> Engine:
    """An engine whose only tier is an openai-compatible provider ``loop`` at
    ``base_url`` (one attempt, cache and quality sampling off), with ``network`` as the
    body of its ``[network]`` section. No client factory: the engine makes its own."""
    text = f"""
[network]
{network}
[cache]
enabled = false
[observability]
quality_sampling_rate = 0
[providers.loop]
kind = "openai-compatible"
base_url = "{base_url}"
max_attempts = 1
[[routing.tiers]]
id = "only"
provider = "loop"
model = "gpt-4o-mini"
max_complexity = 10
"""
    return Engine.open(parse_config(text, "test.toml"), data_dir, warm_tokenizer=False)


#: The clients every provider test runs over: httpx as anyone would make it, and the
#: engine's factory (core/providers/client.py) with each ``[network] transport``.
CLIENTS = ["plain-httpx", "factory-httpx", "factory-aiohttp"]


def loopback_client(kind: str) -> httpx.AsyncClient:
    """A client of ``kind`` (one of :data:`CLIENTS`) that ignores proxy variables."""
    if kind == "plain-httpx":
        return httpx.AsyncClient(trust_env=False)
    transport = kind.removeprefix("factory-")
    return make_client(NetworkConfig(transport=transport), trust_env=False)


@pytest.fixture(params=CLIENTS)
async def http_client(request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    """Every provider test runs over each of :data:`CLIENTS`, so each fault is seen
    through both transports the engine can use."""
    async with loopback_client(request.param) as client:
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
