"""The Gemini provider against a loopback Gemini API server."""

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

KIND = "gemini"
BOTH = pytest.mark.parametrize("stream", [True, False], ids=["stream", "complete"])

THINKING_USAGE = {
    "promptTokenCount": 1000,
    "candidatesTokenCount": 100,
    "cachedContentTokenCount": 600,
    "thoughtsTokenCount": 250,
    "totalTokenCount": 1350,
}
#: Thoughts are billed as output but not counted in candidatesTokenCount.
THINKING_NORMALISED = Usage(
    input_tokens=1000, output_tokens=350, cached_input_tokens=600, reasoning_tokens=250
)


@BOTH
async def test_text_and_usage_are_normalised(
    gemini_server: LoopbackServer, http_client: httpx.AsyncClient, stream: bool
) -> None:
    gemini_server.queue(
        Behaviour(text="Thought it through.", thinking="hmm…", usage=THINKING_USAGE)
    )
    reply = await run(make_provider(KIND, gemini_server, http_client), request(), stream)
    assert reply.text == "Thought it through."  # the thought part is not text
    # Each stream chunk repeats usageMetadata; only the last counts.
    assert reply.usage == THINKING_NORMALISED
    assert (reply.estimated, reply.finish) == (False, "stop")


@BOTH
async def test_wire_format(
    gemini_server: LoopbackServer, http_client: httpx.AsyncClient, stream: bool
) -> None:
    messages = (
        Message("system", "Be brief."),
        Message("user", "Hi."),
        Message("assistant", "Hello."),
        Message("user", "Again."),
    )
    provider = make_provider(KIND, gemini_server, http_client)
    await run(
        provider,
        request(model="gemini-2.5-flash", max_tokens=99, temperature=0.0, messages=messages),
        stream,
    )
    sent = gemini_server.last
    if stream:
        assert sent.path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
        assert sent.query == {"alt": ["sse"]}
    else:
        assert sent.path == "/v1beta/models/gemini-2.5-flash:generateContent"
        assert sent.query == {}
    assert sent.headers["x-goog-api-key"] == TEST_KEY
    assert "key" not in sent.query and "authorization" not in sent.headers
    assert sent.json == {
        "contents": [
            {"role": "user", "parts": [{"text": "Hi."}]},
            {"role": "model", "parts": [{"text": "Hello."}]},
            {"role": "user", "parts": [{"text": "Again."}]},
        ],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {"maxOutputTokens": 99, "temperature": 0.0},
    }


async def test_list_models_follows_pages_and_strips_prefix(
    gemini_server: LoopbackServer, http_client: httpx.AsyncClient
) -> None:
    gemini_server.models = ["gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.0-flash"]
    gemini_server.page_size = 2
    models = await make_provider(KIND, gemini_server, http_client).list_models()
    assert models == ["gemini-2.0-flash", "gemini-2.5-flash", "gemini-2.5-pro"]
    pages = [r for r in gemini_server.requests if r.path == "/v1beta/models"]
    assert len(pages) == 2 and pages[1].query["pageToken"] == ["2"]


@pytest.mark.parametrize(("fault", "stream"), fault_params())
async def test_faults(
    gemini_server: LoopbackServer, http_client: httpx.AsyncClient, fault: Fault, stream: bool
) -> None:
    await check_fault(KIND, gemini_server, http_client, fault, stream)


@BOTH
async def test_rejected_key(
    gemini_server: LoopbackServer, http_client: httpx.AsyncClient, stream: bool
) -> None:
    await check_rejected_key(KIND, gemini_server, http_client, "GEMINI_API_KEY", stream)


@BOTH
async def test_invalid_key_answered_with_400(
    gemini_server: LoopbackServer, http_client: httpx.AsyncClient, stream: bool
) -> None:
    gemini_server.queue(
        Behaviour(status=400, error="API key not valid. Please pass a valid API key.")
    )
    with pytest.raises(AuthenticationError, match="the key was rejected by gemini"):
        await run(make_provider(KIND, gemini_server, http_client), request(), stream)


@BOTH
async def test_input_too_long(
    gemini_server: LoopbackServer, http_client: httpx.AsyncClient, stream: bool
) -> None:
    error = (
        "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576)."
    )
    gemini_server.queue(Behaviour(status=400, error=error))
    with pytest.raises(ProviderContextLengthError):
        await run(make_provider(KIND, gemini_server, http_client), request(), stream)


