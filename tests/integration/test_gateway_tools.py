"""Chat Completions with tools and images through the gateway, with the official
``openai`` SDK as the client: whole tool loops (the model calls a tool, the client
sends the result, the model answers), streamed and not, on the instant Simulator."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from core.gateway import GatewayServer
from tests.integration.gateway_support import (
    TOKEN,
    ledger_record,
    openai_sdk,
    png_bytes,
    png_data_url,
    running_gateway,
)

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city", "unit"],
        },
    },
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Local time in a time zone",
        "parameters": {
            "type": "object",
            "properties": {"zone": {"type": "string"}},
            "required": ["zone"],
        },
    },
}
QUESTION = {"role": "user", "content": "What is the weather in Paris today?"}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tools") / "data"


@pytest.fixture(scope="module")
def gateway(data_dir: Path) -> Iterator[GatewayServer]:
    with running_gateway(data_dir) as gw:
        yield gw


@pytest.fixture
def client(gateway: GatewayServer) -> Iterator[openai.OpenAI]:
    with openai_sdk(gateway) as c:
        yield c


def _results(message: dict[str, Any], answer: str) -> list[dict[str, Any]]:
    return [
        {"role": "tool", "tool_call_id": call["id"], "content": answer}
        for call in message["tool_calls"]
    ]


def test_tool_loop_not_streamed(client: openai.OpenAI, data_dir: Path) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="fast",
        messages=[QUESTION],
        tools=[WEATHER, TIME],  # type: ignore[list-item]
        user="user-7",
        metadata={"team": "travel"},
    )
    first = raw.parse()
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    calls = choice.message.tool_calls or []
    assert len(calls) == 1 and calls[0].type == "function"
    call = calls[0].function  # type: ignore[union-attr]
    assert call.name == "get_weather"
    args = json.loads(call.arguments)
    assert isinstance(args["city"], str) and args["unit"] in ("celsius", "fahrenheit")

    rec = ledger_record(data_dir, raw.headers["x-request-id"])
    assert rec is not None and rec.status == "ok"
    assert [(c.id, c.name, c.arguments) for c in rec.tool_calls] == [
        (calls[0].id, "get_weather", call.arguments)
    ]
    assert [t["name"] for t in rec.request_detail["tools"]] == ["get_weather", "get_time"]  # type: ignore[index, union-attr]
    assert rec.request_detail["end_user"] == "user-7"
    assert rec.request_detail["metadata"] == {"team": "travel"}

    assistant = choice.message.model_dump(exclude_none=True)
    raw2 = client.chat.completions.with_raw_response.create(
        model="fast",
        messages=[QUESTION, assistant, *_results(assistant, "sunny, 21 C")],  # type: ignore[list-item]
        tools=[WEATHER, TIME],  # type: ignore[list-item]
    )
    second = raw2.parse().choices[0]
    assert second.finish_reason == "stop" and not second.message.tool_calls
    assert second.message.content and "sunny, 21 C" in second.message.content
    rec2 = ledger_record(data_dir, raw2.headers["x-request-id"])
    assert rec2 is not None and rec2.tool_calls == []
    assert rec2.request_detail["tool_results"] == [
        {"tool_call_id": calls[0].id, "content": "sunny, 21 C"}
    ]


def test_tool_loop_streamed_is_reassembled_by_the_sdk(
    client: openai.OpenAI, data_dir: Path
) -> None:
    with client.chat.completions.stream(
        model="fast",
        messages=[QUESTION],  # type: ignore[list-item]
        tools=[WEATHER],  # type: ignore[list-item]
        stream_options={"include_usage": True},
    ) as stream:
        kinds = [event.type for event in stream]
        first = stream.get_final_completion()
    assert "tool_calls.function.arguments.done" in kinds
    message = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls"
    calls = message.tool_calls or []
    assert len(calls) == 1
    rid = "req_" + first.id.removeprefix("chatcmpl-")
    rec = ledger_record(data_dir, rid)
    assert rec is not None
    assert [(c.id, c.name, c.arguments) for c in rec.tool_calls] == [
        (calls[0].id, calls[0].function.name, calls[0].function.arguments)  # type: ignore[union-attr]
    ]
    assert first.usage is not None and first.usage.completion_tokens == rec.usage.output_tokens

    assistant = {
        "role": "assistant",
        "content": None,
        "tool_calls": [c.model_dump(exclude={"function": {"parsed_arguments"}}) for c in calls],
    }
    chunks = list(
        client.chat.completions.create(
            model="fast",
            messages=[QUESTION, assistant, *_results(assistant, "rain all day")],  # type: ignore[list-item]
            tools=[WEATHER],  # type: ignore[list-item]
            stream=True,
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "rain all day" in text
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_streamed_tool_call_deltas_have_openai_shape(gateway: GatewayServer) -> None:
    body = {"model": "fast", "messages": [QUESTION], "tools": [WEATHER], "stream": True}
    with httpx.Client(trust_env=False) as http:
        r = http.post(
            f"{gateway.url}/v1/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
    chunks = [json.loads(line[6:]) for line in r.text.split("\n\n") if line.startswith("data: {")]
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas[0] == {"role": "assistant", "content": None}
    opening = deltas[1]["tool_calls"][0]
    assert opening["index"] == 0 and opening["type"] == "function"
    assert opening["id"].startswith("call_") and opening["function"]["name"] == "get_weather"
    arguments = "".join(
        piece["function"]["arguments"]
        for d in deltas
        if "tool_calls" in d
        for piece in d["tool_calls"]
    )
    assert set(json.loads(arguments)) == {"city", "unit"}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_forced_tool_and_parallel_flag_reach_the_engine(
    client: openai.OpenAI, data_dir: Path
) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="fast",
        messages=[QUESTION],
        tools=[WEATHER, TIME],  # type: ignore[list-item]
        tool_choice={"type": "function", "function": {"name": "get_time"}},
        parallel_tool_calls=False,
    )
    calls = raw.parse().choices[0].message.tool_calls or []
    assert [c.function.name for c in calls] == ["get_time"]  # type: ignore[union-attr]
    rec = ledger_record(data_dir, raw.headers["x-request-id"])
    assert rec is not None
    assert rec.request_detail["tool_choice"] == "tool:get_time"
    assert rec.request_detail["parallel_tool_calls"] is False
    none = client.chat.completions.create(
        model="fast",
        messages=[QUESTION],
        tools=[WEATHER],
        tool_choice="none",  # type: ignore[list-item]
    )
    assert none.choices[0].finish_reason == "stop" and none.choices[0].message.content


def test_image_as_a_data_url_reaches_the_engine(client: openai.OpenAI, data_dir: Path) -> None:
    png = png_bytes(64, 32)
    raw = client.chat.completions.with_raw_response.create(
        model="fast",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this picture?"},
                    {"type": "image_url", "image_url": {"url": png_data_url(png), "detail": "low"}},
                ],
            }
        ],
    )
    assert raw.parse().choices[0].message.content
    rec = ledger_record(data_dir, raw.headers["x-request-id"])
    assert rec is not None and rec.status == "ok" and rec.prompt == "What is in this picture?"
    (image,) = rec.request_detail["images"]  # type: ignore[misc]
    assert image["sha256"] == hashlib.sha256(png).hexdigest()
    assert (image["width"], image["height"], image["media_type"]) == (64, 32, "image/png")
    assert image["detail"] == "low" and image["tokens"] > 0 and image["bytes"] == len(png)


def test_tool_results_after_an_image_turn_and_a_system_prompt(
    client: openai.OpenAI, data_dir: Path
) -> None:
    """The last message may be several tool results (parallel calls); the system
    prompt may sit anywhere and the indices in errors still match the client's."""
    calls = [
        {
            "id": "call_a",
            "type": "function",
            "function": {"name": "get_weather", "arguments": "{}"},
        },
        {"id": "call_b", "type": "function", "function": {"name": "get_time", "arguments": "{}"}},
    ]
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "Be brief."},
        QUESTION,
        {"role": "assistant", "content": "Checking.", "tool_calls": calls},
        {"role": "tool", "tool_call_id": "call_a", "content": "sunny"},
        {"role": "tool", "tool_call_id": "call_b", "content": [{"type": "text", "text": "noon"}]},
    ]
    raw = client.chat.completions.with_raw_response.create(
        model="fast",
        messages=messages,  # type: ignore[arg-type]
        tools=[WEATHER, TIME],  # type: ignore[list-item]
    )
    assert raw.parse().choices[0].message.content
    rec = ledger_record(data_dir, raw.headers["x-request-id"])
    assert rec is not None and rec.system == "Be brief."
    assert rec.request_detail["tool_results"] == [
        {"tool_call_id": "call_a", "content": "sunny"},
        {"tool_call_id": "call_b", "content": "noon"},
    ]
    messages[4]["tool_call_id"] = "call_c"
    with pytest.raises(openai.BadRequestError, match=r"messages\[4\]") as info:
        client.chat.completions.create(model="fast", messages=messages, tools=[WEATHER, TIME])  # type: ignore[arg-type, list-item]
    assert info.value.body["param"] == "messages[4]"  # type: ignore[index]


