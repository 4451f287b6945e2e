"""Tools, tool calls, tool results and images through the Anthropic provider, against a
loopback Messages API server that refuses what the real API refuses."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from core.errors import MalformedResponseError, UnsupportedParameterError
from core.providers.anthropic import AnthropicProvider
from core.types import Message, ToolCall, ToolChoice
from tests.integration.servers import Behaviour, LoopbackServer, make_provider
from tests.integration.servers._base import split_pieces
from tests.integration.servers.tool_support import (
    JPEG,
    PNG,
    TOOLS,
    collect,
    conversation,
    image,
    tool_request,
)

KIND = "anthropic"
BOTH = pytest.mark.parametrize("stream", [True, False], ids=["stream", "complete"])
TWO_CALLS = [
    ("toolu_a", "get_weather", '{"city": "Oslo", "unit": "C"}'),
    ("toolu_b", "get_time", '{"zone": "Europe/Oslo"}'),
]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@BOTH
async def test_the_request_carries_tools_history_and_images(
    anthropic_server: LoopbackServer, http_client: httpx.AsyncClient, stream: bool
) -> None:
    provider = make_provider(KIND, anthropic_server, http_client)
    reply = await collect(provider, tool_request(parallel_tool_calls=False), stream)
    assert reply.text == "Hello, world!" and reply.finish == "stop"
    body = anthropic_server.last.json
    assert body["tools"] == [
        {
            "name": "get_weather",
            "description": "The weather in a city, now.",
            "input_schema": dict(TOOLS[0].parameters),
        },
        {"name": "get_time", "input_schema": dict(TOOLS[1].parameters)},
    ]
    assert body["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    assert body["system"] == "Be brief."
    assert body["messages"] == [
        {
            "role": "user",
            "content": [
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": _b64(PNG)},
                },
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/jpeg", "data": _b64(JPEG)},
                },
                {
                    "type": "image",
                    "source": {"type": "url", "url": "https://example.com/cloud.png"},
                },
                {"type": "text", "text": "Weather in Paris and Rome?"},
            ],
        },
        {
            "role": "assistant",
            "content": [
                {
                    "type": "tool_use",
                    "id": "call_paris",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                },
                {
                    "type": "tool_use",
                    "id": "call_rome",
                    "name": "get_weather",
                    "input": {"city": "Rome", "unit": "C"},
                },
            ],
        },
        {
            # Both results in one user turn, first, then the next question.
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "call_paris", "content": "18C and sunny"},
                {
                    "type": "tool_result",
                    "tool_use_id": "call_rome",
                    "content": '{"temp": 21, "sky": "clear"}',
                },
                {"type": "text", "text": "Thanks. And Oslo?"},
            ],
        },
    ]


@pytest.mark.parametrize(
    ("choice", "parallel", "wire"),
    [
        (ToolChoice("auto"), None, {"type": "auto"}),
        (ToolChoice("none"), None, {"type": "none"}),
        (ToolChoice("none"), False, {"type": "none"}),
        (ToolChoice("required"), False, {"type": "any", "disable_parallel_tool_use": True}),
        (ToolChoice("tool", "get_time"), None, {"type": "tool", "name": "get_time"}),
        (None, True, None),
        (None, None, None),
    ],
    ids=["auto", "none", "none-serial", "any-serial", "tool", "parallel-only", "default"],
)
async def test_tool_choice(
    anthropic_server: LoopbackServer,
    http_client: httpx.AsyncClient,
    choice: ToolChoice | None,
    parallel: bool | None,
    wire: object,
) -> None:
    provider = make_provider(KIND, anthropic_server, http_client)
    await collect(provider, tool_request(tool_choice=choice, parallel_tool_calls=parallel), False)
    assert anthropic_server.last.json.get("tool_choice") == wire


@BOTH
async def test_tool_calls_in_the_reply(
    anthropic_server: LoopbackServer, http_client: httpx.AsyncClient, stream: bool
) -> None:
    anthropic_server.queue(
        Behaviour(text="Checking.", thinking="hmm", tool_calls=TWO_CALLS, tool_chunks=6)
    )
    reply = await collect(
        make_provider(KIND, anthropic_server, http_client), tool_request(), stream
    )
    assert reply.text == "Checking."
    assert reply.finish == "tool_calls"
    if stream:  # partial_json pieces joined as sent
        assert reply.calls == tuple(ToolCall(*c) for c in TWO_CALLS)
        pieces = sum(len(split_pieces(args, 6)) for _, _, args in TWO_CALLS)
        assert len(reply.deltas) == 2 + pieces
        assert [(d.index, d.id, d.name) for d in reply.deltas if d.id] == [
            (0, "toolu_a", "get_weather"),
            (1, "toolu_b", "get_time"),
        ]
    else:  # input objects, written back as JSON
        assert [(c.id, c.name, c.parsed()) for c in reply.calls] == [
            (i, n, json.loads(a)) for i, n, a in TWO_CALLS
        ]


async def test_streamed_arguments_that_are_not_json_are_passed_on_as_sent(
    anthropic_server: LoopbackServer, http_client: httpx.AsyncClient
) -> None:
    cut = '{"city": "Os'
    anthropic_server.queue(
        Behaviour(text="", tool_calls=[("toolu_x", "get_weather", cut)], finish="max_tokens")
    )
    reply = await collect(make_provider(KIND, anthropic_server, http_client), tool_request(), True)
    assert reply.calls == (ToolCall("toolu_x", "get_weather", cut),)
    assert reply.finish == "length"


async def test_a_call_split_over_many_chunks_is_joined(
    anthropic_server: LoopbackServer, http_client: httpx.AsyncClient
) -> None:
    arguments = json.dumps({"city": "Reykjavík", "list": list(range(40))}, ensure_ascii=False)
    behaviour = Behaviour(text="", tool_calls=[("t1", "get_weather", arguments)], pings=True)
    behaviour.tool_chunks = len(arguments)
    anthropic_server.queue(behaviour)
    reply = await collect(make_provider(KIND, anthropic_server, http_client), tool_request(), True)
    assert reply.calls == (ToolCall("t1", "get_weather", arguments),)
    assert len(reply.deltas) == 1 + len(arguments)


async def test_a_call_with_no_arguments_has_an_empty_object(
    anthropic_server: LoopbackServer, http_client: httpx.AsyncClient
) -> None:
    anthropic_server.queue(Behaviour(text="", tool_calls=[("t1", "get_time", "")]))
    reply = await collect(make_provider(KIND, anthropic_server, http_client), tool_request(), True)
    assert reply.calls == (ToolCall("t1", "get_time", "{}"),)


async def test_a_json_delta_for_no_tool_block_is_malformed(
    anthropic_server: LoopbackServer, http_client: httpx.AsyncClient
) -> None:
    stray = (
        b"event: content_block_delta\ndata: "
        b'{"type":"content_block_delta","index":0,'
        b'"delta":{"type":"input_json_delta","partial_json":"{}"}}\n\n'
    )
    anthropic_server.queue(Behaviour(inject=[(3, stray)]))
    provider = make_provider(KIND, anthropic_server, http_client)
    with pytest.raises(MalformedResponseError, match="not a tool_use"):
        await collect(provider, tool_request(), True)


@BOTH
async def test_a_call_whose_arguments_are_not_an_object_is_refused(
    anthropic_server: LoopbackServer, http_client: httpx.AsyncClient, stream: bool
) -> None:
    """Anthropic takes a tool call's input as an object only: text that is not one
    cannot be sent back, so the request is refused before anything is sent."""
    bad = ToolCall("call_1", "get_weather", '{"city": "Os')
    messages = (
        Message("user", "Weather?"),
        Message("assistant", "", tool_calls=(bad,)),
        Message("tool", "?", tool_call_id="call_1"),
    )
    provider = make_provider(KIND, anthropic_server, http_client)
    with pytest.raises(UnsupportedParameterError, match=r"messages\[1\]: tool call 'call_1'"):
        await collect(provider, tool_request(messages=messages), stream)
    assert anthropic_server.requests == []


async def test_an_assistant_turn_with_text_and_calls(
    anthropic_server: LoopbackServer, http_client: httpx.AsyncClient
) -> None:
    call = ToolCall("call_1", "get_time", "{}")
    messages = (
        Message("user", "Time?"),
        Message("assistant", "Let me look.", tool_calls=(call,)),
        Message("tool", "", tool_call_id="call_1"),
    )
    await collect(
        make_provider(KIND, anthropic_server, http_client), tool_request(messages=messages), False
    )
    sent = anthropic_server.last.json["messages"]
    assert sent[1]["content"] == [
        {"type": "text", "text": "Let me look."},
        {"type": "tool_use", "id": "call_1", "name": "get_time", "input": {}},
    ]
    assert sent[2]["content"] == [{"type": "tool_result", "tool_use_id": "call_1"}]


def test_class_vars() -> None:
    assert AnthropicProvider.tools_supported and AnthropicProvider.images_supported
    assert AnthropicProvider.image_urls_supported
    assert AnthropicProvider.max_image_bytes == 5 * 1024 * 1024
    assert not AnthropicProvider.reasoning_effort_supported
    assert image(PNG).media_type == "image/png" and conversation()[2].tool_calls


@BOTH
async def test_a_clients_cache_marks_are_sent_where_given(
    anthropic_server: LoopbackServer, http_client: httpx.AsyncClient, stream: bool
) -> None:
    from dataclasses import replace

    mark = {"type": "ephemeral", "ttl": "1h"}
    messages = list(conversation(url_image=False))
    messages[0] = replace(messages[0], cache_control=mark)  # the system prompt
    messages[4] = replace(messages[4], cache_control={"type": "ephemeral"})  # a result
    messages.insert(1, Message("system", "Summary of the earlier conversation: none."))
    tools = (TOOLS[0], replace(TOOLS[1], cache_control={"type": "ephemeral"}))
    provider = make_provider(KIND, anthropic_server, http_client)
    await collect(provider, tool_request(messages=tuple(messages), tools=tools), stream)
    body = anthropic_server.last.json
    assert body["system"] == [  # blocks, so the mark stays on the prompt, not the summary
        {"type": "text", "text": "Be brief.", "cache_control": mark},
        {"type": "text", "text": "Summary of the earlier conversation: none."},
    ]
    assert "cache_control" not in body["tools"][0]
    assert body["tools"][1]["cache_control"] == {"type": "ephemeral"}
    turn = body["messages"][2]["content"]  # both results and the question: one user turn
    assert turn[0] == {
        "type": "tool_result",
        "tool_use_id": "call_paris",
        "content": "18C and sunny",
    }
    assert turn[1]["tool_use_id"] == "call_rome"
    assert turn[1]["cache_control"] == {"type": "ephemeral"}  # the result it was given on
    assert turn[2] == {"type": "text", "text": "Thanks. And Oslo?"}
    assert body["messages"][0]["content"][-1] == {
        "type": "text",
        "text": "Weather in Paris and Rome?",
    }
