"""The Anthropic provider against a loopback Messages API server."""

from __future__ import annotations

import json

import httpx
import pytest

from core.errors import (
    AuthenticationError,
    ContentFilteredError,
    MalformedResponseError,
    OverloadedError,
    ProviderContextLengthError,
    RateLimitError,
)
from core.types import Message, Sampling, Usage
from tests.integration.provider_checks import (
    Fault,
    check_fault,
    check_rejected_key,
    fault_params,
    request,
    run,
)
from tests.integration.servers import Behaviour, LoopbackServer, make_provider
from tests.integration.servers.fixtures import TEST_KEY

KIND = "anthropic"
BOTH = pytest.mark.parametrize("stream", [True, False], ids=["stream", "complete"])

CACHE_USAGE = {
    "input_tokens": 100,
    "cache_creation_input_tokens": 2000,
    "cache_read_input_tokens": 5000,
    "output_tokens": 300,
}
#: Input is reported *without* cache reads/writes; normalised input adds them back.
CACHE_NORMALISED = Usage(
    input_tokens=7100, output_tokens=300, cached_input_tokens=5000, cache_write_tokens=2000
)


def _event(name: str, obj: object) -> bytes:
    return f"event: {name}\ndata: {json.dumps(obj)}\n\n".encode()


@BOTH
async def test_text_and_cache_usage_are_normalised(
    anthropic_server: LoopbackServer, http_client: httpx.AsyncClient, stream: bool
) -> None:
    anthropic_server.queue(Behaviour(text="Cached answer here.", usage=CACHE_USAGE))
    reply = await run(make_provider(KIND, anthropic_server, http_client), request(), stream)
    assert reply.text == "Cached answer here."
    # The stream's message_start says output_tokens=1, message_delta says 300 (cumulative).
    assert reply.usage == CACHE_NORMALISED
    assert (reply.estimated, reply.finish) == (False, "stop")


async def test_output_tokens_are_cumulative_not_summed(
    anthropic_server: LoopbackServer, http_client: httpx.AsyncClient
) -> None:
    early = _event(
        "message_delta", {"type": "message_delta", "delta": {}, "usage": {"output_tokens": 120}}
    )
    anthropic_server.queue(Behaviour(text="a b c", usage=CACHE_USAGE, inject=[(4, early)]))
    reply = await run(make_provider(KIND, anthropic_server, http_client), request(), True)
    assert reply.usage is not None and reply.usage.output_tokens == 300


@BOTH
async def test_wire_format(
    anthropic_server: LoopbackServer, http_client: httpx.AsyncClient, stream: bool
) -> None:
    messages = (
        Message("system", "Be brief."),
        Message("system", "Be kind."),
        Message("user", "Hi."),
        Message("user", "Say hello."),
        Message("assistant", "Hello."),
        Message("user", "Again."),
    )
    provider = make_provider(KIND, anthropic_server, http_client)
    await run(provider, request(max_tokens=222, temperature=0.5, messages=messages), stream)
    sent = anthropic_server.last
    assert (sent.method, sent.path) == ("POST", "/v1/messages")
    assert sent.headers["x-api-key"] == TEST_KEY
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in sent.headers
    body = sent.json
    assert body["max_tokens"] == 222 and body["temperature"] == 0.5 and body["model"] == "m-1"
    assert body["system"] == "Be brief.\n\nBe kind."
    assert body["messages"] == [
        {"role": "user", "content": "Hi.\n\nSay hello."},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "Again."},
    ]
    assert body.get("stream", False) is stream


@BOTH
async def test_thinking_is_not_text(
    anthropic_server: LoopbackServer, http_client: httpx.AsyncClient, stream: bool
) -> None:
    anthropic_server.queue(Behaviour(text="Answer.", thinking="Let me think hard."))
    reply = await run(make_provider(KIND, anthropic_server, http_client), request(), stream)
    assert reply.text == "Answer."


async def test_ping_events_and_keepalives_are_ignored(
    anthropic_server: LoopbackServer, http_client: httpx.AsyncClient
) -> None:
    anthropic_server.queue(
        Behaviour(text="one two three", pings=True, keepalive=True, usage=CACHE_USAGE)
    )
    reply = await run(make_provider(KIND, anthropic_server, http_client), request(), True)
    assert reply.text == "one two three" and reply.usage == CACHE_NORMALISED


async def test_list_models_follows_pages(
    anthropic_server: LoopbackServer, http_client: httpx.AsyncClient
) -> None:
    anthropic_server.models = ["claude-a", "claude-b", "claude-c", "claude-d", "claude-e"]
    anthropic_server.page_size = 2
    models = await make_provider(KIND, anthropic_server, http_client).list_models()
    assert models == ["claude-a", "claude-b", "claude-c", "claude-d", "claude-e"]
    pages = [r for r in anthropic_server.requests if r.path == "/v1/models"]
    assert len(pages) == 3
    assert pages[1].query["after_id"] == ["claude-b"]
    assert all(p.headers["x-api-key"] == TEST_KEY for p in pages)


