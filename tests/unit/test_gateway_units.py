"""Gateway pieces without a server: request parsing, error mapping, token, alerts, spans."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import keyring.backend
import pytest

from core.accounting.budget import BudgetAlert
from core.config import parse_config
from core.errors import (
    BudgetExceededError,
    ConfigError,
    InputTokenLimitError,
    OverloadedError,
    RateLimitError,
)
from core.events import BUDGET_ALERT, REQUEST_FINISHED, EventHub
from core.gateway import ALERT, Alert, AlertMonitor, gateway_token, is_loopback
from core.gateway.auth import check_bearer
from core.gateway.openai_api import parse_chat_request
from core.gateway.request import GatewayHTTPError, error_for
from core.keys import KeyStore
from core.types import RequestRecord, ToolCall, ToolCallDelta, ToolChoice


def _req(**body: Any) -> bytes:
    return json.dumps({"model": "auto", **body}).encode()


def test_parse_splits_system_history_and_prompt() -> None:
    req = parse_chat_request(
        _req(
            messages=[
                {"role": "system", "content": "A"},
                {"role": "developer", "content": [{"type": "text", "text": "B"}]},
                {"role": "user", "content": "one"},
                {"role": "assistant", "content": "two"},
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "th"}, {"type": "text", "text": "ree"}],
                },
            ],
            max_completion_tokens=50,
            max_tokens=99,
            temperature=0.5,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert req.system == "A\n\nB" and req.prompt == "three"
    assert [(m.role, m.content) for m in req.history] == [("user", "one"), ("assistant", "two")]
    assert req.max_tokens == 50 and req.temperature == 0.5
    assert req.stream and req.include_usage


@pytest.mark.parametrize(
    "body",
    [
        {"messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
        {"messages": [{"role": "tool", "content": "x"}]},
        {"messages": [{"role": "user", "content": "x"}], "temperature": 3},
        {"messages": [{"role": "user", "content": "x"}], "stream": "yes"},
        {"messages": [{"role": "user", "content": "x"}], "max_tokens": True},
        {"messages": []},
    ],
)
def test_parse_refuses_what_it_cannot_honour(body: dict[str, Any]) -> None:
    with pytest.raises(GatewayHTTPError) as info:
        parse_chat_request(_req(**body))
    assert info.value.status == 400


def test_error_mapping() -> None:
    budget = BudgetExceededError("over", budget="daily", spent_usd=1, limit_usd=1)
    assert (error_for(budget).status, error_for(budget).type) == (429, "insufficient_quota")
    assert error_for(InputTokenLimitError("long")).status == 400
    assert error_for(RateLimitError("slow down")).type == "rate_limit_error"
    assert error_for(OverloadedError("busy")).status == 503
    assert error_for(ConfigError("bad")).status == 500


def test_bearer_check() -> None:
    assert check_bearer("Bearer abc", "abc") and check_bearer("bearer  abc", "abc")
    assert not check_bearer(None, "abc") and not check_bearer("Bearer abd", "abc")
    assert not check_bearer("abc", "abc")


def test_loopback_detection() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.2")


class _MemoryKeyring(keyring.backend.KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.store.pop((service, username), None)


def test_token_is_kept_in_the_keyring_and_reused() -> None:
    backend = _MemoryKeyring()
    first = gateway_token(KeyStore(backend, environ={}))
    again = gateway_token(KeyStore(backend, environ={}))
    assert first.saved and first.value == again.value and first.value.startswith("cw-")
    assert backend.store[("centwise", "gateway")] == first.value
    rotated = gateway_token(KeyStore(backend, environ={}), rotate=True)
    assert rotated.value != first.value
    assert first.value not in repr(first)


def test_token_without_keyring_is_per_run_and_says_so() -> None:
    from keyring.backends import fail

    one = gateway_token(KeyStore(fail.Keyring(), environ={}))
    two = gateway_token(KeyStore(fail.Keyring(), environ={}))
    assert not one.saved and "NOT saved" in one.message and one.value != two.value


def _rec(outcome: str = "miss", status: str = "ok") -> RequestRecord:
    return RequestRecord("r", 0, 0, purpose="gateway", status=status, cache_outcome=outcome)


def _monitor(
    extra: str = "", breakers: list[tuple[str, str, str]] | None = None, **kw: Any
) -> tuple[AlertMonitor, EventHub, list[Alert]]:
    config = parse_config(
        "[observability]\nmin_cache_hit_rate = 0.5\ncache_hit_rate_window = 4\n" + extra
    )
    hub = EventHub()
    seen: list[Alert] = []
    hub.on(ALERT, seen.append)
    states = breakers if breakers is not None else []
    return AlertMonitor(config, hub, lambda: states, **kw), hub, seen


def test_cache_hit_rate_alert_fires_once_per_crossing() -> None:
    _, hub, seen = _monitor()
    for outcome in ["exact", "miss", "miss", "miss"]:  # window full at 25%: fire
        hub.emit(REQUEST_FINISHED, _rec(outcome))
    for _ in range(3):  # still low: no repeat
        hub.emit(REQUEST_FINISHED, _rec("miss"))
    assert [a.kind for a in seen] == ["cache_hit_rate"]
    for outcome in ["exact", "semantic", "exact"]:  # recovers to 75%: re-armed
        hub.emit(REQUEST_FINISHED, _rec(outcome))
    for _ in range(3):  # drops again: fires again
        hub.emit(REQUEST_FINISHED, _rec("miss"))
    assert [a.kind for a in seen] == ["cache_hit_rate", "cache_hit_rate"]
    assert "25%" in seen[0].message


def test_failed_requests_do_not_count_toward_the_hit_rate() -> None:
    _, hub, seen = _monitor()
    for _ in range(10):
        hub.emit(REQUEST_FINISHED, _rec("miss", status="refused"))
    assert seen == []


def test_open_breaker_alert_fires_once_until_it_closes() -> None:
    states: list[tuple[str, str, str]] = []
    _, hub, seen = _monitor(breakers=states)
    hub.emit(REQUEST_FINISHED, _rec("exact"))
    states.append(("openai", "gpt-4o", "open"))
    for _ in range(3):
        hub.emit(REQUEST_FINISHED, _rec("exact"))
    states[0] = ("openai", "gpt-4o", "closed")
    hub.emit(REQUEST_FINISHED, _rec("exact"))
    states[0] = ("openai", "gpt-4o", "open")
    hub.emit(REQUEST_FINISHED, _rec("exact"))
    assert [a.kind for a in seen] == ["breaker_open", "breaker_open"]
    assert seen[0].details == {"provider": "openai", "model": "gpt-4o"}


async def test_budget_alerts_are_relayed_and_posted_to_the_webhook() -> None:
    posted: list[tuple[str, dict[str, Any]]] = []

    async def post(url: str, body: dict[str, Any]) -> None:
        posted.append((url, body))

    monitor, hub, seen = _monitor(webhook_url="http://127.0.0.1:9/hook", post=post)
    hub.emit(BUDGET_ALERT, BudgetAlert("daily", "2026-11-27", 0.8, Decimal("8"), Decimal("10")))
    hub.emit(
        BUDGET_ALERT,
        BudgetAlert("daily_cost_alert", "2026-11-27", 1.0, Decimal("600"), Decimal("500")),
    )
    await monitor.aclose()
    assert [a.kind for a in seen] == ["budget", "daily_cost"]
    assert [b["kind"] for _, b in posted] == ["budget", "daily_cost"]
    assert posted[0][1]["spent_usd"] == "8" and posted[0][0] == "http://127.0.0.1:9/hook"


async def test_a_failing_webhook_never_breaks_anything() -> None:
    async def post(url: str, body: dict[str, Any]) -> None:
        raise OSError("down")

    monitor, hub, seen = _monitor(webhook_url="http://127.0.0.1:9/hook", post=post)
    hub.emit(BUDGET_ALERT, BudgetAlert("daily", "d", 0.5, Decimal("5"), Decimal("10")))
    await asyncio.sleep(0)
    await monitor.aclose()
    assert len(seen) == 1


def test_gateway_config_section() -> None:
    config = parse_config("[gateway]\nport = 9000\nwebhook_url = 'https://example.test/h'\n")
    assert config.gateway.port == 9000 and config.gateway.host == "127.0.0.1"
    assert config.gateway.log_prompts is False
    with pytest.raises(ConfigError, match=r"gateway\.webhook_url"):
        parse_config("[gateway]\nwebhook_url = 'ftp://x'\n")
    with pytest.raises(ConfigError, match=r"gateway\.nope: unknown key"):
        parse_config("[gateway]\nnope = 1\n")


@pytest.mark.parametrize("text", ["", "plain", 'quote " and \\ and \n', "ünïcode ✓"])
def test_content_chunk_template_matches_the_full_encoder(text: str) -> None:
    from core.gateway.openai_api import ContentChunks, stream_chunk

    fast = ContentChunks("req_1", 'model "x"', 123).content(text)
    assert fast == stream_chunk("req_1", 'model "x"', 123, delta={"content": text})


@pytest.mark.parametrize("arguments", ["", '{"city": "Li', 'sbon \\ "q" ✓"}'])
@pytest.mark.parametrize("index", [0, 3])
def test_argument_chunk_template_matches_the_full_encoder(arguments: str, index: int) -> None:
    from core.gateway.openai_api import ArgumentChunks, stream_chunk

    chunks = ArgumentChunks("req_1", 'model "x"', 123)
    for _ in range(2):  # the template made on the first piece serves the next
        call = {"index": index, "function": {"arguments": arguments}}
        full = stream_chunk("req_1", 'model "x"', 123, delta={"tool_calls": [call]})
        assert chunks.piece(index, arguments) == full


def test_a_field_passes_only_at_its_default_value() -> None:
    from core.gateway.fields import OPENAI_DEFAULTS, refuse_unhonoured

    def bad(message: str, field: str) -> ValueError:
        return ValueError(field)

    honoured = frozenset({"model"})
    for ok in ({"presence_penalty": 0.0}, {"logprobs": False}, {"store": False}, {"audio": None}):
        refuse_unhonoured({"model": "m", **ok}, honoured, OPENAI_DEFAULTS, bad)
    refused_ones = ({"presence_penalty": False}, {"logprobs": 0}, {"store": True}, {"audio": {}})
    for refused in (*refused_ones, {"x": 1}):
        with pytest.raises(ValueError, match=next(iter(refused))):
            refuse_unhonoured(refused, honoured, OPENAI_DEFAULTS, bad)


# -- tools, tool results and images in each format ----------------------------------

WEATHER = {"name": "get_weather", "parameters": {"type": "object"}}


def test_chat_tool_results_are_the_turn_and_calls_stay_in_history() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
    req = parse_chat_request(
        _req(
            messages=[
                {"role": "user", "content": "weather?"},
                {"role": "assistant", "content": None, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
            ],
            tools=[{"type": "function", "function": WEATHER}],
            tool_choice="required",
            parallel_tool_calls=False,
            user="u",
            metadata={"k": "v"},
        )
    )
    assert req.prompt == "sunny" and [m.role for m in req.history] == ["user", "assistant"]
    assert req.history[1].tool_calls == (ToolCall("c1", "get_weather", "{}"),)
    assert req.history[1].content == ""
    assert [(m.role, m.tool_call_id, m.content) for m in req.turn] == [("tool", "c1", "sunny")]
    assert [t.name for t in req.tools] == ["get_weather"]
    assert req.tool_choice == ToolChoice("required") and req.parallel_tool_calls is False
    assert req.end_user == "u" and req.metadata == {"k": "v"}


def test_chat_user_images_go_with_the_prompt() -> None:
    import base64
    import io

    from PIL import Image

    png = io.BytesIO()
    Image.new("RGB", (8, 4), (1, 2, 3)).save(png, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(png.getvalue()).decode()
    part = {"type": "image_url", "image_url": {"url": url}}
    req = parse_chat_request(
        _req(messages=[{"role": "user", "content": [{"type": "text", "text": "what?"}, part]}])
    )
    assert req.prompt == "what?" and req.turn == () and len(req.images) == 1
    assert (req.images[0].width, req.images[0].height) == (8, 4)


def test_anthropic_tool_results_become_tool_messages_before_the_text() -> None:
    from core.gateway.anthropic_api import parse_messages_request

    use = {"type": "tool_use", "id": "t1", "name": "get_weather", "input": {"city": "Oslo"}}
    body = {
        "model": "auto",
        "max_tokens": 10,
        "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": [{"type": "text", "text": "Let me look."}, use]},
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "t1",
                        "content": "down",
                        "is_error": True,
                    },
                    {"type": "text", "text": "and tomorrow?"},
                ],
            },
        ],
        "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": False},
        "metadata": {"user_id": "u-1"},
    }
    req = parse_messages_request(json.dumps(body).encode())
    assert req.prompt == "and tomorrow?" and req.turn == ()
    assert [m.role for m in req.history] == ["user", "assistant", "tool"]
    assert req.history[1].content == "Let me look."
    assert req.history[1].tool_calls[0].parsed() == {"city": "Oslo"}
    assert req.history[2].content == "Error: down" and req.history[2].tool_call_id == "t1"
    assert req.tool_choice == ToolChoice("required") and req.parallel_tool_calls is True
    assert req.end_user == "u-1"


def test_responses_calls_join_the_assistant_message_before_them() -> None:
    from core.gateway.responses_api import parse_responses_request

    body = {
        "model": "auto",
        "instructions": "Be brief.",
        "input": [
            {"role": "developer", "content": "Use tools."},
            {"role": "user", "content": [{"type": "input_text", "text": "weather?"}]},
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "On it."}],
            },
            {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": "{}"},
            {"type": "function_call", "call_id": "c2", "name": "get_weather", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
            {"type": "function_call_output", "call_id": "c2", "output": "rain"},
        ],
        "tools": [{"type": "function", **WEATHER}],
        "text": {"format": {"type": "json_object"}},
        "reasoning": {"effort": "low"},
    }
    req = parse_responses_request(json.dumps(body).encode())
    assert req.system == "Be brief.\n\nUse tools."
    assert [m.role for m in req.history] == ["user", "assistant"]
    assert [c.id for c in req.history[1].tool_calls] == ["c1", "c2"]
    assert req.history[1].content == "On it."
    assert [m.content for m in req.turn] == ["sunny", "rain"] and req.prompt == "sunny\n\nrain"
    assert req.response_format is not None and req.response_format.schema is None
    assert req.reasoning_effort == "low"


def _record(**kw: Any) -> RequestRecord:
    return RequestRecord("req_abc", 1.0, 2.0, purpose="gateway", model="m", **kw)


def test_anthropic_input_keeps_arguments_that_are_not_a_json_object() -> None:
    from core.gateway.anthropic_api import message_body, tool_input

    assert tool_input(ToolCall("a", "f", '{"x": 1}')) == {"x": 1}
    assert tool_input(ToolCall("a", "f", "")) == {}
    assert tool_input(ToolCall("a", "f", '{"x": ')) == '{"x": '
    assert tool_input(ToolCall("a", "f", "[1]")) == "[1]"
    body = message_body(_record(tool_calls=[ToolCall("a", "f", "{}")]), {})
    assert body["content"] == [{"type": "tool_use", "id": "a", "name": "f", "input": {}}]
    assert body["stop_reason"] == "tool_use"


def _sse(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for block in raw.decode().strip().split("\n\n"):
        name, data = block.split("\n")
        out.append((name.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return out


def test_anthropic_frames_number_blocks_in_the_order_they_open() -> None:
    from core.gateway.anthropic_api import AnthropicFrames

    frames = AnthropicFrames("req_1", "m")
    raw = frames.start("Let me ")
    raw += frames.delta("look.")
    raw += frames.tool(ToolCallDelta(0, "c1", "f", '{"a"'))
    raw += frames.tool(ToolCallDelta(0, arguments=": 1}"))
    raw += frames.delta("Done.")
    calls = [ToolCall("c1", "f", '{"a": 1}'), ToolCall("c2", "g", "{}")]
    raw += frames.end(_record(tool_calls=calls, response="Let me look.Done."), {})
    events = _sse(raw)
    starts = [
        (d["index"], d["content_block"]["type"]) for n, d in events if n == "content_block_start"
    ]
    assert starts == [(0, "text"), (1, "tool_use"), (2, "text"), (3, "tool_use")]
    stops = [d["index"] for n, d in events if n == "content_block_stop"]
    assert stops == [0, 1, 2, 3]
    json_parts = [
        (d["index"], d["delta"]["partial_json"])
        for n, d in events
        if n == "content_block_delta" and d["delta"]["type"] == "input_json_delta"
    ]
    assert json_parts == [(1, '{"a"'), (1, ": 1}"), (3, "{}")]
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"

    empty = AnthropicFrames("req_2", "m")
    names = [n for n, _ in _sse(empty.start(None) + empty.end(_record(), {}))]
    assert names == [
        "message_start",
        "content_block_start",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]


def test_openai_frames_carry_tool_calls_as_deltas() -> None:
    from core.gateway.openai_api import OpenAIFrames

    frames = OpenAIFrames("req_1", "m", include_usage=False)
    raw = frames.start(ToolCallDelta(0, "c1", "f", ""))
    raw += frames.tool(ToolCallDelta(0, arguments="{}"))
    raw += frames.end(
        _record(tool_calls=[ToolCall("c1", "f", "{}"), ToolCall("c2", "g", "[]")]), {}
    )
    chunks = [json.loads(b[6:]) for b in raw.decode().split("\n\n") if b.startswith("data: {")]
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas[0] == {"role": "assistant", "content": None}
    assert deltas[1]["tool_calls"] == [
        {"index": 0, "id": "c1", "type": "function", "function": {"name": "f", "arguments": ""}}
    ]
    assert deltas[2]["tool_calls"] == [{"index": 0, "function": {"arguments": "{}"}}]
    assert deltas[3]["tool_calls"][0]["id"] == "c2"  # given only whole, at the end
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_responses_frames_count_events_and_end_with_what_they_streamed() -> None:
    from core.gateway.request import ChatRequest
    from core.gateway.responses_stream import ResponsesFrames

    req = ChatRequest("auto", "p", None, (), True, True, None, None, echo={"tools": []})
    frames = ResponsesFrames("req_1", "m", req)
    raw = frames.start("Hel") + frames.delta("lo")
    raw += frames.tool(ToolCallDelta(0, "c1", "f", '{"a":'))
    raw += frames.tool(ToolCallDelta(0, arguments=" 1}"))
    raw += frames.end(_record(response="Hello", tool_calls=[ToolCall("c1", "f", '{"a": 1}')]), {})
    events = _sse(raw)
    assert [d["sequence_number"] for _, d in events] == list(range(len(events)))
    assert all(name == d["type"] for name, d in events)
    final = events[-1][1]["response"]
    assert events[-1][0] == "response.completed" and final["status"] == "completed"
    message, call = final["output"]
    assert message["content"][0]["text"] == "Hello" and message["status"] == "completed"
    assert (call["call_id"], call["arguments"], call["status"]) == ("c1", '{"a": 1}', "completed")
    added = [d["item"]["id"] for n, d in events if n == "response.output_item.added"]
    assert added == [message["id"], call["id"]]


def test_bodies_nested_past_the_limit_are_refused_before_anything_walks_them() -> None:
    from core.gateway.request import MAX_JSON_DEPTH, read_json_object

    def nested(depth: int) -> bytes:  # the body object is level 1
        return b'{"a": ' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"

    assert read_json_object(nested(MAX_JSON_DEPTH))
    for depth in (MAX_JSON_DEPTH + 1, 50_000):
        with pytest.raises(GatewayHTTPError, match="nested too deeply"):
            read_json_object(nested(depth))


def test_anthropic_cache_marks_are_kept_as_given_or_refused_by_name() -> None:
    import json

    from core.gateway.anthropic_api import parse_messages_request
    from core.gateway.request import GatewayHTTPError

    mark = {"type": "ephemeral"}
    body = {
        "model": "auto",
        "max_tokens": 50,
        "system": [
            {"type": "text", "text": "Be brief."},
            {"type": "text", "text": " Really.", "cache_control": mark},
        ],
        "tools": [{"name": "f", "input_schema": {"type": "object"}, "cache_control": mark}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "old", "cache_control": mark}]},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": [{"type": "text", "text": "new", "cache_control": mark}]},
        ],
    }
    req = parse_messages_request(json.dumps(body).encode())
    assert req.system == "Be brief. Really." and req.system_cache_control == mark
    assert req.tools[0].cache_control == mark
    assert req.history[0].cache_control == mark and req.history[1].cache_control is None
    (last,) = req.turn  # a marked last message is sent whole, with its mark
    assert last.content == "new" and last.cache_control == mark and req.prompt == "new"

    def refused(change: dict[str, object]) -> GatewayHTTPError:
        with pytest.raises(GatewayHTTPError) as info:
            parse_messages_request(json.dumps({**body, **change}).encode())
        return info.value

    early = [{"type": "text", "text": "a", "cache_control": mark}, {"type": "text", "text": "b"}]
    err = refused({"messages": [{"role": "user", "content": early}]})
    assert (
        err.param == "messages.0.content.0.cache_control" and "only the last block" in err.message
    )
    err = refused({"system": [{"type": "text", "text": "s", "cache_control": {"type": "forever"}}]})
    assert err.param == "system.0.cache_control" and "ephemeral" in err.message
    err = refused({"tools": [{"name": "f", "input_schema": {}, "cache_control": {"ttl": "2h"}}]})
    assert err.param is not None and err.param.startswith("tools[0].cache_control")
