"""The official ``anthropic`` SDK against the gateway's ``/v1/messages`` (base_url only):
text, whole tool loops streamed and not, images and tool-use settings, on the instant
Simulator."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import pytest

from core.gateway import GatewayServer
from tests.integration.gateway_support import TOKEN, ledger_record, png_bytes, running_gateway

WEATHER = {
    "name": "get_weather",
    "description": "Current weather in a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
        "required": ["city", "days"],
    },
}
TIME = {
    "name": "get_time",
    "description": "Local time in a time zone",
    "input_schema": {"type": "object", "properties": {"zone": {"type": "string"}}},
}
QUESTION: dict[str, Any] = {"role": "user", "content": "What is the weather in Oslo this week?"}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("anthropic") / "data"


@pytest.fixture(scope="module")
def gateway(data_dir: Path) -> Iterator[GatewayServer]:
    with running_gateway(data_dir) as gw:
        yield gw


@pytest.fixture
def client(gateway: GatewayServer) -> Iterator[anthropic.Anthropic]:
    # This SDK runs on httpx2; trust_env=False keeps any proxy settings out of the loop.
    with anthropic.Anthropic(
        base_url=gateway.url,
        api_key=TOKEN,
        http_client=httpx2.Client(trust_env=False),
        max_retries=0,
    ) as c:
        yield c


def _rid(message_id: str) -> str:
    return "req_" + message_id.removeprefix("msg_")


def test_text_message_and_stream(client: anthropic.Anthropic, data_dir: Path) -> None:
    message = client.messages.create(
        model="fast", max_tokens=200, system="Be brief.", messages=[QUESTION]
    )
    assert message.stop_reason == "end_turn" and message.content[0].type == "text"
    with client.messages.stream(model="fast", max_tokens=200, messages=[QUESTION]) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text and final.content[0].type == "text" and final.content[0].text == text
    rec = ledger_record(data_dir, _rid(final.id))
    assert rec is not None and rec.response == text


def test_tool_loop_not_streamed(client: anthropic.Anthropic, data_dir: Path) -> None:
    first = client.messages.create(
        model="fast",
        max_tokens=200,
        messages=[QUESTION],
        tools=[WEATHER, TIME],  # type: ignore[list-item]
        metadata={"user_id": "user-42"},
    )
    assert first.stop_reason == "tool_use"
    (use,) = [b for b in first.content if b.type == "tool_use"]
    assert use.name == "get_weather"
    assert isinstance(use.input["city"], str) and use.input["days"] >= 1  # type: ignore[index, operator]
    rec = ledger_record(data_dir, _rid(first.id))
    assert rec is not None and rec.request_detail["end_user"] == "user-42"
    assert [(c.id, c.name, c.parsed()) for c in rec.tool_calls] == [(use.id, use.name, use.input)]

    history = [QUESTION, {"role": "assistant", "content": [b.model_dump() for b in first.content]}]
    result = {"type": "tool_result", "tool_use_id": use.id, "content": "snow, -4 C"}
    second = client.messages.create(
        model="fast",
        max_tokens=200,
        messages=[*history, {"role": "user", "content": [result]}],  # type: ignore[list-item]
        tools=[WEATHER, TIME],  # type: ignore[list-item]
    )
    assert second.stop_reason == "end_turn"
    assert second.content[0].type == "text" and "snow, -4 C" in second.content[0].text
    rec2 = ledger_record(data_dir, _rid(second.id))
    assert rec2 is not None
    assert rec2.request_detail["tool_results"] == [
        {"tool_call_id": use.id, "content": "snow, -4 C"}
    ]


def test_tool_loop_streamed_is_reassembled_by_the_sdk(
    client: anthropic.Anthropic, data_dir: Path
) -> None:
    with client.messages.stream(
        model="fast",
        max_tokens=200,
        messages=[QUESTION],
        tools=[WEATHER],  # type: ignore[list-item]
    ) as stream:
        events = list(stream)
        first = stream.get_final_message()
    kinds = [e.type for e in events]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert "input_json" in kinds
    starts = [e for e in events if e.type == "content_block_start"]
    assert starts[0].content_block.type == "tool_use" and starts[0].index == 0  # type: ignore[union-attr]
    assert first.stop_reason == "tool_use"
    (use,) = first.content
    assert use.type == "tool_use"
    rec = ledger_record(data_dir, _rid(first.id))
    assert rec is not None and [(c.id, c.parsed()) for c in rec.tool_calls] == [(use.id, use.input)]

    history = [QUESTION, {"role": "assistant", "content": [use.model_dump()]}]
    result = {
        "type": "tool_result",
        "tool_use_id": use.id,
        "content": [{"type": "text", "text": "the weather service is down"}],
        "is_error": True,
    }
    with client.messages.stream(
        model="fast",
        max_tokens=200,
        messages=[*history, {"role": "user", "content": [result]}],  # type: ignore[list-item]
        tools=[WEATHER],  # type: ignore[list-item]
    ) as stream:
        text = "".join(stream.text_stream)
        second = stream.get_final_message()
    assert second.stop_reason == "end_turn" and "the weather service is down" in text
    rec2 = ledger_record(data_dir, _rid(second.id))
    assert rec2 is not None
    # is_error reaches the model as a prefix: a message carries no error flag.
    assert rec2.request_detail["tool_results"] == [
        {"tool_call_id": use.id, "content": "Error: the weather service is down"}
    ]


def test_tool_choice_and_parallel_flag_reach_the_engine(
    client: anthropic.Anthropic, data_dir: Path
) -> None:
    forced = client.messages.create(
        model="fast",
        max_tokens=200,
        messages=[QUESTION],
        tools=[WEATHER, TIME],  # type: ignore[list-item]
        tool_choice={"type": "tool", "name": "get_time", "disable_parallel_tool_use": True},
    )
    assert [b.name for b in forced.content if b.type == "tool_use"] == ["get_time"]
    rec = ledger_record(data_dir, _rid(forced.id))
    assert rec is not None and rec.request_detail["tool_choice"] == "tool:get_time"
    assert rec.request_detail["parallel_tool_calls"] is False
    none = client.messages.create(
        model="fast",
        max_tokens=200,
        messages=[QUESTION],
        tools=[WEATHER],  # type: ignore[list-item]
        tool_choice={"type": "none"},
    )
    assert none.stop_reason == "end_turn" and none.content[0].type == "text"


def test_base64_image_reaches_the_engine(client: anthropic.Anthropic, data_dir: Path) -> None:
    png = png_bytes(40, 30)
    source = {"type": "base64", "media_type": "image/png", "data": base64.b64encode(png).decode()}
    message = client.messages.create(
        model="fast",
        max_tokens=200,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "image", "source": source},  # type: ignore[typeddict-item]
                    {"type": "text", "text": "Describe this picture."},
                ],
            }
        ],
    )
    assert message.content[0].type == "text"
    rec = ledger_record(data_dir, _rid(message.id))
    assert rec is not None and rec.prompt == "Describe this picture."
    (image,) = rec.request_detail["images"]  # type: ignore[misc]
    assert image["sha256"] == hashlib.sha256(png).hexdigest()
    assert (image["width"], image["height"]) == (40, 30) and image["tokens"] > 0


def test_bad_tool_result_is_a_bad_request_naming_the_block(
    client: anthropic.Anthropic, data_dir: Path
) -> None:
    result = {"type": "tool_result", "tool_use_id": "toolu_nope", "content": "x"}
    with pytest.raises(anthropic.BadRequestError, match=r"messages\.1\.content\.0") as info:
        client.messages.create(
            model="fast",
            max_tokens=200,
            messages=[QUESTION, {"role": "user", "content": [result]}],  # type: ignore[list-item]
        )
    rid = info.value.response.headers["x-request-id"]
    rec = ledger_record(data_dir, rid)
    assert rec is not None and rec.status == "rejected"
