"""Streams read either way: plain bodies through httpx's byte stream, encoded ones
through ``aiter_bytes`` (which undoes the encoding). Every provider, same answer."""

from __future__ import annotations

import gc
import weakref

import httpx
import pytest

from tests.integration.provider_checks import request as chat_request
from tests.integration.provider_checks import run
from tests.integration.servers import Behaviour, LoopbackServer, make_provider

KINDS = ["openai", "anthropic", "gemini", "ollama"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("gzip", [False, True], ids=["identity", "gzip"])
async def test_a_gzip_stream_reads_like_a_plain_one(
    kind: str, gzip: bool, request: pytest.FixtureRequest, http_client: httpx.AsyncClient
) -> None:
    server: LoopbackServer = request.getfixturevalue(f"{kind}_server")
    server.queue(Behaviour(text="one two three four five", gzip=gzip))
    reply = await run(make_provider(kind, server, http_client), chat_request(), True)
    assert reply.text == "one two three four five"
    assert reply.usage is not None and reply.usage.output_tokens > 0
    assert not reply.estimated
    assert reply.deltas >= 1
    recorded = server.requests[-1].headers
    assert "gzip" in recorded.get("accept-encoding", "")  # httpx offered it; we used it


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("stream", [True, False], ids=["stream", "plain"])
async def test_a_finished_reply_is_freed_without_the_cycle_collector(
    kind: str, stream: bool, request: pytest.FixtureRequest, http_client: httpx.AsyncClient
) -> None:
    """httpx leaves a closed response in a reference cycle with its bound stream; the
    provider breaks it, so a finished reply (request, headers, transport streams) goes
    when its last reference does rather than at the next garbage collection (which,
    with thousands of them waiting in a busy gateway, took 5-50 ms each)."""
    server: LoopbackServer = request.getfixturevalue(f"{kind}_server")
    server.queue(Behaviour(text="one two three"))
    seen: list[weakref.ref[httpx.Response]] = []

    async def keep(response: httpx.Response) -> None:
        seen.append(weakref.ref(response))

    http_client.event_hooks["response"] = [keep]
    gc.collect()
    gc.disable()
    try:
        reply = await run(make_provider(kind, server, http_client), chat_request(), stream)
        assert reply.text == "one two three"
        assert len(seen) == 1
        assert seen[0]() is None
    finally:
        gc.enable()
