"""The local gateway over HTTP on 127.0.0.1: endpoints, auth, headers, errors, metrics."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from core.config import parse_config
from core.errors import ConfigError
from core.gateway import start_gateway
from core.gateway.logs import JsonFormatter
from core.money import usd_str
from tests.integration.gateway_support import (
    TOKEN,
    auth,
    open_engine,
    running_gateway,
    sim_config_text,
)

CHAT = {"model": "fast", "messages": [{"role": "user", "content": "What is a ledger?"}]}


def _sse_events(text: str) -> tuple[list[dict[str, object]], list[str]]:
    """(data objects, comment lines) of an SSE body; stops at [DONE]."""
    data, comments = [], []
    for block in text.split("\n\n"):
        block = block.strip()
        if block.startswith(":"):
            comments.append(block[1:].strip())
        elif block.startswith("data: ") and block != "data: [DONE]":
            data.append(json.loads(block[6:]))
    return data, comments


def test_plain_completion_has_headers_and_is_recorded(tmp_path: Path) -> None:
    with running_gateway(tmp_path / "data") as gw:
        r = httpx.post(f"{gw.url}/v1/chat/completions", json=CHAT, headers=auth())
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["content"]
    assert body["usage"]["prompt_tokens"] > 0
    rid = r.headers["x-request-id"]
    assert r.headers["x-centwise-tier"] == "fast"
    assert r.headers["x-centwise-cache"] == "miss"
    engine = open_engine(tmp_path / "data")
    try:
        rec = engine.get_record(rid)
    finally:
        engine.close()
    assert rec is not None and rec.purpose == "gateway" and rec.status == "ok"
    assert rec.cost_usd is not None and rec.cost_usd > 0
    assert r.headers["x-centwise-cost-usd"] == usd_str(rec.cost_usd)
    assert Decimal(body["centwise"]["cost_usd"]) == rec.cost_usd
    assert body["choices"][0]["message"]["content"] == rec.response


def test_stream_sends_sse_with_cost_in_final_chunk_and_usage(tmp_path: Path) -> None:
    payload = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    with (
        running_gateway(tmp_path / "data") as gw,
        httpx.stream("POST", f"{gw.url}/v1/chat/completions", json=payload, headers=auth()) as r,
    ):
        text = r.read().decode()
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.headers["x-centwise-tier"] == "fast" and r.headers["x-centwise-cache"] == "miss"
    assert "x-centwise-cost-usd" not in r.headers  # unknown until the end: see the body
    assert text.rstrip().endswith("data: [DONE]")
    data, comments = _sse_events(text)
    content = "".join(
        c["choices"][0]["delta"].get("content") or ""  # type: ignore[index]
        for c in data
        if c["choices"]
    )
    finals = [c for c in data if c["choices"] and c["choices"][0]["finish_reason"]]  # type: ignore[index]
    assert len(finals) == 1 and finals[0]["centwise"]["tier"] == "fast"  # type: ignore[index]
    usage_chunk = data[-1]
    assert usage_chunk["choices"] == [] and usage_chunk["usage"]["completion_tokens"] > 0  # type: ignore[index]
    engine = open_engine(tmp_path / "data")
    try:
        rec = engine.get_record(r.headers["x-request-id"])
    finally:
        engine.close()
    assert rec is not None and rec.response == content
    assert finals[0]["centwise"]["cost_usd"] == usd_str(rec.cost_usd)  # type: ignore[index]
    assert comments and json.loads(comments[-1].removeprefix("centwise "))["cost_usd"] == usd_str(
        rec.cost_usd
    )


def test_stream_without_include_usage_sends_no_usage_chunk(tmp_path: Path) -> None:
    with running_gateway(tmp_path / "data") as gw:
        r = httpx.post(
            f"{gw.url}/v1/chat/completions", json={**CHAT, "stream": True}, headers=auth()
        )
    data, _ = _sse_events(r.text)
    assert all(c["choices"] for c in data)
    assert all("usage" not in c for c in data)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}],
)
def test_requests_without_the_token_get_401(tmp_path: Path, headers: dict[str, str]) -> None:
    with running_gateway(tmp_path / "data") as gw:
        chat = httpx.post(f"{gw.url}/v1/chat/completions", json=CHAT, headers=headers)
        models = httpx.get(f"{gw.url}/v1/models", headers=headers)
        metrics = httpx.get(f"{gw.url}/metrics", headers=headers)
        health = httpx.get(f"{gw.url}/health")
    for r in (chat, models, metrics):
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "invalid_api_key"
        assert "x-request-id" in r.headers
    assert health.status_code == 200


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{not json", "not valid JSON"),
        (json.dumps({"model": "fast"}).encode(), "messages"),
        (json.dumps({"messages": CHAT["messages"]}).encode(), "model is required"),
        (json.dumps({**CHAT, "model": "no-such-model"}).encode(), "unknown model"),
        (json.dumps({**CHAT, "n": 2}).encode(), "n=1"),
        (json.dumps({**CHAT, "tools": [{"type": "function"}]}).encode(), "tools"),
        (json.dumps({**CHAT, "logit_bias": {"50256": -100}}).encode(), "logit_bias is not"),
        (json.dumps({**CHAT, "top_p": 2}).encode(), "top_p must be a number from 0 to 1"),
        (
            json.dumps({**CHAT, "response_format": {"type": "xml"}}).encode(),
            "response_format.type must be text, json_object or json_schema",
        ),
        (
            json.dumps({**CHAT, "response_format": {"type": "json_schema"}}).encode(),
            "response_format.json_schema needs a 'schema' object",
        ),
        (json.dumps({**CHAT, "audio": {"voice": "x"}}).encode(), "audio is not supported"),
        (json.dumps({**CHAT, "seed": "7"}).encode(), "seed must be an integer"),
        (json.dumps({**CHAT, "stop": ["a", "b", "c", "d", "e"]}).encode(), "up to 4"),
        (json.dumps({**CHAT, "frobnicate": 1}).encode(), "frobnicate: unknown field"),
        (b'{"model": "fast", "messages": ' + b"[" * 5000 + b"]" * 5000 + b"}", "nested too deeply"),
        (json.dumps({**CHAT, "max_tokens": -1}).encode(), "max_tokens"),
        (
            json.dumps(
                {"model": "fast", "messages": [{"role": "assistant", "content": "hi"}]}
            ).encode(),
            "last message",
        ),
    ],
)
def test_bad_requests_get_400_in_openai_shape(tmp_path: Path, body: bytes, fragment: str) -> None:
    with running_gateway(tmp_path / "data") as gw:
        r = httpx.post(
            f"{gw.url}/v1/chat/completions",
            content=body,
            headers={**auth(), "content-type": "application/json"},
        )
    engine = open_engine(tmp_path / "data")
    try:
        rec = engine.get_record(r.headers["x-request-id"])
    finally:
        engine.close()
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error" and fragment in err["message"]
    assert set(err) == {"message", "type", "param", "code"}
    # Refused, and still in the ledger with its reason.
    assert rec is not None and rec.status == "rejected" and fragment in (rec.error or "")


def test_oversize_body_gets_413(tmp_path: Path) -> None:
    with running_gateway(tmp_path / "data", "[gateway]\nmax_body_bytes = 2000\n") as gw:
        big = {"model": "fast", "messages": [{"role": "user", "content": "x" * 5000}]}
        r = httpx.post(f"{gw.url}/v1/chat/completions", json=big, headers=auth())
        ok = httpx.post(f"{gw.url}/v1/chat/completions", json=CHAT, headers=auth())
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"
    assert ok.status_code == 200


def test_oversize_chunked_body_gets_413(tmp_path: Path) -> None:
    def chunks() -> object:
        yield b'{"model": "fast", "messages": [{"role": "user", "content": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"}]}'

    with running_gateway(tmp_path / "data", "[gateway]\nmax_body_bytes = 2000\n") as gw:
        r = httpx.post(f"{gw.url}/v1/chat/completions", content=chunks(), headers=auth())  # type: ignore[arg-type]
    assert r.status_code == 413


BUDGET = "[budget]\ndaily_usd = 0.000001\nmax_output_tokens = 500\n"


@pytest.mark.parametrize("stream", [False, True])
def test_budget_refusal_is_429_that_says_why(tmp_path: Path, stream: bool) -> None:
    with running_gateway(tmp_path / "data", BUDGET) as gw:
        r = httpx.post(
            f"{gw.url}/v1/chat/completions", json={**CHAT, "stream": stream}, headers=auth()
        )
    assert r.status_code == 429
    err = r.json()["error"]
    assert err["type"] == "insufficient_quota" and err["code"] == "budget_exceeded"
    assert "refused by the daily budget" in err["message"]
    assert r.headers["x-should-retry"] == "false"
    engine = open_engine(tmp_path / "data")
    try:
        rec = engine.get_record(r.headers["x-request-id"])
    finally:
        engine.close()
    assert rec is not None and rec.status == "refused"


def test_models_lists_auto_tiers_and_models(tmp_path: Path) -> None:
    with running_gateway(tmp_path / "data") as gw:
        r = httpx.get(f"{gw.url}/v1/models", headers=auth())
    ids = [m["id"] for m in r.json()["data"]]
    assert ids[:4] == ["auto", "fast", "balanced", "premium"]
    assert {"gpt-4.1-nano", "gpt-4.1-mini", "gpt-4.1"} <= set(ids)


@pytest.mark.parametrize("model", ["auto", "balanced", "gpt-4.1", "simulator/gpt-4.1-mini"])
def test_model_may_be_auto_a_tier_or_a_model(tmp_path: Path, model: str) -> None:
    with running_gateway(tmp_path / "data") as gw:
        r = httpx.post(
            f"{gw.url}/v1/chat/completions", json={**CHAT, "model": model}, headers=auth()
        )
    assert r.status_code == 200, r.text
    expected = {"balanced": "gpt-4.1-mini", "gpt-4.1": "gpt-4.1"}.get(model)
    if expected:
        assert r.json()["model"] == expected


def test_metrics_count_requests_tokens_cost_and_latency(tmp_path: Path) -> None:
    with running_gateway(tmp_path / "data", BUDGET.replace("0.000001", "100")) as gw:
        for _ in range(3):
            httpx.post(f"{gw.url}/v1/chat/completions", json=CHAT, headers=auth())
        httpx.post(f"{gw.url}/v1/chat/completions", json={**CHAT, "stream": True}, headers=auth())
        text = httpx.get(f"{gw.url}/metrics", headers=auth()).text
    samples = _samples(text)
    fast = {"tier": "fast", "model": "gpt-4.1-nano", "provider": "simulator"}
    assert samples[("centwise_requests_total", _key({**fast, "status": "ok"}))] == 4
    assert samples[("centwise_cache_lookups_total", _key({**fast, "outcome": "miss"}))] == 4
    assert samples[("centwise_request_latency_seconds_count", _key(fast))] == 4
    assert samples[("centwise_time_to_first_token_seconds_count", _key(fast))] == 4
    assert samples[("centwise_tokens_total", _key({**fast, "direction": "output"}))] > 0
    assert samples[("centwise_cost_usd_total", _key(fast))] > 0


def _key(labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, _key(s.labels)): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_registry_is_per_app(tmp_path: Path) -> None:
    with running_gateway(tmp_path / "a") as one:
        httpx.post(f"{one.url}/v1/chat/completions", json=CHAT, headers=auth())
        with running_gateway(tmp_path / "b") as two:
            text = httpx.get(f"{two.url}/metrics", headers=auth()).text
    assert "centwise_requests_total{" not in text


def test_binding_beyond_loopback_needs_allow_remote(tmp_path: Path) -> None:
    config = parse_config(sim_config_text(), "t.toml")
    with pytest.raises(ConfigError, match="allow-remote"):
        start_gateway(config, tmp_path / "d", TOKEN, host="0.0.0.0", port=0)


def test_logs_are_json_with_request_id_and_no_prompt_unless_enabled(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fmt = JsonFormatter(lambda: [TOKEN])
    caplog.set_level(logging.INFO, logger="core.gateway")
    with running_gateway(tmp_path / "a") as gw:
        r = httpx.post(f"{gw.url}/v1/chat/completions", json=CHAT, headers=auth())
    lines = [json.loads(fmt.format(rec)) for rec in caplog.records if rec.msg == "request"]
    assert lines[-1]["request_id"] == r.headers["x-request-id"]
    assert lines[-1]["http_status"] == 200 and lines[-1]["tier"] == "fast"
    assert "prompt" not in lines[-1]
    caplog.clear()
    secret_prompt = f"my token is {TOKEN}"
    with running_gateway(tmp_path / "b", "[gateway]\nlog_prompts = true\n") as gw:
        body = {"model": "fast", "messages": [{"role": "user", "content": secret_prompt}]}
        httpx.post(f"{gw.url}/v1/chat/completions", json=body, headers=auth())
    out = [fmt.format(rec) for rec in caplog.records if rec.msg == "request"][-1]
    assert "my token is ***" in json.loads(out)["prompt"]
    assert TOKEN not in out


def test_client_hanging_up_mid_stream_is_recorded_as_cancelled(tmp_path: Path) -> None:
    slow = '[providers.slow]\nkind = "simulator"\nlatency_scale = 1\n'
    body = {**CHAT, "model": "slow/gpt-4.1", "stream": True, "max_tokens": 400}
    with running_gateway(tmp_path / "data", slow) as gw:
        with httpx.stream("POST", f"{gw.url}/v1/chat/completions", json=body, headers=auth()) as r:
            rid = r.headers["x-request-id"]
            next(r.iter_raw())  # the first chunk, then hang up
        engine = open_engine(tmp_path / "data")
        try:
            for _ in range(200):  # the gateway notices the hang-up within moments
                rec = engine.get_record(rid)
                if rec is not None:
                    break
                time.sleep(0.02)
        finally:
            engine.close()
    assert rec is not None and rec.status == "cancelled"
    assert rec.response  # what was streamed before the hang-up is kept


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    return subprocess.run(
        [sys.executable, "-m", "core", *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_cli_show_token_without_keyring_says_it_is_not_saved(tmp_path: Path) -> None:
    out = _cli("--data-dir", str(tmp_path), "serve", "--show-token")
    assert out.returncode == 0
    assert out.stdout.strip().startswith("cw-") and "NOT saved" in out.stderr


def test_cli_refuses_a_non_loopback_bind_without_the_flag(tmp_path: Path) -> None:
    out = _cli("--data-dir", str(tmp_path), "serve", "--host", "0.0.0.0", "--port", "1")
    assert out.returncode == 2 and "--allow-remote" in out.stderr


MESSAGES_BODY = {
    "model": "fast",
    "max_tokens": 200,
    "system": [{"type": "text", "text": "Be brief."}],
    "messages": [{"role": "user", "content": "What is a ledger?"}],
}


def test_anthropic_messages_plain_with_x_api_key(tmp_path: Path) -> None:
    with running_gateway(tmp_path / "data") as gw:
        r = httpx.post(f"{gw.url}/v1/messages", json=MESSAGES_BODY, headers={"x-api-key": TOKEN})
        bad = httpx.post(f"{gw.url}/v1/messages", json=MESSAGES_BODY, headers={"x-api-key": "no"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["type"] == "message" and body["content"][0]["text"]
    assert body["stop_reason"] in ("end_turn", "max_tokens")
    assert r.headers["x-centwise-tier"] == "fast" and r.headers["x-centwise-cost-usd"]
    engine = open_engine(tmp_path / "data")
    try:
        rec = engine.get_record(r.headers["x-request-id"])
    finally:
        engine.close()
    assert rec is not None and rec.system == "Be brief." and rec.purpose == "gateway"
    assert body["usage"]["output_tokens"] == rec.usage.output_tokens
    assert bad.status_code == 401 and bad.json()["error"]["type"] == "authentication_error"


def test_anthropic_messages_stream_events(tmp_path: Path) -> None:
    with running_gateway(tmp_path / "data") as gw:
        r = httpx.post(
            f"{gw.url}/v1/messages", json={**MESSAGES_BODY, "stream": True}, headers=auth()
        )
    events = [
        (block.split("\n")[0].removeprefix("event: "), json.loads(block.split("\n")[1][6:]))
        for block in r.text.strip().split("\n\n")
    ]
    names = [name for name, _ in events]
    assert names[:2] == ["message_start", "content_block_start"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    text = "".join(d["delta"]["text"] for n, d in events if n == "content_block_delta")
    final = events[-2][1]
    assert final["usage"]["output_tokens"] > 0 and final["centwise"]["cost_usd"]
    engine = open_engine(tmp_path / "data")
    try:
        rec = engine.get_record(r.headers["x-request-id"])
    finally:
        engine.close()
    assert rec is not None and rec.response == text


@pytest.mark.parametrize(
    ("extra", "status", "kind"),
    [
        ("", 400, "invalid_request_error"),
        ("[budget]\ndaily_usd = 0.000001\n", 429, "rate_limit_error"),
    ],
)
def test_anthropic_errors_use_anthropic_shape(
    tmp_path: Path, extra: str, status: int, kind: str
) -> None:
    body = {**MESSAGES_BODY}
    if status == 400:
        del body["max_tokens"]
    with running_gateway(tmp_path / "data", extra) as gw:
        r = httpx.post(f"{gw.url}/v1/messages", json=body, headers=auth())
    assert r.status_code == status
    assert r.json()["type"] == "error" and r.json()["error"]["type"] == kind


def test_chat_endpoint_keeps_the_method_rules_of_its_route(tmp_path: Path) -> None:
    """POST /v1/chat/completions skips the router (see _GatewayApp); other methods on
    that path still go through it and get its 405."""
    with running_gateway(tmp_path / "data") as gw:
        r = httpx.get(f"{gw.url}/v1/chat/completions", headers=auth())
        ok = httpx.post(f"{gw.url}/v1/chat/completions", json=CHAT, headers=auth())
    assert r.status_code == 405
    assert ok.status_code == 200


def test_an_unexpected_error_in_chat_is_a_500_and_the_gateway_carries_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What Starlette's error middleware did for this route, the server now does: the
    client gets a bare 500 (uvicorn logs the traceback) and later requests are served."""
    import core.gateway.formats as gateway_app

    def broken(body: bytes) -> object:
        raise RuntimeError("a bug in the request parser")

    with running_gateway(tmp_path / "data") as gw:
        with monkeypatch.context() as patch:
            patch.setattr(gateway_app, "parse_chat_request", broken)
            r = httpx.post(f"{gw.url}/v1/chat/completions", json=CHAT, headers=auth())
        after = httpx.post(f"{gw.url}/v1/chat/completions", json=CHAT, headers=auth())
    assert r.status_code == 500
    assert "a bug in the request parser" not in r.text  # no internals to the client
    assert after.status_code == 200


