"""A header value with CR, LF or another control character is refused before anything
is sent: a key pasted with its newline must not split the request, and the error names
the provider and the header, never the value (it is the key)."""

from __future__ import annotations

import httpx
import pytest

from core.cache.remote_embedders import OpenAICompatibleEmbedder
from core.errors import UnsafeHeaderError
from core.providers.wire import unsafe_header
from core.types import Secret
from tests.integration.provider_checks import request as chat_request
from tests.integration.provider_checks import run
from tests.integration.servers import LoopbackServer, make_provider

#: (provider kind, the header its key travels in)
KEY_HEADERS = [
    ("openai", "Authorization"),
    ("anthropic", "x-api-key"),
    ("gemini", "x-goog-api-key"),
    ("ollama", "Authorization"),
]
BAD_KEYS = ["sk-smuggle\r\nX-Injected: 1", "sk-newline\n", "sk-nul\x00", "sk-del\x7f"]


@pytest.mark.parametrize(("kind", "header"), KEY_HEADERS)
@pytest.mark.parametrize("stream", [True, False], ids=["stream", "complete"])
async def test_a_key_with_a_line_break_is_refused_before_sending(
    kind: str,
    header: str,
    stream: bool,
    request: pytest.FixtureRequest,
    http_client: httpx.AsyncClient,
) -> None:
    server: LoopbackServer = request.getfixturevalue(f"{kind}_server")
    key = BAD_KEYS[0]
    provider = make_provider(kind, server, http_client, key=key)
    with pytest.raises(UnsafeHeaderError) as info:
        await run(provider, chat_request(), stream)
    message = str(info.value)
    assert kind in message and header in message and "nothing was sent" in message
    assert "sk-smuggle" not in message and "X-Injected" not in message
    assert info.value.provider == kind and info.value.request_id == "req-42"
    assert server.requests == []


async def test_listing_models_refuses_it_too(
    openai_server: LoopbackServer, http_client: httpx.AsyncClient
) -> None:
    provider = make_provider("openai", openai_server, http_client, key="sk-x\r\n")
    with pytest.raises(UnsafeHeaderError, match="Authorization"):
        await provider.list_models()
    assert openai_server.requests == []


async def test_a_remote_embedder_refuses_it_before_sending() -> None:
    sent: list[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        sent.append(req)
        return httpx.Response(500)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        embedder = OpenAICompatibleEmbedder(
            client, "http://127.0.0.1:9/v1", "emb", Secret("sk-emb\r\nX: 1"), dim=4
        )
        with pytest.raises(UnsafeHeaderError, match="Authorization") as info:
            await embedder.aembed(["text"])
    assert "sk-emb" not in str(info.value)
    assert sent == []


@pytest.mark.parametrize("key", BAD_KEYS)
def test_every_control_character_is_caught(key: str) -> None:
    assert unsafe_header({"Accept": "*/*", "Authorization": f"Bearer {key}"}) == "Authorization"


def test_ordinary_values_and_tabs_pass() -> None:
    assert unsafe_header({"Authorization": "Bearer sk-abc", "X-List": "a,\tb", "U": "é"}) is None
