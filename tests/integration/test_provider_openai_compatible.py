"""The OpenAI-compatible provider (vLLM, llama.cpp, LM Studio…) against a loopback server."""

from __future__ import annotations

import httpx
import pytest

from core.config import ProviderConfig
from core.errors import ConfigError
from core.providers.openai_compatible import OpenAICompatibleProvider
from core.types import Usage
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

KIND = "openai-compatible"
BOTH = pytest.mark.parametrize("stream", [True, False], ids=["stream", "complete"])


def test_base_url_is_required(http_client: httpx.AsyncClient) -> None:
    settings = ProviderConfig(kind="openai-compatible")
    with pytest.raises(ConfigError, match=r"providers\.local-vllm\.base_url") as info:
        OpenAICompatibleProvider("local-vllm", settings, http_client)
    assert info.value.provider == "local-vllm"


@BOTH
async def test_sends_max_tokens_and_no_key(
    openai_server: LoopbackServer, http_client: httpx.AsyncClient, stream: bool
) -> None:
    provider = make_provider(KIND, openai_server, http_client, key=None)
    reply = await run(provider, request(max_tokens=55), stream)
    assert reply.text == "Hello, world!"
    sent = openai_server.last
    assert sent.path == "/v1/chat/completions"
    assert sent.json["max_tokens"] == 55 and "max_completion_tokens" not in sent.json
    assert "authorization" not in sent.headers


async def test_sends_a_key_when_configured(
    openai_server: LoopbackServer, http_client: httpx.AsyncClient
) -> None:
    await run(make_provider(KIND, openai_server, http_client), request(), True)
    assert openai_server.last.headers["authorization"] == f"Bearer {TEST_KEY}"


@BOTH
async def test_usage_when_reported(
    openai_server: LoopbackServer, http_client: httpx.AsyncClient, stream: bool
) -> None:
    openai_server.queue(
        Behaviour(usage={"prompt_tokens": 40, "completion_tokens": 8, "total_tokens": 48})
    )
    reply = await run(make_provider(KIND, openai_server, http_client, key=None), request(), stream)
    assert reply.usage == Usage(input_tokens=40, output_tokens=8) and reply.estimated is False


class _Count:
    def __init__(self, tokens: int) -> None:
        self.tokens = tokens


class _Counter:
    def count_text(self, text: str, model: str) -> _Count:
        return _Count(len(text.split()))

    def count_messages(self, messages: object, model: str) -> _Count:
        return _Count(17)


@BOTH
async def test_server_that_omits_usage(
    openai_server: LoopbackServer, http_client: httpx.AsyncClient, stream: bool
) -> None:
    openai_server.queue(Behaviour(text="one two three four five", usage=None))
    provider = make_provider(KIND, openai_server, http_client, key=None)
    provider.token_counter = _Counter()  # type: ignore[attr-defined]
    reply = await run(provider, request(), stream)
    assert reply.text == "one two three four five"
    assert reply.usage == Usage(input_tokens=17, output_tokens=5) and reply.estimated is True


async def test_stream_that_ends_at_finish_without_done(
    openai_server: LoopbackServer, http_client: httpx.AsyncClient
) -> None:
    frames = [
        b'data: {"choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": null}]}\n\n',
        b'data: {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}\n\n',
    ]
    openai_server.queue(Behaviour(frames=frames))
    reply = await run(make_provider(KIND, openai_server, http_client, key=None), request(), True)
    assert (reply.text, reply.finish, reply.estimated) == ("hi", "stop", True)


async def test_list_models(openai_server: LoopbackServer, http_client: httpx.AsyncClient) -> None:
    openai_server.models = ["Qwen/Qwen3-8B"]
    assert await make_provider(KIND, openai_server, http_client).list_models() == ["Qwen/Qwen3-8B"]


@pytest.mark.parametrize(("fault", "stream"), fault_params())
async def test_faults(
    openai_server: LoopbackServer, http_client: httpx.AsyncClient, fault: Fault, stream: bool
) -> None:
    await check_fault(KIND, openai_server, http_client, fault, stream)


@BOTH
async def test_rejected_key(
    openai_server: LoopbackServer, http_client: httpx.AsyncClient, stream: bool
) -> None:
    await check_rejected_key(KIND, openai_server, http_client, None, stream)
