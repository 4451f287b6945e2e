"""OpenAI's Responses API (``POST /v1/responses``) through the gateway, with the official
``openai`` SDK as the client: text, whole tool loops streamed and not, images, JSON
output and the settings it echoes, on the instant Simulator."""

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
    auth,
    ledger_record,
    openai_sdk,
    png_bytes,
    png_data_url,
    running_gateway,
)

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
    "strict": True,
}
QUESTION = "What is the weather in Lisbon right now?"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("responses") / "data"


@pytest.fixture(scope="module")
def gateway(data_dir: Path) -> Iterator[GatewayServer]:
    with running_gateway(data_dir) as gw:
        yield gw


@pytest.fixture
def client(gateway: GatewayServer) -> Iterator[openai.OpenAI]:
    with openai_sdk(gateway) as c:
        yield c


def _rid(response_id: str) -> str:
    return "req_" + response_id.removeprefix("resp_")


def test_text_response_echoes_its_settings(client: openai.OpenAI, data_dir: Path) -> None:
    response = client.responses.create(
        model="fast",
        instructions="Be brief.",
        input=QUESTION,
        max_output_tokens=300,
        temperature=0.3,
        top_p=0.9,
        user="user-1",
        metadata={"app": "docs"},
    )
    assert response.status == "completed" and response.output_text
    assert response.output[0].type == "message" and response.output[0].role == "assistant"
    assert response.instructions == "Be brief." and response.max_output_tokens == 300
    assert response.temperature == 0.3 and response.top_p == 0.9
    assert response.metadata == {"app": "docs"} and response.user == "user-1"
    assert response.usage is not None and response.usage.total_tokens == (
        response.usage.input_tokens + response.usage.output_tokens
    )
    rec = ledger_record(data_dir, _rid(response.id))
    assert rec is not None and rec.system == "Be brief." and rec.response == response.output_text
    assert rec.usage.output_tokens == response.usage.output_tokens
    assert rec.request_detail["end_user"] == "user-1"
    assert rec.request_detail["metadata"] == {"app": "docs"}
    assert rec.request_detail["sampling"]["top_p"] == 0.9  # type: ignore[index]


def test_text_stream_events(client: openai.OpenAI, data_dir: Path) -> None:
    with client.responses.stream(model="fast", input=QUESTION) as stream:
        events = list(stream)
        final = stream.get_final_response()
    kinds = [e.type for e in events]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text and final.output_text == text and final.status == "completed"
    rec = ledger_record(data_dir, _rid(final.id))
    assert rec is not None and rec.response == text


def _function_calls(response: Any) -> list[Any]:
    return [item for item in response.output if item.type == "function_call"]


def test_tool_loop_not_streamed(client: openai.OpenAI, data_dir: Path) -> None:
    first = client.responses.create(model="fast", input=QUESTION, tools=[WEATHER])  # type: ignore[list-item]
    (call,) = _function_calls(first)
    assert call.name == "get_weather" and call.status == "completed"
    assert set(json.loads(call.arguments)) == {"city"}
    rec = ledger_record(data_dir, _rid(first.id))
    assert rec is not None
    assert [(c.id, c.name, c.arguments) for c in rec.tool_calls] == [
        (call.call_id, call.name, call.arguments)
    ]
    assert rec.request_detail["tools"][0]["strict"] is True  # type: ignore[index]

    # The usual loop: the previous output goes back as input, then the results.
    items: list[Any] = [{"role": "user", "content": QUESTION}]
    items += [item.model_dump(exclude_none=True) for item in first.output]
    items.append({"type": "function_call_output", "call_id": call.call_id, "output": "clear, 25 C"})
    second = client.responses.create(model="fast", input=items, tools=[WEATHER])  # type: ignore[list-item]
    assert not _function_calls(second) and "clear, 25 C" in second.output_text
    rec2 = ledger_record(data_dir, _rid(second.id))
    assert rec2 is not None
    assert rec2.request_detail["tool_results"] == [
        {"tool_call_id": call.call_id, "content": "clear, 25 C"}
    ]


