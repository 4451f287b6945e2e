"""Retries, breakers and fallbacks through the whole pipeline, against loopback
servers that speak the OpenAI and Anthropic wire formats. No real sleeping."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from core.accounting.prices import cost_of
from core.config import parse_config
from core.engine import Engine
from core.errors import (
    AuthenticationError,
    BadRequestError,
    BudgetExceededError,
    CircuitOpenError,
    OverloadedError,
)
from core.types import Secret
from tests.integration.servers import Behaviour, LoopbackServer

KEY = "sk-test-resilience-0123456789"


def _config(oa: LoopbackServer, an: LoopbackServer, extra: str = "") -> str:
    return f"""
[observability]
quality_sampling_rate = 0   # no background judge calls stealing scripted replies
[providers.simulator]
kind = "simulator"
latency_scale = 0
[providers.oa]
kind = "openai"
base_url = "{oa.base_url}"
max_attempts = 3
breaker_failure_threshold = 4
breaker_cooldown_seconds = 30
[providers.an]
kind = "anthropic"
base_url = "{an.base_url}"
max_attempts = 2
[[routing.tiers]]
id = "fast"
provider = "simulator"
model = "gpt-4.1-nano"
max_complexity = 3
[[routing.tiers]]
id = "premium"
provider = "oa"
model = "gpt-4.1"
max_complexity = 10
fallbacks = [{{ provider = "an", model = "claude-sonnet-4-5" }}]
{extra if "[cache]" in extra else extra + "[cache]" + chr(10) + "enabled = false"}
"""


@pytest.fixture
async def engine_for(
    tmp_path: Path, openai_server: LoopbackServer, anthropic_server: LoopbackServer
):
    engines: list[Engine] = []
    sleeps: list[float] = []

    def make(extra: str = "") -> Engine:
        cfg = parse_config(_config(openai_server, anthropic_server, extra), "test.toml")
        engine = Engine.open(
            cfg,
            tmp_path / "data",
            key_lookup=lambda name: Secret(KEY),
            client_factory=lambda: httpx.AsyncClient(trust_env=False),
        )

        async def fake_sleep(seconds: float) -> None:
            sleeps.append(seconds)

        engine.services.sleep = fake_sleep
        engines.append(engine)
        return engine

    make.sleeps = sleeps  # type: ignore[attr-defined]
    yield make
    for engine in engines:
        await engine.aclose()


async def test_429_with_retry_after_is_retried_and_recorded(engine_for, openai_server):
    engine = engine_for()
    openai_server.queue(Behaviour(status=429, headers={"Retry-After": "7"}), Behaviour(text="fine"))
    rec = await engine.ask("hello", model="premium").collect()
    assert rec.status == "ok" and rec.response == "fine"
    assert [a.status for a in rec.attempts] == ["error", "ok"] and rec.retries == 1
    assert engine_for.sleeps and engine_for.sleeps[0] >= 7
    assert rec.cost_usd == cost_of(rec.usage, engine.prices.lookup("gpt-4.1")) > 0
    await engine.aclose()


async def test_persistent_5xx_falls_back_to_the_tiers_other_provider(
    engine_for, openai_server, anthropic_server
):
    engine = engine_for()
    openai_server.queue(*(Behaviour(status=503) for _ in range(3)))
    anthropic_server.queue(Behaviour(text="from claude"))
    rec = await engine.ask("hello", model="premium").collect()
    assert rec.status == "ok" and rec.response == "from claude"
    assert (rec.provider, rec.model, rec.degraded) == ("an", "claude-sonnet-4-5", False)
    assert [(a.provider, a.status) for a in rec.attempts] == [("oa", "error")] * 3 + [("an", "ok")]
    assert rec.cost_usd == cost_of(rec.usage, engine.prices.lookup("claude-sonnet-4-5"))
    assert any("fallback" in w for w in rec.warnings)
    assert anthropic_server.last.headers["x-api-key"] == KEY
    await engine.aclose()


async def test_when_the_tier_is_down_a_cheaper_tier_answers_degraded(
    engine_for, openai_server, anthropic_server
):
    engine = engine_for()
    openai_server.queue(Behaviour(status=401))
    anthropic_server.queue(Behaviour(status=529), Behaviour(status=529))
    rec = await engine.ask("hello", model="premium").collect()
    assert rec.status == "ok" and rec.degraded and rec.tier == "fast"
    assert rec.provider == "simulator" and rec.simulated
    statuses = [(a.provider, a.status) for a in rec.attempts]
    assert statuses == [("oa", "error"), ("an", "error"), ("an", "error"), ("simulator", "ok")]
    await engine.aclose()


async def test_bad_request_is_not_retried_nor_fallen_back(engine_for, openai_server):
    engine = engine_for()
    openai_server.queue(Behaviour(status=400, error="max_tokens is too large"))
    reply = engine.ask("hello", model="premium")
    with pytest.raises(BadRequestError):
        await reply.collect()
    rec = engine.get_record(reply.request_id)
    assert rec.status == "error" and len(rec.attempts) == 1 and rec.cost_usd == 0
    await engine.aclose()


async def test_explicit_model_does_not_fall_back(engine_for, openai_server):
    engine = engine_for()
    openai_server.queue(Behaviour(status=401))
    reply = engine.ask("hello", model="oa/gpt-4.1-mini")
    with pytest.raises(AuthenticationError) as info:
        await reply.collect()
    assert KEY not in str(info.value) and "rejected" in str(info.value)
    assert engine.get_record(reply.request_id).error_kind == "authentication"
    await engine.aclose()


async def test_breaker_opens_and_fails_fast(engine_for, openai_server):
    engine = engine_for()
    openai_server.queue(*(Behaviour(status=500) for _ in range(4)))
    for _ in range(2):
        reply = engine.ask("hi", model="oa/gpt-4.1")
        with pytest.raises((OverloadedError, CircuitOpenError)):
            await reply.collect()
    served = len(openai_server.requests)
    reply = engine.ask("hi", model="oa/gpt-4.1")
    with pytest.raises(CircuitOpenError, match="circuit breaker is open"):
        await reply.collect()
    assert len(openai_server.requests) == served  # failed fast: no traffic
    assert ("oa", "gpt-4.1", "open") in engine.breaker_states()
    assert engine.get_record(reply.request_id).attempts[-1].status == "circuit_open"
    await engine.aclose()


async def test_fallback_to_a_pricier_model_respects_the_hard_budget(
    engine_for, openai_server, anthropic_server
):
    # Enough budget for gpt-4.1's worst case but not claude-sonnet's (pricier).
    engine = engine_for(
        '[budget]\ndaily_usd = 0.0125\nmax_output_tokens = 1000\nreservation = "worst_case"\n'
    )
    openai_server.queue(*(Behaviour(status=503) for _ in range(3)))
    reply = engine.ask("hello", model="premium")
    with pytest.raises(BudgetExceededError) as info:
        await reply.collect()
    rec = engine.get_record(reply.request_id)
    assert rec.status == "refused" and "daily budget" in str(info.value)
    assert len(anthropic_server.requests) == 0
    assert engine.ledger.period_spend(engine.services.clock()).day_reserved_pusd == 0
    assert rec.cost_usd == Decimal(0)
    await engine.aclose()


async def test_a_learned_fallback_to_a_pricier_model_runs_at_its_own_cap(
    engine_for, openai_server, anthropic_server
):
    # As above, but with learned reservations the fallback is held at the output the
    # budget can still pay for at claude-sonnet's prices, instead of being refused.
    engine = engine_for("[budget]\ndaily_usd = 0.0125\nmax_output_tokens = 1000\n")
    openai_server.queue(*(Behaviour(status=503) for _ in range(3)))
    rec = await engine.ask("hello", model="premium").collect()
    cap = anthropic_server.last.json["max_tokens"]
    assert rec.status == "ok" and rec.model == "claude-sonnet-4-5" and 800 < cap < 1000
    assert any(
        f"max_tokens capped from 1000 to {cap} by the daily budget" in w for w in rec.warnings
    )
    assert engine.ledger.period_spend(engine.services.clock()).day_reserved_pusd == 0
    assert rec.cost_usd <= Decimal("0.0125")
    await engine.aclose()


async def test_the_key_never_reaches_the_ledger_exports_or_errors(
    engine_for, openai_server, tmp_path, caplog
):
    import io
    import logging

    engine = engine_for()
    caplog.set_level(logging.DEBUG)
    openai_server.queue(Behaviour(status=401, error=f"invalid key {KEY}"), Behaviour(text="ok"))
    reply = engine.ask("secret test", model="oa/gpt-4.1")
    with pytest.raises(AuthenticationError) as info:
        await reply.collect()
    assert KEY not in str(info.value) and KEY not in repr(info.value)
    await engine.ask("secret test", model="oa/gpt-4.1").collect()
    assert openai_server.last.headers["authorization"] == f"Bearer {KEY}"
    for fmt in ("csv", "jsonl"):
        out = io.StringIO()
        engine.export(fmt, out)
        assert KEY not in out.getvalue() and "rejected" in out.getvalue()
    provider = engine.services.provider("oa")
    assert KEY not in repr(provider) and KEY not in repr(provider.api_key)
    await engine.aclose()
    blob = b"".join(p.read_bytes() for p in (tmp_path / "data").rglob("*") if p.is_file())
    assert KEY.encode() not in blob and len(blob) > 0
    assert KEY not in caplog.text


async def test_when_every_provider_fails_a_safe_cached_answer_is_served(tmp_path, openai_server):
    cfg = parse_config(
        f"""
