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
from core.gateway.openai_api import GatewayHTTPError, error_for, parse_chat_request
from core.keys import KeyStore
from core.types import RequestRecord


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


def test_a_field_passes_only_at_its_default_value() -> None:
    from core.gateway.fields import OPENAI_DEFAULTS, refuse_unhonoured

    def bad(message: str, field: str) -> ValueError:
        return ValueError(field)

    honoured = frozenset({"model"})
    for ok in ({"presence_penalty": 0.0}, {"logprobs": False}, {"tools": []}, {"user": None}):
        refuse_unhonoured({"model": "m", **ok}, honoured, OPENAI_DEFAULTS, bad)
    refused_ones = ({"presence_penalty": False}, {"logprobs": 0}, {"tools": [{}]}, {"user": "u"})
    for refused in (*refused_ones, {"x": 1}):
        with pytest.raises(ValueError, match=next(iter(refused))):
            refuse_unhonoured(refused, honoured, OPENAI_DEFAULTS, bad)
