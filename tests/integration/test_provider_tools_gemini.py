"""Tools, function calls, function responses and images through the Gemini provider,
against a loopback Gemini API server that refuses what the real API refuses."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from core.errors import UnsupportedParameterError
from core.providers.gemini import SKIP_SIGNATURE, GeminiProvider
from core.types import Message, ProviderRequest, ToolCall, ToolChoice
from tests.integration.servers import Behaviour, LoopbackServer, make_provider
from tests.integration.servers.tool_support import (
    JPEG,
    PNG,
    TOOLS,
    collect,
    conversation,
    image,
    tool_request,
)

KIND = "gemini"
BOTH = pytest.mark.parametrize("stream", [True, False], ids=["stream", "complete"])
TWO_CALLS = [
    ("", "get_weather", '{"city": "Oslo", "unit": "C"}'),
    ("fc-7", "get_time", '{"zone": "Europe/Oslo"}'),
]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _request(**kw: Any) -> ProviderRequest:
    kw.setdefault("messages", conversation(url_image=False))
    return tool_request(**kw)


@BOTH
async def test_the_request_carries_tools_history_and_images(
    gemini_server: LoopbackServer, http_client: httpx.AsyncClient, stream: bool
) -> None:
    provider = make_provider(KIND, gemini_server, http_client)
    reply = await collect(provider, _request(), stream)
    assert reply.text == "Hello, world!" and reply.finish == "stop"
    body = gemini_server.last.json
    assert body["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "The weather in a city, now.",
                    "parametersJsonSchema": dict(TOOLS[0].parameters),
                },
                {"name": "get_time", "parametersJsonSchema": dict(TOOLS[1].parameters)},
            ]
        }
    ]
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert body["contents"] == [
        {
            "role": "user",
            "parts": [
                {"text": "Weather in Paris and Rome?"},
                {"inlineData": {"mimeType": "image/png", "data": _b64(PNG)}},
                {"inlineData": {"mimeType": "image/jpeg", "data": _b64(JPEG)}},
            ],
        },
        {
            "role": "model",
            "parts": [
                {
                    "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                    "thoughtSignature": SKIP_SIGNATURE,
                },
                {"functionCall": {"name": "get_weather", "args": {"city": "Rome", "unit": "C"}}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {
                    "functionResponse": {
                        "name": "get_weather",
                        "response": {"result": "18C and sunny"},
                    }
                },
                {
                    "functionResponse": {
                        "name": "get_weather",
                        "response": {"result": {"temp": 21, "sky": "clear"}},
                    }
                },
                {"text": "Thanks. And Oslo?"},
            ],
        },
    ]


@pytest.mark.parametrize(
    ("choice", "wire"),
    [
        (ToolChoice("none"), {"mode": "NONE"}),
        (ToolChoice("required"), {"mode": "ANY"}),
        (ToolChoice("tool", "get_time"), {"mode": "ANY", "allowedFunctionNames": ["get_time"]}),
        (None, None),
    ],
    ids=["none", "required", "tool", "default"],
)
async def test_tool_choice(
    gemini_server: LoopbackServer,
    http_client: httpx.AsyncClient,
    choice: ToolChoice | None,
    wire: object,
) -> None:
    provider = make_provider(KIND, gemini_server, http_client)
    await collect(provider, _request(tool_choice=choice), False)
    config = gemini_server.last.json.get("toolConfig")
    assert (config and config["functionCallingConfig"]) == wire


@BOTH
async def test_function_calls_in_the_reply(
    gemini_server: LoopbackServer, http_client: httpx.AsyncClient, stream: bool
) -> None:
    gemini_server.queue(Behaviour(text="Checking.", thinking="hmm", tool_calls=TWO_CALLS))
    provider = make_provider(KIND, gemini_server, http_client)
    reply = await collect(provider, _request(), stream)
    assert reply.text == "Checking."
    assert reply.finish == "tool_calls"  # Gemini says STOP
    # Gemini's own id where it gives one, else one made from the call's place.
    assert [(c.id, c.name, c.parsed()) for c in reply.calls] == [
        ("call_0", "get_weather", {"city": "Oslo", "unit": "C"}),
        ("fc-7", "get_time", {"zone": "Europe/Oslo"}),
    ]
    if stream:  # each call arrives whole: one piece each
        assert [(d.index, d.id, d.name) for d in reply.deltas] == [
            (0, "call_0", "get_weather"),
            (1, "fc-7", "get_time"),
        ]


@BOTH
async def test_a_call_without_arguments(
    gemini_server: LoopbackServer, http_client: httpx.AsyncClient, stream: bool
) -> None:
    gemini_server.queue(Behaviour(text="", tool_calls=[("", "get_time", "{}")]))
    provider = make_provider(KIND, gemini_server, http_client)
    reply = await collect(provider, _request(), stream)
    assert (reply.text, reply.calls) == ("", (ToolCall("call_0", "get_time", "{}"),))


@BOTH
async def test_an_image_by_url_is_refused_before_sending(
    gemini_server: LoopbackServer, http_client: httpx.AsyncClient, stream: bool
) -> None:
    provider = make_provider(KIND, gemini_server, http_client)
    with pytest.raises(UnsupportedParameterError, match=r"messages\[1\]: an image by URL"):
        await collect(provider, tool_request(messages=conversation()), stream)
    assert gemini_server.requests == []
    assert not GeminiProvider.image_urls_supported


async def test_a_result_for_no_known_call_is_refused(
    gemini_server: LoopbackServer, http_client: httpx.AsyncClient
) -> None:
    """Gemini's function responses name the function: a result whose call is not in
    the history cannot be named."""
    messages = (Message("user", "Hi"), Message("tool", "42", tool_call_id="call_gone"))
    provider = make_provider(KIND, gemini_server, http_client)
    with pytest.raises(UnsupportedParameterError, match="call_gone"):
        await collect(provider, _request(messages=messages), False)


async def test_a_call_whose_arguments_are_not_an_object_is_refused(
    gemini_server: LoopbackServer, http_client: httpx.AsyncClient
) -> None:
    messages = (
        Message("user", "Hi"),
        Message("assistant", "", tool_calls=(ToolCall("c", "get_time", "[1, 2]"),)),
        Message("tool", "42", tool_call_id="c"),
    )
    provider = make_provider(KIND, gemini_server, http_client)
    with pytest.raises(UnsupportedParameterError, match="not a JSON object"):
        await collect(provider, _request(messages=messages), True)
    assert gemini_server.requests == []


async def test_results_that_are_json_arrays_or_text_stay_text(
    gemini_server: LoopbackServer, http_client: httpx.AsyncClient
) -> None:
    call = ToolCall("c", "get_time", "{}")
    messages = (
        Message("user", "Hi"),
        Message("assistant", "", tool_calls=(call, ToolCall("d", "get_time", "{}"))),
        Message("tool", "[1, 2]", tool_call_id="c"),
        Message("tool", "not json {", tool_call_id="d"),
    )
    await collect(
        make_provider(KIND, gemini_server, http_client),
        _request(messages=messages),
        False,
    )
    parts = gemini_server.last.json["contents"][2]["parts"]
    assert [p["functionResponse"]["response"] for p in parts] == [
        {"result": "[1, 2]"},
        {"result": "not json {"},
    ]
    assert json.loads(json.dumps(parts))  # plain JSON all through
    assert image(JPEG).media_type == "image/jpeg"