@BOTH
@pytest.mark.parametrize(
    ("raw", "mapped"), [("MAX_TOKENS", "length"), ("STOP", "stop"), ("SAFETY", "content_filter")]
)
async def test_finish_reasons(
    gemini_server: LoopbackServer,
    http_client: httpx.AsyncClient,
    stream: bool,
    raw: str,
    mapped: str,
) -> None:
    gemini_server.queue(Behaviour(text="some text", finish=raw))
    reply = await run(make_provider(KIND, gemini_server, http_client), request(), stream)
    assert (reply.text, reply.finish) == ("some text", mapped)


@BOTH
@pytest.mark.parametrize("raw", ["SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT"])
async def test_filtered_without_text(
    gemini_server: LoopbackServer, http_client: httpx.AsyncClient, stream: bool, raw: str
) -> None:
    gemini_server.queue(Behaviour(text="", finish=raw))
    with pytest.raises(ContentFilteredError):
        await run(make_provider(KIND, gemini_server, http_client), request(), stream)


@BOTH
async def test_blocked_prompt(
    gemini_server: LoopbackServer, http_client: httpx.AsyncClient, stream: bool
) -> None:
    blocked = {
        "promptFeedback": {"blockReason": "SAFETY"},
        "usageMetadata": {"promptTokenCount": 9},
    }
    data = json.dumps(blocked).encode()
    gemini_server.queue(Behaviour(body=data, frames=[b"data: " + data + b"\r\n\r\n"]))
    with pytest.raises(ContentFilteredError, match="blocked the prompt"):
        await run(make_provider(KIND, gemini_server, http_client), request(), stream)


@pytest.mark.parametrize(
    ("status", "cls"), [("RESOURCE_EXHAUSTED", RateLimitError), ("UNAVAILABLE", OverloadedError)]
)
async def test_error_chunk_mid_stream(
    gemini_server: LoopbackServer, http_client: httpx.AsyncClient, status: str, cls: type
) -> None:
    frame = (
        b"data: "
        + json.dumps({"error": {"code": 503, "message": "later", "status": status}}).encode()
    )
    gemini_server.queue(Behaviour(text="a b c", inject=[(1, frame + b"\r\n\r\n")]))
    with pytest.raises(cls, match="later"):
        await run(make_provider(KIND, gemini_server, http_client), request(), True)


@BOTH
async def test_missing_usage_is_estimated(
    gemini_server: LoopbackServer, http_client: httpx.AsyncClient, stream: bool
) -> None:
    gemini_server.queue(Behaviour(text="abcdefghi", usage=None))
    reply = await run(make_provider(KIND, gemini_server, http_client), request(), stream)
    assert reply.estimated is True
    assert reply.usage == Usage(input_tokens=6, output_tokens=3)


async def test_stream_without_finish_reason_is_truncated(
    gemini_server: LoopbackServer, http_client: httpx.AsyncClient
) -> None:
    gemini_server.queue(Behaviour(text="a b c", frames=[b'data: {"candidates": []}\r\n\r\n']))
    with pytest.raises(MalformedResponseError, match="finishReason"):
        await run(make_provider(KIND, gemini_server, http_client), request(), True)


@BOTH
async def test_sampling_settings_are_sent(
    gemini_server: LoopbackServer, http_client: httpx.AsyncClient, stream: bool
) -> None:
    provider = make_provider(KIND, gemini_server, http_client)
    sampling = Sampling(top_p=0.3, stop=("END",), seed=42)
    await run(provider, request(model="gemini-2.5-flash", sampling=sampling), stream)
    config = gemini_server.last.json["generationConfig"]
    assert (config["topP"], config["stopSequences"], config["seed"]) == (0.3, ["END"], 42)


@BOTH
async def test_json_output_is_asked_for(
    gemini_server: LoopbackServer, http_client: httpx.AsyncClient, stream: bool
) -> None:
    provider = make_provider(KIND, gemini_server, http_client)
    fmt = ResponseFormat(schema={"type": "object"}, name="entry", strict=True)
    await run(provider, request(model="gemini-2.5-flash", response_format=fmt), stream)
    config = gemini_server.last.json["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseSchema"] == {"type": "object"}
