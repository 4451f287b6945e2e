"""Tools, tool calls, tool results, images and reasoning_effort through the OpenAI and
OpenAI-compatible providers, against a loopback Chat Completions server that refuses
what the real API refuses (see tests/integration/servers/checks.py)."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from core.errors import BadRequestError, UnsupportedParameterError
from core.types import Message, ToolCall, ToolChoice
from tests.integration.servers import Behaviour, LoopbackServer, make_provider
from tests.integration.servers._base import split_pieces
from tests.integration.servers.tool_support import (
    JPEG,
    PNG,
    collect,
    conversation,
    image,
    tool_request,
)

BOTH = pytest.mark.parametrize("stream", [True, False], ids=["stream", "complete"])
KINDS = pytest.mark.parametrize("kind", ["openai", "openai-compatible"])
TWO_CALLS = [
    ("call_a", "get_weather", '{"city": "Oslo", "unit": "C"}'),
    ("call_b", "get_time", '{"zone": "Europe/Oslo"}'),
]


def _data_url(media: str, data: bytes) -> str:
    return f"data:{media};base64,{base64.b64encode(data).decode()}"


@KINDS
@BOTH
async def test_the_request_carries_tools_history_and_images(
    openai_server: LoopbackServer, http_client: httpx.AsyncClient, kind: str, stream: bool
) -> None:
    provider = make_provider(kind, openai_server, http_client)
    request = tool_request(parallel_tool_calls=False, reasoning_effort="low")
    reply = await collect(provider, request, stream)
    assert reply.text == "Hello, world!" and reply.finish == "stop" and reply.calls == ()
    body = openai_server.last.json
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "The weather in a city, now.",
                "parameters": tool_request().tools[0].parameters,
                "strict": True,
            },
        },
        {
            "type": "function",
            "function": {
                "name": "get_time",
                "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}},
            },
        },
    ]
    assert body["tool_choice"] == "auto"
    assert body["parallel_tool_calls"] is False
    assert body["reasoning_effort"] == "low"
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Weather in Paris and Rome?"},
                {
                    "type": "image_url",
                    "image_url": {"url": _data_url("image/png", PNG), "detail": "low"},
                },
                {
                    "type": "image_url",
                    "image_url": {"url": _data_url("image/jpeg", JPEG), "detail": "high"},
                },
                {
                    "type": "image_url",
                    "image_url": {"url": "https://example.com/cloud.png", "detail": "auto"},
                },
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_paris",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                },
                {
                    "id": "call_rome",
                    "type": "function",
                    "function": {
                        "name": "get_weather",
                        "arguments": '{"city": "Rome", "unit": "C"}',
                    },
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_paris", "content": "18C and sunny"},
        {"role": "tool", "tool_call_id": "call_rome", "content": '{"temp": 21, "sky": "clear"}'},
        {"role": "user", "content": "Thanks. And Oslo?"},
    ]


@pytest.mark.parametrize(
    ("choice", "wire"),
    [
        (ToolChoice("none"), "none"),
        (ToolChoice("required"), "required"),
        (ToolChoice("tool", "get_time"), {"type": "function", "function": {"name": "get_time"}}),
        (None, None),
    ],
    ids=["none", "required", "tool", "default"],
)
async def test_tool_choice(
    openai_server: LoopbackServer,
    http_client: httpx.AsyncClient,
    choice: ToolChoice | None,
    wire: object,
) -> None:
    provider = make_provider("openai", openai_server, http_client)
    await collect(provider, tool_request(tool_choice=choice), False)
    body = openai_server.last.json
    assert body.get("tool_choice") == wire
    assert "parallel_tool_calls" not in body and "reasoning_effort" not in body


async def test_without_tools_no_tool_fields_are_sent(
    openai_server: LoopbackServer, http_client: httpx.AsyncClient
) -> None:
    """tool_choice and parallel_tool_calls are refused by the API without tools."""
    provider = make_provider("openai", openai_server, http_client)
    request = tool_request(tools=(), parallel_tool_calls=True, messages=(Message("user", "Hi"),))
    await collect(provider, request, True)
    body = openai_server.last.json
    assert not {"tools", "tool_choice", "parallel_tool_calls"} & set(body)


@KINDS
@BOTH
async def test_tool_calls_in_the_reply(
    openai_server: LoopbackServer, http_client: httpx.AsyncClient, kind: str, stream: bool
) -> None:
    openai_server.queue(Behaviour(text="Checking.", tool_calls=TWO_CALLS, tool_chunks=9))
    provider = make_provider(kind, openai_server, http_client)
    reply = await collect(provider, tool_request(), stream)
    assert reply.text == "Checking."
    assert reply.calls == tuple(ToolCall(*c) for c in TWO_CALLS)
    assert reply.finish == "tool_calls"
    if stream:  # a first piece naming each call, then its arguments in pieces
        pieces = sum(len(split_pieces(args, 9)) for _, _, args in TWO_CALLS)
        assert len(reply.deltas) == 2 + pieces
        assert [(d.index, d.id, d.name) for d in reply.deltas if d.id] == [
            (0, "call_a", "get_weather"),
            (1, "call_b", "get_time"),
        ]


@BOTH
async def test_a_call_without_text_has_no_text(
    openai_server: LoopbackServer, http_client: httpx.AsyncClient, stream: bool
) -> None:
    openai_server.queue(Behaviour(text="", tool_calls=TWO_CALLS[:1]))
    reply = await collect(
        make_provider("openai", openai_server, http_client), tool_request(), stream
    )
    assert (reply.text, reply.finish) == ("", "tool_calls")
    assert reply.calls == (ToolCall(*TWO_CALLS[0]),)


@BOTH
async def test_arguments_that_are_not_json_are_passed_on_as_sent(
    openai_server: LoopbackServer, http_client: httpx.AsyncClient, stream: bool
) -> None:
    cut = '{"city": "Os'  # the model ran out of tokens mid-call
    openai_server.queue(
        Behaviour(text="", tool_calls=[("call_x", "get_weather", cut)], finish="length")
    )
    reply = await collect(
        make_provider("openai", openai_server, http_client), tool_request(), stream
    )
    assert reply.calls == (ToolCall("call_x", "get_weather", cut),)
    assert reply.finish == "length"
    with pytest.raises(ValueError):
        reply.calls[0].parsed()


async def test_a_call_split_over_many_chunks_is_joined(
    openai_server: LoopbackServer, http_client: httpx.AsyncClient
) -> None:
    arguments = json.dumps({"city": "Reykjavík", "note": "ø" * 200, "n": [1, 2, 3]})
    openai_server.queue(
        Behaviour(
            text="", tool_calls=[("c1", "get_weather", arguments)], tool_chunks=len(arguments)
        )
    )
    reply = await collect(make_provider("openai", openai_server, http_client), tool_request(), True)
    assert len(reply.deltas) == 1 + len(arguments)
    assert reply.calls == (ToolCall("c1", "get_weather", arguments),)
    assert json.loads(reply.calls[0].arguments)["city"] == "Reykjavík"


async def test_the_server_refuses_a_tool_result_without_its_call(
    openai_server: LoopbackServer, http_client: httpx.AsyncClient
) -> None:
    """The loopback server checks what the API checks: a result must answer a call."""
    messages = (Message("user", "Hi"), Message("tool", "42", tool_call_id="call_nobody"))
    provider = make_provider("openai", openai_server, http_client)
    with pytest.raises(BadRequestError, match="answers no preceding tool call"):
        await collect(provider, tool_request(messages=messages), False)


@BOTH
async def test_images_outside_user_messages_are_refused_before_sending(
    openai_server: LoopbackServer, http_client: httpx.AsyncClient, stream: bool
) -> None:
    messages = (Message("system", "Look.", images=(image(PNG),)), Message("user", "Hi"))
    provider = make_provider("openai", openai_server, http_client)
    with pytest.raises(
        UnsupportedParameterError, match=r"messages\[0\]: images in a system"
    ) as info:
        await collect(provider, tool_request(messages=messages), stream)
    assert (info.value.provider, info.value.request_id) == ("openai", "req-tools")
    assert openai_server.requests == []


def test_class_vars() -> None:
    from core.providers.openai import OpenAIProvider
    from core.providers.openai_compatible import OpenAICompatibleProvider

    for cls in (OpenAIProvider, OpenAICompatibleProvider):
        assert cls.tools_supported and cls.images_supported and cls.image_urls_supported
        assert cls.reasoning_effort_supported
    assert conversation()[1].images[2].url == "https://example.com/cloud.png"