def test_fields_at_their_defaults_pass_and_the_anthropic_side_refuses_by_name(
    tmp_path: Path,
) -> None:
    defaults = {**CHAT, "top_p": 1, "stop": None, "tools": [], "presence_penalty": 0.0}
    with running_gateway(tmp_path / "data") as gw:
        ok = httpx.post(f"{gw.url}/v1/chat/completions", json=defaults, headers=auth())
        top_k = httpx.post(
            f"{gw.url}/v1/messages", json={**MESSAGES_BODY, "top_k": 5}, headers=auth()
        )
        fine = httpx.post(
            f"{gw.url}/v1/messages", json={**MESSAGES_BODY, "stop_sequences": []}, headers=auth()
        )
    assert ok.status_code == 200, ok.text
    assert top_k.status_code == 400 and "top_k is not supported" in top_k.json()["error"]["message"]
    assert fine.status_code == 200, fine.text


def test_sampling_settings_reach_the_model(tmp_path: Path) -> None:
    with running_gateway(tmp_path / "data", "[cache]\nenabled = false\n") as gw:
        full = httpx.post(f"{gw.url}/v1/chat/completions", json=CHAT, headers=auth()).json()
        text = full["choices"][0]["message"]["content"]
        stop = text.split()[4]
        cut = httpx.post(
            f"{gw.url}/v1/chat/completions",
            json={**CHAT, "stop": stop, "top_p": 0.5, "seed": 3},
            headers=auth(),
        )
        anthropic = httpx.post(
            f"{gw.url}/v1/messages",
            json={**MESSAGES_BODY, "stop_sequences": [stop], "top_p": 0.5},
            headers=auth(),
        )
    assert cut.status_code == 200, cut.text
    answer = cut.json()["choices"][0]["message"]["content"]
    assert stop not in answer and text.startswith(answer) and len(answer) < len(text)
    assert anthropic.status_code == 200, anthropic.text