[observability]
quality_sampling_rate = 0
[providers.oa]
kind = "openai"
base_url = "{openai_server.base_url}"
max_attempts = 2
[[routing.tiers]]
id = "fast"
provider = "oa"
model = "gpt-4.1-mini"
max_complexity = 3
[[routing.tiers]]
id = "premium"
provider = "oa"
model = "gpt-4.1"
max_complexity = 10
"""
    )
    engine = Engine.open(
        cfg,
        tmp_path / "d",
        key_lookup=lambda name: Secret(KEY),
        client_factory=lambda: httpx.AsyncClient(trust_env=False),
    )

    async def no_sleep(seconds: float) -> None:
        return None

    engine.services.sleep = no_sleep
    openai_server.queue(Behaviour(text="Paris is the capital of France."))
    first = await engine.ask("What is the capital of France?", model="fast").collect()
    openai_server.queue(*(Behaviour(status=503) for _ in range(2)))
    # A fast-tier answer never serves a request pinned to gpt-4.1... unless every
    # provider is down: then, as a last resort, it is served and flagged "fallback".
    # (Routed to "premium", it would be served before the fast tier is called: see
    # tests/unit/test_engine_cache_degraded.py.)
    rec = await engine.ask("What's the capital city of France?", model="oa/gpt-4.1").collect()
    assert rec.status == "ok" and rec.cache_outcome == "fallback", rec.warnings
    assert rec.response == first.response and rec.cache_matched_request_id == first.request_id
    assert rec.cost_usd == 0 and [a.status for a in rec.attempts] == ["error"] * 2
    openai_server.queue(*(Behaviour(status=503) for _ in range(4)))
    reply = engine.ask("Convert 100 USD to EUR", model="premium")
    with pytest.raises(OverloadedError):
        await reply.collect()  # nothing safe in the cache: the failure stands
    await engine.aclose()