def test_with_the_cache_on_a_tool_call_is_asked_again_not_replayed(tmp_path: Path) -> None:
    """A reply that calls a tool is an action, not an answer: the engine does not cache
    it, so the same request streamed again is a miss and still carries the call."""
    with (
        running_gateway(tmp_path / "data", "[cache]\nenabled = true\n") as gw,
        openai.OpenAI(
            base_url=f"{gw.url}/v1",
            api_key=TOKEN,
            http_client=httpx.Client(trust_env=False),
            max_retries=0,
        ) as c,
    ):
        plain = c.chat.completions.create(
            model="fast",
            messages=[QUESTION],
            tools=[WEATHER],  # type: ignore[list-item]
        )
        with c.chat.completions.stream(
            model="fast",
            messages=[QUESTION],
            tools=[WEATHER],  # type: ignore[list-item]
        ) as stream:
            for _ in stream:
                pass
            again = stream.get_final_completion()
    rec = ledger_record(tmp_path / "data", "req_" + again.id.removeprefix("chatcmpl-"))
    assert rec is not None and rec.cache_outcome == "miss"
    first_calls = plain.choices[0].message.tool_calls or []
    again_calls = again.choices[0].message.tool_calls or []
    assert [(c.function.name, c.function.arguments) for c in again_calls] == [  # type: ignore[union-attr]
        (c.function.name, c.function.arguments)
        for c in first_calls  # type: ignore[union-attr]
    ]
    assert again.choices[0].finish_reason == "tool_calls"