SCHEMA = {
    "type": "object",
    "properties": {
        "term": {"type": "string"},
        "uses": {"type": "array", "items": {"type": "string"}, "minItems": 2},
        "kind": {"enum": ["book", "database"]},
        "year": {"type": "integer", "minimum": 1494},
    },
    "required": ["term", "uses", "kind", "year"],
}


def test_json_output_follows_the_requested_schema(tmp_path: Path) -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "entry", "schema": SCHEMA}}
    with running_gateway(tmp_path / "data") as gw:
        text = httpx.post(f"{gw.url}/v1/chat/completions", json=CHAT, headers=auth())
        as_json = httpx.post(
            f"{gw.url}/v1/chat/completions", json={**CHAT, "response_format": fmt}, headers=auth()
        )
        plain = httpx.post(
            f"{gw.url}/v1/chat/completions",
            json={**CHAT, "response_format": {"type": "json_object"}},
            headers=auth(),
        )
    assert as_json.status_code == 200, as_json.text
    assert as_json.headers["x-centwise-cache"] == "miss"  # JSON output is another cache key
    value = json.loads(as_json.json()["choices"][0]["message"]["content"])
    assert set(value) == {"term", "uses", "kind", "year"}
    assert isinstance(value["term"], str) and value["term"]
    assert len(value["uses"]) == 2 and value["kind"] == "book" and value["year"] == 1494
    obj = json.loads(plain.json()["choices"][0]["message"]["content"])
    assert obj == {"answer": text.json()["choices"][0]["message"]["content"]}
