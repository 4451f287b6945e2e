"""The Ollama provider against a loopback Ollama server (NDJSON streams)."""

from __future__ import annotations

import httpx
import pytest

from core.errors import BadRequestError, MalformedResponseError, ProviderError
from core.types import ResponseFormat, Sampling, Usage
from tests.integration.provider_checks import (
    Fault,
    check_fault,
    check_rejected_key,
    fault_params,
    request,
    run,
)
from tests.integration.servers import Behaviour, LoopbackServer, make_provider

KIND = "ollama"
BOTH = pytest.mark.parametrize("stream", [True, False], ids=["stream", "complete"])
# Ollama's stream is NDJSON, so SSE truncation does not apply; a cut-off last line does.
OLLAMA_FAULTS = [p for p in fault_params() if "truncated_event" not in p.id]


@BOTH
async def test_text_and_usage(
    ollama_server: LoopbackServer, http_client: httpx.AsyncClient, stream: bool
) -> None:
    ollama_server.queue(
        Behaviour(
            text="Local reply.",
            thinking="pondering",
            usage={"prompt_eval_count": 31, "eval_count": 9},
        )
    )
    reply = await run(make_provider(KIND, ollama_server, http_client, key=None), request(), stream)
    assert reply.text == "Local reply."  # "thinking" is not text
    assert reply.usage == Usage(input_tokens=31, output_tokens=9)
    assert (reply.estimated, reply.finish) == (False, "stop")


@BOTH
async def test_wire_format(
    ollama_server: LoopbackServer, http_client: httpx.AsyncClient, stream: bool
) -> None:
    provider = make_provider(KIND, ollama_server, http_client, key=None)
    await run(provider, request(model="llama3.2", max_tokens=64, temperature=0.7), stream)
    sent = ollama_server.last
    assert (sent.method, sent.path) == ("POST", "/api/chat")
    assert "authorization" not in sent.headers
    assert sent.json == {
        "model": "llama3.2",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Say hello."},
        ],
        "stream": stream,
        "options": {"num_predict": 64, "temperature": 0.7},
    }


async def test_list_models(ollama_server: LoopbackServer, http_client: httpx.AsyncClient) -> None:
    ollama_server.models = ["qwen3:8b", "llama3.2:latest"]
    models = await make_provider(KIND, ollama_server, http_client, key=None).list_models()
    assert models == ["llama3.2:latest", "qwen3:8b"]
    assert ollama_server.last.path == "/api/tags"


@pytest.mark.parametrize(("fault", "stream"), OLLAMA_FAULTS)
async def test_faults(
    ollama_server: LoopbackServer, http_client: httpx.AsyncClient, fault: Fault, stream: bool
) -> None:
    await check_fault(KIND, ollama_server, http_client, fault, stream)


@BOTH
async def test_length_limit(
    ollama_server: LoopbackServer, http_client: httpx.AsyncClient, stream: bool
) -> None:
    ollama_server.queue(Behaviour(text="cut short", finish="length"))
    reply = await run(make_provider(KIND, ollama_server, http_client, key=None), request(), stream)
    assert reply.finish == "length"


@BOTH
async def test_unknown_model(
    ollama_server: LoopbackServer, http_client: httpx.AsyncClient, stream: bool
) -> None:
    ollama_server.queue(Behaviour(status=404, error="model 'nope' not found"))
    with pytest.raises(BadRequestError, match="model 'nope' not found"):
        await run(make_provider(KIND, ollama_server, http_client, key=None), request(), stream)


async def test_error_line_mid_stream(
    ollama_server: LoopbackServer, http_client: httpx.AsyncClient
) -> None:
    ollama_server.queue(Behaviour(text="a b c", inject=[(2, b'{"error": "GPU fell over"}\n')]))
    with pytest.raises(ProviderError, match="GPU fell over") as info:
        await run(make_provider(KIND, ollama_server, http_client, key=None), request(), True)
    assert info.value.provider == "ollama"


async def test_cut_off_last_line(
    ollama_server: LoopbackServer, http_client: httpx.AsyncClient
) -> None:
    ollama_server.queue(Behaviour(text="a b c", truncate_after=2))
    with pytest.raises(MalformedResponseError):
        await run(make_provider(KIND, ollama_server, http_client, key=None), request(), True)


@BOTH
async def test_prompt_count_left_out_is_estimated(
    ollama_server: LoopbackServer, http_client: httpx.AsyncClient, stream: bool
) -> None:
    # Ollama leaves prompt_eval_count out when the prompt came from its cache.
    ollama_server.queue(Behaviour(text="ok", usage={"eval_count": 4}))
    reply = await run(make_provider(KIND, ollama_server, http_client, key=None), request(), stream)
    assert reply.estimated is True
    assert reply.usage == Usage(input_tokens=6, output_tokens=4)


@BOTH
async def test_missing_usage_is_estimated(
    ollama_server: LoopbackServer, http_client: httpx.AsyncClient, stream: bool
) -> None:
    ollama_server.queue(Behaviour(text="12345", usage=None))
    reply = await run(make_provider(KIND, ollama_server, http_client, key=None), request(), stream)
    assert reply.estimated is True
    assert reply.usage == Usage(input_tokens=6, output_tokens=2)


async def test_rejected_key_behind_an_auth_proxy(
    ollama_server: LoopbackServer, http_client: httpx.AsyncClient
) -> None:
    await check_rejected_key(KIND, ollama_server, http_client, None, True)
    assert ollama_server.last.headers["authorization"].startswith("Bearer ")


@BOTH
async def test_sampling_settings_are_sent(
    ollama_server: LoopbackServer, http_client: httpx.AsyncClient, stream: bool
) -> None:
    provider = make_provider(KIND, ollama_server, http_client, key=None)
    sampling = Sampling(top_p=0.3, stop=("END",), seed=42)
    await run(provider, request(model="llama3.2", sampling=sampling), stream)
    options = ollama_server.last.json["options"]
    assert (options["top_p"], options["stop"], options["seed"]) == (0.3, ["END"], 42)


@BOTH
async def test_json_output_is_asked_for(
    ollama_server: LoopbackServer, http_client: httpx.AsyncClient, stream: bool
) -> None:
    provider = make_provider(KIND, ollama_server, http_client, key=None)
    fmt = ResponseFormat(schema={"type": "object"}, name="entry", strict=True)
    await run(provider, request(model="llama3.2", response_format=fmt), stream)
    assert ollama_server.last.json["format"] == {"type": "object"}
    await run(provider, request(model="llama3.2", response_format=ResponseFormat()), stream)
    assert ollama_server.last.json["format"] == "json"
