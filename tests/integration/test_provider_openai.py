"""The OpenAI provider against a loopback Chat Completions server."""

from __future__ import annotations

import math

import httpx
import pytest

from core.errors import (
    BadRequestError,
    ContentFilteredError,
    OverloadedError,
    ProviderContextLengthError,
    RateLimitError,
)
from core.types import Message, ResponseFormat, Sampling, Usage
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

KIND = "openai"
BOTH = pytest.mark.parametrize("stream", [True, False], ids=["stream", "complete"])

RICH_USAGE = {
    "prompt_tokens": 1200,
    "completion_tokens": 300,
    "total_tokens": 1500,
    "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 200, "audio_tokens": 0},
}


@BOTH
async def test_text_and_usage_are_normalised(
    openai_server: LoopbackServer, http_client: httpx.AsyncClient, stream: bool
) -> None:
    # Frames a moment apart, as a model sends them: every transport then hands each one
    # over on its own (aiohttp's joins pieces that arrive together into one read).
    openai_server.queue(Behaviour(text="The quick brown fox.", usage=RICH_USAGE, pace=0.02))
    reply = await run(make_provider(KIND, openai_server, http_client), request(), stream)
    assert reply.text == "The quick brown fox."
    assert reply.usage == Usage(
        input_tokens=1200, output_tokens=300, cached_input_tokens=1024, reasoning_tokens=200
    )
    assert reply.estimated is False
    assert reply.finish == "stop"
    if stream:
        assert reply.deltas == 4


@BOTH
async def test_wire_format(
    openai_server: LoopbackServer, http_client: httpx.AsyncClient, stream: bool
) -> None:
    provider = make_provider(KIND, openai_server, http_client)
    await run(provider, request(max_tokens=321, temperature=0.25), stream)
    sent = openai_server.last
    assert sent.method == "POST" and sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {TEST_KEY}"
    assert sent.headers["content-type"] == "application/json"
    body = sent.json
    assert body["model"] == "m-1"
    assert body["max_completion_tokens"] == 321 and "max_tokens" not in body
    assert body["temperature"] == 0.25
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Say hello."},
    ]
    if stream:
        assert body["stream"] is True
        assert body["stream_options"] == {"include_usage": True}
    else:
        assert "stream" not in body


async def test_list_models(openai_server: LoopbackServer, http_client: httpx.AsyncClient) -> None:
    openai_server.models = ["gpt-4.1-mini", "gpt-4.1", "o4-mini"]
    models = await make_provider(KIND, openai_server, http_client).list_models()
    assert models == ["gpt-4.1", "gpt-4.1-mini", "o4-mini"]
    assert openai_server.last.path == "/v1/models"
    assert openai_server.last.headers["authorization"] == f"Bearer {TEST_KEY}"


@pytest.mark.parametrize(("fault", "stream"), fault_params())
async def test_faults(
    openai_server: LoopbackServer, http_client: httpx.AsyncClient, fault: Fault, stream: bool
) -> None:
    await check_fault(KIND, openai_server, http_client, fault, stream)


@BOTH
async def test_rejected_key(
    openai_server: LoopbackServer, http_client: httpx.AsyncClient, stream: bool
) -> None:
    await check_rejected_key(KIND, openai_server, http_client, "OPENAI_API_KEY", stream)


async def test_rejected_key_on_model_listing(
    openai_server: LoopbackServer, http_client: httpx.AsyncClient
) -> None:
    openai_server.queue(Behaviour(status=401), route="models")
    with pytest.raises(Exception, match="the key was rejected by openai"):
        await make_provider(KIND, openai_server, http_client).list_models()


@BOTH
async def test_error_body_echoing_the_key_is_redacted(
    openai_server: LoopbackServer, http_client: httpx.AsyncClient, stream: bool
) -> None:
    openai_server.queue(Behaviour(status=400, error=f"bad header value {TEST_KEY}"))
    with pytest.raises(BadRequestError) as info:
        await run(make_provider(KIND, openai_server, http_client), request(), stream)
    assert TEST_KEY not in str(info.value)
    assert "bad header value ***" in str(info.value)


@BOTH
async def test_context_length_exceeded(
    openai_server: LoopbackServer, http_client: httpx.AsyncClient, stream: bool
) -> None:
    openai_server.queue(
        Behaviour(
            status=400,
            error="maximum context length is 128000",
            error_type="context_length_exceeded",
        )
    )
    with pytest.raises(ProviderContextLengthError, match="maximum context length"):
        await run(make_provider(KIND, openai_server, http_client), request(), stream)


@BOTH
async def test_content_filter_without_text_is_an_error(
    openai_server: LoopbackServer, http_client: httpx.AsyncClient, stream: bool
) -> None:
    openai_server.queue(Behaviour(text="", finish="content_filter"))
    with pytest.raises(ContentFilteredError):
        await run(make_provider(KIND, openai_server, http_client), request(), stream)


@BOTH
@pytest.mark.parametrize(
    ("raw", "mapped"),
    [("length", "length"), ("content_filter", "content_filter"), ("tool_calls", "tool_calls")],
)
async def test_finish_reasons(
    openai_server: LoopbackServer,
    http_client: httpx.AsyncClient,
    stream: bool,
    raw: str,
    mapped: str,
) -> None:
    openai_server.queue(Behaviour(text="partial answer", finish=raw))
    reply = await run(make_provider(KIND, openai_server, http_client), request(), stream)
    assert (reply.text, reply.finish) == ("partial answer", mapped)


