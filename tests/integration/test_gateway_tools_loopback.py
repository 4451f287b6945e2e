"""A tool loop through the gateway to real provider kinds: the ``openai`` and
``anthropic`` SDKs call the gateway, whose engine calls loopback look-alikes of the
OpenAI and Anthropic APIs (tests/integration/servers, which refuse what the real APIs
refuse). Checks both directions: what the provider is sent (tools, calls, results,
images in its own format) and what the client gets back (calls re-assembled)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import httpx2
import openai
import pytest

from core.config import parse_config
from core.gateway import GatewayServer, start_gateway
from core.types import Secret
from tests.integration.gateway_support import TOKEN, ledger_record, png_bytes, png_data_url
from tests.integration.servers import (
    AnthropicDialect,
    Behaviour,
    LoopbackServer,
    OpenAIDialect,
    serve,
)

CALL = ("call_x1", "get_weather", '{"city": "Oslo", "unit": "C"}')
SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "unit": {"enum": ["C", "F"]}},
    "required": ["city"],
}


@pytest.fixture
def servers() -> Iterator[tuple[LoopbackServer, LoopbackServer]]:
    with serve(OpenAIDialect(), "/v1") as oai, serve(AnthropicDialect()) as ant:
        yield oai, ant


@pytest.fixture
def gateway(
    servers: tuple[LoopbackServer, LoopbackServer], tmp_path: Path
) -> Iterator[GatewayServer]:
    oai, ant = servers
    text = f"""