@pytest.mark.parametrize(("fault", "stream"), fault_params())
async def test_faults(
    anthropic_server: LoopbackServer, http_client: httpx.AsyncClient, fault: Fault, stream: bool
) -> None:
    await check_fault(KIND, anthropic_server, http_client, fault, stream)


@BOTH
async def test_rejected_key(
    anthropic_server: LoopbackServer, http_client: httpx.AsyncClient, stream: bool
) -> None:
    await check_rejected_key(KIND, anthropic_server, http_client, "ANTHROPIC_API_KEY", stream)


@BOTH
async def test_overloaded_error_type_with_any_status(
    anthropic_server: LoopbackServer, http_client: httpx.AsyncClient, stream: bool
) -> None:
    anthropic_server.queue(Behaviour(status=400, error_type="overloaded_error", error="Overloaded"))
    with pytest.raises(OverloadedError, match="Overloaded"):
        await run(make_provider(KIND, anthropic_server, http_client), request(), stream)


@BOTH
async def test_prompt_too_long(
    anthropic_server: LoopbackServer, http_client: httpx.AsyncClient, stream: bool
) -> None:
    anthropic_server.queue(
        Behaviour(status=400, error="prompt is too long: 210000 tokens > 200000 maximum")
    )
    with pytest.raises(ProviderContextLengthError):
        await run(make_provider(KIND, anthropic_server, http_client), request(), stream)


@pytest.mark.parametrize(
    ("kind", "cls"),
    [
        ("overloaded_error", OverloadedError),
        ("rate_limit_error", RateLimitError),
        ("api_error", OverloadedError),
        ("authentication_error", AuthenticationError),
    ],
)
async def test_error_event_mid_stream(
    anthropic_server: LoopbackServer, http_client: httpx.AsyncClient, kind: str, cls: type
) -> None:
    frame = _event(
        "error", {"type": "error", "error": {"type": kind, "message": "mid-stream trouble"}}
    )
    anthropic_server.queue(Behaviour(text="a b c d", inject=[(4, frame)]))
    with pytest.raises(cls, match="mid-stream trouble") as info:
        await run(make_provider(KIND, anthropic_server, http_client), request(), True)
    assert info.value.request_id == "req-42"


@BOTH
@pytest.mark.parametrize(
    ("raw", "mapped"),
    [
        ("max_tokens", "length"),
        ("stop_sequence", "stop"),
        ("end_turn", "stop"),
        ("tool_use", "tool_calls"),
    ],
)
async def test_stop_reasons(
    anthropic_server: LoopbackServer,
    http_client: httpx.AsyncClient,
    stream: bool,
    raw: str,
    mapped: str,
) -> None:
    anthropic_server.queue(Behaviour(text="cut", finish=raw))
    reply = await run(make_provider(KIND, anthropic_server, http_client), request(), stream)
    assert reply.finish == mapped


@BOTH
async def test_refusal_without_text(
    anthropic_server: LoopbackServer, http_client: httpx.AsyncClient, stream: bool
) -> None:
    anthropic_server.queue(Behaviour(text="", finish="refusal"))
    with pytest.raises(ContentFilteredError):
        await run(make_provider(KIND, anthropic_server, http_client), request(), stream)


@BOTH
async def test_missing_usage_is_estimated(
    anthropic_server: LoopbackServer, http_client: httpx.AsyncClient, stream: bool
) -> None:
    anthropic_server.queue(Behaviour(text="12345678", usage=None))
    reply = await run(make_provider(KIND, anthropic_server, http_client), request(), stream)
    assert reply.estimated is True
    assert reply.usage == Usage(input_tokens=3 + 3, output_tokens=2)


async def test_stream_without_message_stop_is_truncated(
    anthropic_server: LoopbackServer, http_client: httpx.AsyncClient
) -> None:
    anthropic_server.queue(Behaviour(text="a b", truncate_after=5))
    with pytest.raises(MalformedResponseError, match=r"cut off|message_stop"):
        await run(make_provider(KIND, anthropic_server, http_client), request(), True)


@BOTH
async def test_sampling_settings_are_sent(
    anthropic_server: LoopbackServer, http_client: httpx.AsyncClient, stream: bool
) -> None:
    provider = make_provider(KIND, anthropic_server, http_client)
    await run(provider, request(sampling=Sampling(top_p=0.3, stop=("END",))), stream)
    body = anthropic_server.last.json
    assert (body["top_p"], body["stop_sequences"]) == (0.3, ["END"]) and "seed" not in body
    assert "seed" not in provider.sampling_supported  # the call stage refuses it (unit test)
