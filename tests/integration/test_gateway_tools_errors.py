"""Bad tools, tool results, images and content on every endpoint: a 400 that names the
field (down to the message and part), in the endpoint's error shape, and a ledger row
with the reason. Never a 500, however deep the JSON."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.gateway import GatewayServer
from tests.integration.gateway_support import auth, ledger_record, running_gateway

BAD_PNG = "data:image/png;base64,aGVsbG8gd29ybGQ="  # "hello world": not an image
CALL = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
USER = {"role": "user", "content": "hi"}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("errors") / "data"


@pytest.fixture(scope="module")
def gateway(data_dir: Path) -> Iterator[GatewayServer]:
    with running_gateway(data_dir) as gw:
        yield gw


def _post(gw: GatewayServer, path: str, body: dict[str, Any] | bytes) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {**auth(), "content-type": "application/json"}
    with httpx.Client(trust_env=False) as http:
        return http.post(f"{gw.url}{path}", content=content, headers=headers)


def _nested(depth: int) -> dict[str, Any]:
    """A valid JSON Schema whose objects nest ``depth`` levels."""
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(depth):
        schema = {"type": "object", "properties": {"a": schema}}
    return schema


def _chat(**extra: Any) -> dict[str, Any]:
    return {"model": "fast", "messages": [USER], **extra}


CHAT_CASES: list[tuple[dict[str, Any], str, str | None]] = [
    (
        _chat(
            tools=[
                {
                    "type": "function",
                    "function": {
                        "name": "f",
                        "parameters": {"type": "object", "properties": {"x": {"type": "nope"}}},
                    },
                }
            ]
        ),
        "tools[0].function.parameters",
        "tools[0].function.parameters['properties']['x']['type']",
    ),
    (
        _chat(tools=[{"type": "function", "function": {"name": "has space"}}]),
        "tools[0].function.name",
        None,
    ),
    (_chat(tools=[{"type": "web_search"}]), "tools[0].type", "tools[0].type"),
    (
        _chat(tools=[TOOL], tool_choice={"type": "function", "function": {"name": "g"}}),
        "tool_choice",
        "tool_choice",
    ),
    (
        {
            "model": "fast",
            "messages": [
                USER,
                {"role": "assistant", "content": None, "tool_calls": [CALL]},
                {"role": "tool", "tool_call_id": "call_2", "content": "x"},
            ],
        },
        "messages[2]: the tool result for 'call_2' matches no earlier tool call",
        "messages[2]",
    ),
    (
        {
            "model": "fast",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "look"},
                        {"type": "image_url", "image_url": {"url": BAD_PNG}},
                    ],
                }
            ],
        },
        "messages[0].content[1].image_url: cannot be decoded as an image",
        "messages[0].content[1].image_url",
    ),
    (
        {
            "model": "fast",
            "messages": [
                {"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": ""}}]}
            ],
        },
        "messages[0].content[0].type: 'input_audio' parts are not supported",
        "messages[0].content[0].type",
    ),
    (
        {"model": "fast", "messages": [{"role": "system", "content": [{"type": "image_url"}]}]},
        "messages[0].content[0].type",
        "messages[0].content[0].type",
    ),
    (
        {"model": "fast", "messages": [{"role": "function", "name": "f", "content": "x"}]},
        "messages[0].role 'function' is not supported",
        "messages[0].role",
    ),
    (
        _chat(functions=[{"name": "f"}]),
        "functions is not supported by the Centwise gateway: send tools",
        "functions",
    ),
    (_chat(n=2), "n: only n=1 is supported", "n"),
    (_chat(metadata={"k": 1}), "metadata.k must be a string", "metadata.k"),
    (_chat(reasoning_effort="extreme"), "reasoning_effort must be one of", "reasoning_effort"),
    (
        _chat(parallel_tool_calls="yes"),
        "parallel_tool_calls must be true or false",
        "parallel_tool_calls",
    ),
    (
        {"model": "fast", "messages": [USER, {"role": "assistant", "content": "hi"}]},
        "the last message must be from the user or a tool result",
        "messages",
    ),
]


@pytest.mark.parametrize(("body", "fragment", "param"), CHAT_CASES)
def test_chat_completions_names_the_bad_field(
    gateway: GatewayServer, data_dir: Path, body: dict[str, Any], fragment: str, param: str | None
) -> None:
    r = _post(gateway, "/v1/chat/completions", body)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert fragment in err["message"] and err["type"] == "invalid_request_error"
    if param is not None:
        assert err["param"] == param
    rec = ledger_record(data_dir, r.headers["x-request-id"])
    assert rec is not None and rec.status == "rejected" and fragment in (rec.error or "")


def _messages(*messages: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"model": "fast", "max_tokens": 100, "messages": list(messages), **extra}


TOOL_USE = {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}

MESSAGES_CASES: list[tuple[dict[str, Any], str]] = [
    (
        _messages(USER, tools=[{"name": "f", "input_schema": {"type": "object", "required": 3}}]),
        "tools[0].input_schema",
    ),
    (
        _messages(USER, tools=[{"type": "web_search_20250305", "name": "web_search"}]),
        "tools[0].type",
    ),
    (
        _messages(
            USER,
            {"role": "assistant", "content": [TOOL_USE]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_9"}]},
        ),
        "messages.2.content.0: the tool result for 'toolu_9' matches no earlier tool call",
    ),
    (
        _messages(
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "look"},
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": "aGVsbG8="},
                    },
                ],
            }
        ),
        "messages.0.content.1.source: cannot be decoded as an image",
    ),
    (
        _messages(
            {
                "role": "user",
                "content": [
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": "@@"},
                    }
                ],
            }
        ),
        "messages.0.content.0.source.data: the base64 data is not valid base64",
    ),
    (
        _messages({"role": "user", "content": [{"type": "document", "source": {}}]}),
        "messages.0.content.0.type: 'document' blocks are not supported",
    ),
    (
        _messages({"role": "assistant", "content": [{"type": "thinking", "thinking": "x"}]}),
        "messages.0.content.0.type: 'thinking' blocks are not supported",
    ),
    (_messages(USER, metadata={"user_id": "u", "plan": "pro"}), "metadata.plan: unknown field"),
    (
        _messages(USER, tools=[TOOL], tool_choice={"type": "any", "disable_parallel_tool_use": 1}),
        "tool_choice.disable_parallel_tool_use",
    ),
    (_messages(USER, {"role": "assistant", "content": [TOOL_USE]}), "the last message must be"),
]


@pytest.mark.parametrize(("body", "fragment"), MESSAGES_CASES)
def test_messages_names_the_bad_field(
    gateway: GatewayServer, data_dir: Path, body: dict[str, Any], fragment: str
) -> None:
    r = _post(gateway, "/v1/messages", body)
    assert r.status_code == 400, r.text
    assert r.json()["type"] == "error"
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error" and fragment in err["message"]
    rec = ledger_record(data_dir, r.headers["x-request-id"])
    assert rec is not None and rec.status == "rejected" and fragment in (rec.error or "")


def _responses(input_: Any = "hi", **extra: Any) -> dict[str, Any]:
    return {"model": "fast", "input": input_, **extra}


FUNCTION = {"type": "function", "name": "f", "parameters": {"type": "object"}}

RESPONSES_CASES: list[tuple[dict[str, Any], str, str]] = [
    (_responses(tools=[{"type": "web_search"}]), "tools[0].type", "tools[0].type"),
    (
        _responses(tools=[{"type": "function", "name": "f", "parameters": {"type": "array"}}]),
        "tools[0].parameters",
        "tools[0].parameters",
    ),
    (_responses(previous_response_id="resp_1"), "previous_response_id", "previous_response_id"),
    (_responses(store=True), "store is not supported", "store"),
    (_responses(conversation="conv_1"), "conversation", "conversation"),
    (
        _responses(
            [
                {"role": "user", "content": "hi"},
                {"type": "function_call_output", "call_id": "call_9", "output": "x"},
            ]
        ),
        "input[1]: the tool result for 'call_9' matches no earlier tool call",
        "input[1]",
    ),
    (
        _responses(
            [
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "look"},
                        {"type": "input_image", "image_url": BAD_PNG},
                    ],
                }
            ]
        ),
        "input[0].content[1]: cannot be decoded as an image",
        "input[0].content[1]",
    ),
    (
        _responses([{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]),
        "input[0].content[0].type: 'input_file' parts are not supported",
        "input[0].content[0].type",
    ),
    (
        _responses([{"type": "reasoning", "summary": []}]),
        "input[0].type: 'reasoning' items",
        "input[0].type",
    ),
    (
        _responses(text={"format": {"type": "json_schema", "name": "x"}}),
        "text.format needs a 'schema'",
        "text.format",
    ),
    (_responses(reasoning={"summary": "auto"}), "reasoning.summary", "reasoning.summary"),
    (
        _responses(reasoning={"effort": "max"}),
        "reasoning.effort must be one of",
        "reasoning.effort",
    ),
    (
        _responses(tools=[FUNCTION], tool_choice={"type": "allowed_tools"}),
        "tool_choice.type",
        "tool_choice.type",
    ),
    (_responses([]), "input must be a string or a non-empty array", "input"),
]


@pytest.mark.parametrize(("body", "fragment", "param"), RESPONSES_CASES)
def test_responses_names_the_bad_field(
    gateway: GatewayServer, data_dir: Path, body: dict[str, Any], fragment: str, param: str
) -> None:
    r = _post(gateway, "/v1/responses", body)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert fragment in err["message"] and err["param"] == param
    rec = ledger_record(data_dir, r.headers["x-request-id"])
    assert rec is not None and rec.status == "rejected" and fragment in (rec.error or "")


ENDPOINTS = {
    "/v1/chat/completions": lambda schema: _chat(
        tools=[{"type": "function", "function": {"name": "f", "parameters": schema}}]
    ),
    "/v1/messages": lambda schema: _messages(USER, tools=[{"name": "f", "input_schema": schema}]),
    "/v1/responses": lambda schema: _responses(
        tools=[{"type": "function", "name": "f", "parameters": schema}]
    ),
}


@pytest.mark.parametrize("path", list(ENDPOINTS))
def test_json_nested_thousands_deep_is_a_400_not_a_500(
    gateway: GatewayServer, data_dir: Path, path: str
) -> None:
    deep_body = b'{"model": "fast", "messages": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    deep_schema = ENDPOINTS[path](_nested(200))
    for body in (deep_body, deep_schema):
        r = _post(gateway, path, body)
        assert r.status_code == 400, r.text
        assert "nested too deeply" in r.text
        rec = ledger_record(data_dir, r.headers["x-request-id"])
        assert rec is not None and rec.status == "rejected"


@pytest.mark.parametrize("path", list(ENDPOINTS))
def test_a_deep_but_reasonable_tool_schema_is_served(gateway: GatewayServer, path: str) -> None:
    r = _post(gateway, path, ENDPOINTS[path](_nested(40)))
    assert r.status_code == 200, r.text