[cache]
enabled = false
[budget]
max_input_tokens = 100000
[observability]
quality_sampling_rate = 0
[providers.oai]
kind = "openai"
base_url = "{oai.base_url}"
max_attempts = 1
[providers.ant]
kind = "anthropic"
base_url = "{ant.base_url}"
max_attempts = 1
[[routing.tiers]]
id = "only"
provider = "oai"
model = "gpt-4o-mini"
max_complexity = 10
"""
    server = start_gateway(
        parse_config(text, "test.toml"),
        tmp_path / "data",
        TOKEN,
        host="127.0.0.1",
        port=0,
        key_lookup=lambda name: Secret("sk-loopback-test"),
        client_factory=lambda: httpx.AsyncClient(trust_env=False),
    )
    try:
        yield server
    finally:
        server.stop()


def _openai(gw: GatewayServer) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"{gw.url}/v1",
        api_key=TOKEN,
        http_client=httpx.Client(trust_env=False),
        max_retries=0,
    )


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_chat_completions_tool_loop_to_openai(
    gateway: GatewayServer,
    servers: tuple[LoopbackServer, LoopbackServer],
    tmp_path: Path,
    stream: bool,
) -> None:
    oai, _ = servers
    oai.queue(Behaviour(text="", tool_calls=[CALL], tool_chunks=5), Behaviour(text="It is 3 C."))
    tool = {"type": "function", "function": {"name": "get_weather", "parameters": SCHEMA}}
    question = {
        "role": "user",
        "content": [
            {"type": "text", "text": "Weather here?"},
            {"type": "image_url", "image_url": {"url": png_data_url(png_bytes(8, 8))}},
        ],
    }
    with _openai(gateway) as client:
        if stream:
            with client.chat.completions.stream(
                model="oai/gpt-4o-mini",
                messages=[question],
                tools=[tool],  # type: ignore[list-item]
            ) as s:
                for _ in s:
                    pass
                first = s.get_final_completion()
        else:
            first = client.chat.completions.create(
                model="oai/gpt-4o-mini",
                messages=[question],
                tools=[tool],  # type: ignore[list-item]
            )
        (call,) = first.choices[0].message.tool_calls or []
        assert (call.id, call.function.name, call.function.arguments) == CALL  # type: ignore[union-attr]
        assert first.choices[0].finish_reason == "tool_calls"
        sent = oai.last.json
        assert sent["tools"][0]["function"]["name"] == "get_weather"
        assert sent["messages"][0]["content"][1]["image_url"]["url"].startswith("data:image/png")

        assistant = {
            "role": "assistant",
            "content": None,
            "tool_calls": [call.model_dump(exclude={"function": {"parsed_arguments"}})],
        }
        result = {"role": "tool", "tool_call_id": call.id, "content": "3 C, cloudy"}
        second = client.chat.completions.create(
            model="oai/gpt-4o-mini",
            messages=[question, assistant, result],  # type: ignore[list-item]
            tools=[tool],  # type: ignore[list-item]
            stream=stream,
        )
        if stream:
            text = "".join(c.choices[0].delta.content or "" for c in second if c.choices)  # type: ignore[union-attr]
        else:
            text = second.choices[0].message.content or ""  # type: ignore[union-attr]
    assert text == "It is 3 C."
    sent = oai.last.json
    assert sent["messages"][1]["tool_calls"][0]["id"] == CALL[0]
    assert sent["messages"][2] == {
        "role": "tool",
        "tool_call_id": CALL[0],
        "content": "3 C, cloudy",
    }


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_messages_tool_loop_to_anthropic(
    gateway: GatewayServer,
    servers: tuple[LoopbackServer, LoopbackServer],
    tmp_path: Path,
    stream: bool,
) -> None:
    _, ant = servers
    ant.queue(
        Behaviour(text="Let me check.", tool_calls=[CALL], tool_chunks=4),
        Behaviour(text="It is 3 C."),
    )
    tool = {"name": "get_weather", "description": "Weather", "input_schema": SCHEMA}
    png = base64.b64encode(png_bytes(8, 8)).decode()
    question: dict[str, Any] = {
        "role": "user",
        "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png}},
            {"type": "text", "text": "Weather here?"},
        ],
    }
    with anthropic.Anthropic(
        base_url=gateway.url,
        api_key=TOKEN,
        http_client=httpx2.Client(trust_env=False),
        max_retries=0,
    ) as client:
        kw: dict[str, Any] = {"model": "ant/claude-haiku-4-5", "max_tokens": 300, "tools": [tool]}
        if stream:
            with client.messages.stream(messages=[question], **kw) as s:
                first = s.get_final_message()
        else:
            first = client.messages.create(messages=[question], **kw)
        assert [b.type for b in first.content] == ["text", "tool_use"]
        use = first.content[1]
        assert use.type == "tool_use" and use.id == CALL[0] and use.input == json.loads(CALL[2])
        assert first.stop_reason == "tool_use"
        sent = ant.last.json
        assert sent["tools"][0]["input_schema"] == SCHEMA
        assert sent["messages"][0]["content"][0]["type"] == "image"

        history = [
            question,
            {"role": "assistant", "content": [b.model_dump() for b in first.content]},
        ]
        result = {"type": "tool_result", "tool_use_id": use.id, "content": "3 C, cloudy"}
        second = client.messages.create(
            messages=[*history, {"role": "user", "content": [result]}], **kw
        )
    assert second.content[0].type == "text" and second.content[0].text == "It is 3 C."
    turns = ant.last.json["messages"]
    assert turns[1]["content"][1]["type"] == "tool_use" and turns[1]["content"][1]["id"] == CALL[0]
    assert turns[2]["content"][0]["type"] == "tool_result"
    assert turns[2]["content"][0]["tool_use_id"] == CALL[0]
    rec = ledger_record(tmp_path / "data", "req_" + second.id.removeprefix("msg_"))
    assert rec is not None and rec.provider == "ant" and rec.status == "ok"


def test_responses_tool_loop_to_openai(
    gateway: GatewayServer, servers: tuple[LoopbackServer, LoopbackServer]
) -> None:
    oai, _ = servers
    oai.queue(Behaviour(text="", tool_calls=[CALL], tool_chunks=3), Behaviour(text="It is 3 C."))
    tool = {"type": "function", "name": "get_weather", "parameters": SCHEMA}
    with _openai(gateway) as client:
        with client.responses.stream(
            model="oai/gpt-4o-mini", input="Weather in Oslo?", tools=[tool]
        ) as s:  # type: ignore[list-item]
            first = s.get_final_response()
        (call,) = [item for item in first.output if item.type == "function_call"]
        assert (call.call_id, call.name, call.arguments) == CALL
        items: list[Any] = [{"role": "user", "content": "Weather in Oslo?"}]
        items.append(
            {
                "type": "function_call",
                "call_id": call.call_id,
                "name": call.name,
                "arguments": call.arguments,
            }
        )
        items.append({"type": "function_call_output", "call_id": call.call_id, "output": "3 C"})
        second = client.responses.create(model="oai/gpt-4o-mini", input=items, tools=[tool])  # type: ignore[list-item]
    assert second.output_text == "It is 3 C."
    sent = oai.last.json
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "tool"]
    assert sent["messages"][2]["content"] == "3 C"