@BOTH
async def test_missing_usage_is_estimated_from_bytes(
    openai_server: LoopbackServer, http_client: httpx.AsyncClient, stream: bool
) -> None:
    openai_server.queue(Behaviour(text="héllo wörld, 12345", usage=None))
    reply = await run(make_provider(KIND, openai_server, http_client), request(), stream)
    prompt = math.ceil(len(b"Be brief.") / 4) + math.ceil(len(b"Say hello.") / 4)
    output = math.ceil(len("héllo wörld, 12345".encode()) / 4)
    assert reply.estimated is True
    assert reply.usage == Usage(input_tokens=prompt, output_tokens=output)


class _Count:
    def __init__(self, tokens: int) -> None:
        self.tokens = tokens


class FakeCounter:
    """Duck-typed like core.accounting.tokens.TokenCounter; records what it was asked to count."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object, str]] = []

    def count_text(self, text: str, model: str) -> _Count:
        self.calls.append(("text", text, model))
        return _Count(1000 + len(text))

    def count_messages(self, messages: tuple[Message, ...], model: str) -> _Count:
        self.calls.append(("messages", messages, model))
        return _Count(2000 + len(messages))


@BOTH
async def test_missing_usage_uses_the_injected_token_counter(
    openai_server: LoopbackServer, http_client: httpx.AsyncClient, stream: bool
) -> None:
    openai_server.queue(Behaviour(text="four", usage=None))
    provider = make_provider(KIND, openai_server, http_client)
    provider.token_counter = counter = FakeCounter()  # type: ignore[attr-defined]
    req = request()
    reply = await run(provider, req, stream)
    assert reply.estimated is True
    assert reply.usage == Usage(input_tokens=2002, output_tokens=1004)
    assert ("text", "four", "m-1") in counter.calls
    assert ("messages", req.messages, "m-1") in counter.calls


async def test_keepalive_comments_are_ignored(
    openai_server: LoopbackServer, http_client: httpx.AsyncClient
) -> None:
    openai_server.queue(Behaviour(text="one two three", keepalive=True, usage=RICH_USAGE))
    reply = await run(make_provider(KIND, openai_server, http_client), request(), True)
    assert reply.text == "one two three" and reply.usage is not None
    assert reply.usage.cached_input_tokens == 1024


@pytest.mark.parametrize(
    ("error", "cls"),
    [
        (
            {"message": "slow down", "type": "rate_limit_error", "code": "rate_limit_exceeded"},
            RateLimitError,
        ),
        ({"message": "boom", "type": "server_error", "code": None}, OverloadedError),
    ],
)
async def test_error_chunk_mid_stream(
    openai_server: LoopbackServer,
    http_client: httpx.AsyncClient,
    error: dict[str, object],
    cls: type,
) -> None:
    import json

    frame = b"data: " + json.dumps({"error": error}).encode() + b"\n\n"
    openai_server.queue(Behaviour(text="a b c d", inject=[(3, frame)]))
    with pytest.raises(cls, match=str(error["message"])):
        await run(make_provider(KIND, openai_server, http_client), request(), True)


async def test_stream_without_done_or_finish_is_truncated(
    openai_server: LoopbackServer, http_client: httpx.AsyncClient
) -> None:
    frames = [
        b'data: {"choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": null}]}\n\n'
    ]
    openai_server.queue(Behaviour(frames=frames))
    with pytest.raises(Exception, match="ended before"):
        await run(make_provider(KIND, openai_server, http_client), request(), True)


async def test_crlf_framing_and_multiline_data(
    openai_server: LoopbackServer, http_client: httpx.AsyncClient
) -> None:
    frames = [
        b": hello\r\n\r\n",
        b'data: {"choices": [{"index": 0,\r\ndata: "delta": {"content": "multi"}, "finish_reason": null}]}\r\n\r\n',
        b'data: {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}\r\r',
        b"data: [DONE]\r\n\r\n",
    ]
    openai_server.queue(Behaviour(frames=frames))
    reply = await run(make_provider(KIND, openai_server, http_client), request(), True)
    assert (reply.text, reply.finish, reply.estimated) == ("multi", "stop", True)


@BOTH
async def test_sampling_settings_are_sent(
    openai_server: LoopbackServer, http_client: httpx.AsyncClient, stream: bool
) -> None:
    provider = make_provider(KIND, openai_server, http_client)
    sampling = Sampling(top_p=0.3, stop=("\n\n", "END"), seed=42)
    await run(provider, request(sampling=sampling), stream)
    body = openai_server.last.json
    assert (body["top_p"], body["stop"], body["seed"]) == (0.3, ["\n\n", "END"], 42)
    await run(provider, request(), stream)
    assert not {"top_p", "stop", "seed"} & set(openai_server.last.json)  # none asked, none sent


@BOTH
async def test_json_output_is_asked_for(
    openai_server: LoopbackServer, http_client: httpx.AsyncClient, stream: bool
) -> None:
    provider = make_provider(KIND, openai_server, http_client)
    fmt = ResponseFormat(schema={"type": "object"}, name="entry", strict=True)
    await run(provider, request(model="m-1", response_format=fmt), stream)
    body = openai_server.last.json
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "entry", "schema": {"type": "object"}, "strict": True},
    }
    await run(provider, request(response_format=ResponseFormat()), stream)
    assert openai_server.last.json["response_format"] == {"type": "json_object"}
