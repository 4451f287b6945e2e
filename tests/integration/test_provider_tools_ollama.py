"""Tools, tool calls, tool results and images through the Ollama provider, against a
loopback ``/api/chat`` server that refuses what Ollama refuses."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from core.errors import UnsupportedParameterError
from core.providers.ollama import OllamaProvider
from core.types import Message, ProviderRequest, ToolCall, ToolChoice
from tests.integration.servers import Behaviour, LoopbackServer, make_provider
from tests.integration.servers.tool_support import (
    JPEG,
    PNG,
    TOOLS,
    collect,
    conversation,
    tool_request,
)

KIND = "ollama"
BOTH = pytest.mark.parametrize("stream", [True, False], ids=["stream", "complete"])
TWO_CALLS = [
    ("", "get_weather", '{"city": "Oslo", "unit": "C"}'),
    ("call_x1", "get_time", '{"zone": "Europe/Oslo"}'),
]


def _request(**kw: Any) -> ProviderRequest:
    kw.setdefault("messages", conversation(url_image=False))
    return tool_request(**kw)


@BOTH
async def test_the_request_carries_tools_history_and_images(
    ollama_server: LoopbackServer, http_client: httpx.AsyncClient, stream: bool
) -> None:
    reply = await collect(make_provider(KIND, ollama_server, http_client), _request(), stream)
    assert reply.text == "Hello, world!" and reply.finish == "stop"
    body = ollama_server.last.json
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "The weather in a city, now.",
                "parameters": dict(TOOLS[0].parameters),
            },
        },
        {
            "type": "function",
            "function": {"name": "get_time", "parameters": dict(TOOLS[1].parameters)},
        },
    ]
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {
            "role": "user",
            "content": "Weather in Paris and Rome?",
            "images": [base64.b64encode(PNG).decode(), base64.b64encode(JPEG).decode()],
        },
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"function": {"name": "get_weather", "arguments": {"city": "Paris"}}},
                {"function": {"name": "get_weather", "arguments": {"city": "Rome", "unit": "C"}}},
            ],
        },
        {"role": "tool", "content": "18C and sunny", "tool_name": "get_weather"},
        {"role": "tool", "content": '{"temp": 21, "sky": "clear"}', "tool_name": "get_weather"},
        {"role": "user", "content": "Thanks. And Oslo?"},
    ]
    assert "tool_choice" not in body


@pytest.mark.parametrize(
    ("choice", "sent"),
    [
        (ToolChoice("auto"), ["get_weather", "get_time"]),
        (ToolChoice("required"), ["get_weather", "get_time"]),
        (ToolChoice("tool", "get_time"), ["get_time"]),
        (ToolChoice("none"), None),
    ],
    ids=["auto", "required", "tool", "none"],
)
async def test_tool_choice_narrows_the_tools(
    ollama_server: LoopbackServer,
    http_client: httpx.AsyncClient,
    choice: ToolChoice,
    sent: list[str] | None,
) -> None:
    """Ollama has no tool_choice: "none" sends no tools, a named tool is sent alone."""
    provider = make_provider(KIND, ollama_server, http_client)
    await collect(provider, _request(tool_choice=choice), False)
    tools = ollama_server.last.json.get("tools")
    assert (tools and [t["function"]["name"] for t in tools]) == sent


@BOTH
async def test_tool_calls_in_the_reply(
    ollama_server: LoopbackServer, http_client: httpx.AsyncClient, stream: bool
) -> None:
    ollama_server.queue(Behaviour(text="Checking.", tool_calls=TWO_CALLS))
    reply = await collect(make_provider(KIND, ollama_server, http_client), _request(), stream)
    assert reply.text == "Checking."
    assert reply.finish == "tool_calls"  # Ollama says stop
    assert [(c.id, c.name, c.parsed()) for c in reply.calls] == [
        ("call_0", "get_weather", {"city": "Oslo", "unit": "C"}),
        ("call_x1", "get_time", {"zone": "Europe/Oslo"}),
    ]
    if stream:
        assert [(d.index, d.id) for d in reply.deltas] == [(0, "call_0"), (1, "call_x1")]


@BOTH
async def test_arguments_sent_as_text_are_kept_as_sent(
    ollama_server: LoopbackServer, http_client: httpx.AsyncClient, stream: bool
) -> None:
    """Some models' templates give arguments that are not JSON: Ollama then sends the
    text; it is passed on untouched."""
    ollama_server.queue(Behaviour(text="", tool_calls=[("", "get_weather", "city=Oslo")]))
    reply = await collect(make_provider(KIND, ollama_server, http_client), _request(), stream)
    assert reply.calls == (ToolCall("call_0", "get_weather", "city=Oslo"),)


@BOTH
async def test_an_image_by_url_is_refused_before_sending(
    ollama_server: LoopbackServer, http_client: httpx.AsyncClient, stream: bool
) -> None:
    provider = make_provider(KIND, ollama_server, http_client)
    with pytest.raises(UnsupportedParameterError, match=r"messages\[1\]: an image by URL"):
        await collect(provider, _request(messages=conversation()), stream)
    assert ollama_server.requests == []
    assert not OllamaProvider.image_urls_supported and OllamaProvider.images_supported


async def test_a_result_names_the_tool_of_its_call(
    ollama_server: LoopbackServer, http_client: httpx.AsyncClient
) -> None:
    call = ToolCall("c1", "get_time", "{}")
    messages = (
        Message("user", "Hi"),
        Message("assistant", "", tool_calls=(call,)),
        Message("tool", "12:00", tool_call_id="c1"),
    )
    await collect(
        make_provider(KIND, ollama_server, http_client), _request(messages=messages), True
    )
    assert ollama_server.last.json["messages"][2] == {
        "role": "tool",
        "content": "12:00",
        "tool_name": "get_time",
    }