def test_tool_loop_streamed_is_reassembled_by_the_sdk(
    client: openai.OpenAI, data_dir: Path
) -> None:
    with client.responses.stream(model="fast", input=QUESTION, tools=[WEATHER]) as stream:  # type: ignore[list-item]
        events = list(stream)
        first = stream.get_final_response()
    kinds = [e.type for e in events]
    assert "response.function_call_arguments.delta" in kinds
    assert "response.function_call_arguments.done" in kinds
    assert [e.sequence_number for e in events] == list(range(len(events)))
    (call,) = _function_calls(first)
    done = [e for e in events if e.type == "response.function_call_arguments.done"]
    assert done[0].arguments == call.arguments  # type: ignore[union-attr]
    assert call.parsed_arguments == json.loads(call.arguments)  # strict: the SDK parses it
    rec = ledger_record(data_dir, _rid(first.id))
    assert rec is not None and rec.tool_calls[0].arguments == call.arguments

    items: list[Any] = [{"role": "user", "content": QUESTION}, call.model_dump(exclude_none=True)]
    items[1].pop("parsed_arguments", None)
    items.append({"type": "function_call_output", "call_id": call.call_id, "output": "windy"})
    raw_events = list(
        client.responses.create(model="fast", input=items, tools=[WEATHER], stream=True)  # type: ignore[list-item]
    )
    text = "".join(e.delta for e in raw_events if e.type == "response.output_text.delta")
    assert "windy" in text
    assert raw_events[-1].type == "response.completed"
    assert raw_events[-1].response.output_text == text


def test_image_input_reaches_the_engine(client: openai.OpenAI, data_dir: Path) -> None:
    png = png_bytes(48, 48)
    response = client.responses.create(
        model="fast",
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "What colour is this?"},
                    {"type": "input_image", "image_url": png_data_url(png), "detail": "high"},
                ],
            }
        ],
    )
    assert response.output_text
    rec = ledger_record(data_dir, _rid(response.id))
    assert rec is not None and rec.prompt == "What colour is this?"
    (image,) = rec.request_detail["images"]  # type: ignore[misc]
    assert image["sha256"] == hashlib.sha256(png).hexdigest() and image["detail"] == "high"


def test_json_schema_output(client: openai.OpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "celsius": {"type": "integer"}},
        "required": ["city", "celsius"],
        "additionalProperties": False,
    }
    response = client.responses.create(
        model="fast",
        input=QUESTION,
        text={
            "format": {"type": "json_schema", "name": "weather", "schema": schema, "strict": True}
        },
    )
    value = json.loads(response.output_text)
    assert set(value) == {"city", "celsius"} and isinstance(value["celsius"], int)
    assert response.text is not None and response.text.format.type == "json_schema"


def test_token_limit_makes_an_incomplete_response(client: openai.OpenAI) -> None:
    response = client.responses.create(model="fast", input=QUESTION, max_output_tokens=16)
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"
    events = list(
        client.responses.create(model="fast", input=QUESTION, max_output_tokens=16, stream=True)
    )
    assert events[-1].type == "response.incomplete"


@pytest.mark.parametrize(
    ("extra", "name"),
    [
        ({"previous_response_id": "resp_123"}, "previous_response_id"),
        ({"store": True}, "store"),
        ({"tools": [{"type": "web_search"}]}, "tools[0].type"),
    ],
)
def test_what_the_gateway_cannot_keep_is_refused_by_name(
    client: openai.OpenAI, data_dir: Path, extra: dict[str, Any], name: str
) -> None:
    with pytest.raises(openai.BadRequestError, match=name.replace("[", r"\[")) as info:
        client.responses.create(model="fast", input=QUESTION, **extra)
    assert info.value.param == name
    rec = ledger_record(data_dir, info.value.response.headers["x-request-id"])
    assert rec is not None and rec.status == "rejected"


def test_needs_the_gateway_token(gateway: GatewayServer) -> None:
    with httpx.Client(trust_env=False) as http:
        bad = http.post(f"{gateway.url}/v1/responses", json={"model": "fast", "input": "x"})
        ok = http.post(
            f"{gateway.url}/v1/responses", json={"model": "fast", "input": "x"}, headers=auth()
        )
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "invalid_api_key"
    assert ok.status_code == 200 and ok.headers["x-centwise-cost-usd"]
