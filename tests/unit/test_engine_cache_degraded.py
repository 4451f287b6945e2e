"""The cache before a degraded call: when a request falls back to a cheaper tier, an
answer the cache holds for that tier is served instead of paid for again."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from core.engine import Engine
from core.errors import AuthenticationError
from core.money import to_pusd
from core.types import ProviderEvent, ProviderRequest

# One Simulator per tier, so each tier's calls can be counted or made to fail.
TIERS = """
[budget]
daily_usd = 10
[providers.sim_fast]
kind = "simulator"
latency_scale = 0
[providers.sim_mid]
kind = "simulator"
latency_scale = 0
[providers.sim_top]
kind = "simulator"
latency_scale = 0
[[routing.tiers]]
id = "fast"
provider = "sim_fast"
model = "gpt-4.1-nano"
max_complexity = 3
[[routing.tiers]]
id = "balanced"
provider = "sim_mid"
model = "gpt-4.1-mini"
max_complexity = 6
[[routing.tiers]]
id = "premium"
provider = "sim_top"
model = "gpt-4.1"
max_complexity = 10
"""

PROMPT = "How long do cats live?"
PARAPHRASE = "What is the average lifespan of a cat?"


class Calls:
    """Counts one provider's calls; while ``failing`` is set, each call raises it."""

    def __init__(self, engine: Engine, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
        self.requests: list[ProviderRequest] = []
        self.failing: Exception | None = None
        provider = engine.services.provider(name)
        real = provider.stream

        async def stream(request: ProviderRequest) -> AsyncIterator[ProviderEvent]:
            self.requests.append(request)
            if self.failing is not None:
                raise self.failing
            async for event in real(request):
                yield event

        monkeypatch.setattr(provider, "stream", stream)

    def __len__(self) -> int:
        return len(self.requests)


@pytest.fixture
def engine(make_engine) -> Engine:
    return make_engine(TIERS, cache=True)


@pytest.fixture
def calls(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> dict[str, Calls]:
    return {name: Calls(engine, name, monkeypatch) for name in ("sim_fast", "sim_mid", "sim_top")}


def _down(*providers: Calls) -> None:
    for provider in providers:
        provider.failing = AuthenticationError("401: key revoked", status=401)


@pytest.mark.parametrize(("asked", "outcome"), [(PROMPT, "exact"), (PARAPHRASE, "semantic")])
async def test_a_cheaper_tiers_cached_answer_is_served_not_paid_for_again(
    engine, calls, monkeypatch, asked, outcome
):
    first = await engine.ask(PROMPT, model="balanced").collect()
    assert first.cache_outcome == "miss" and first.cost_usd > 0 and len(calls["sim_mid"]) == 1
    reserved: list[str | None] = []
    real_reserve = engine.ledger.reserve
    monkeypatch.setattr(
        engine.ledger,
        "reserve",
        lambda *a, **kw: reserved.append(real_reserve(*a, **kw)) or reserved[-1],
    )
    _down(calls["sim_top"])
    rec = await engine.ask(asked, model="premium").collect()
    assert len(calls["sim_top"]) == 1 and len(calls["sim_mid"]) == 1 and len(calls["sim_fast"]) == 0
    assert rec.status == "ok" and rec.degraded and rec.tier == "balanced"
    assert rec.cache_outcome == outcome and rec.cache_matched_request_id == first.request_id
    assert rec.response == first.response and rec.model == first.model
    assert rec.cost_usd == 0 and rec.saved_usd == first.cost_usd
    assert [(a.provider, a.status, a.usage) for a in rec.attempts] == [("sim_top", "error", None)]
    assert any(
        w.startswith("a cheaper tier: served its cached answer after: ") for w in rec.warnings
    )
    # The premium call's reservation was made, then dropped: nothing is charged.
    spend = engine.ledger.period_spend(engine.services.clock())
    assert len(reserved) == 1 and reserved[0] is not None
    assert spend.day_reserved_pusd == 0 and spend.day_spent_pusd == to_pusd(first.cost_usd)
    assert engine.services.semantic_cache_now().count() == 1  # not filed a second time


async def test_with_nothing_cached_the_cheaper_tier_is_called_as_before(engine, calls):
    _down(calls["sim_top"])
    rec = await engine.ask(PROMPT, model="premium").collect()
    assert len(calls["sim_mid"]) == 1 and len(calls["sim_fast"]) == 0
    assert rec.status == "ok" and rec.degraded and rec.tier == "balanced"
    assert rec.cache_outcome == "miss" and rec.cost_usd > 0 and rec.saved_usd == 0
    assert any("a cheaper tier: sim_mid/gpt-4.1-mini answered after" in w for w in rec.warnings)
    assert engine.services.semantic_cache_now().count() == 1  # its answer is filed


async def test_an_answer_from_below_the_cheaper_tier_is_not_served(engine, calls):
    fast = await engine.ask(PROMPT, model="fast").collect()
    _down(calls["sim_top"])
    rec = await engine.ask(PROMPT, model="premium").collect()
    assert len(calls["sim_mid"]) == 1  # the fast answer is below the balanced floor
    assert rec.degraded and rec.tier == "balanced" and rec.cache_outcome == "miss"
    assert rec.response != fast.response and rec.cost_usd > 0


async def test_each_cheaper_tier_is_looked_up_with_its_own_floor(engine, calls):
    fast = await engine.ask(PROMPT, model="fast").collect()
    _down(calls["sim_top"], calls["sim_mid"])
    rec = await engine.ask(PROMPT, model="premium").collect()
    assert len(calls["sim_mid"]) == 1 and len(calls["sim_fast"]) == 1  # only the first ask
    assert rec.degraded and rec.tier == "fast" and rec.cache_outcome == "exact"
    assert rec.response == fast.response and rec.cost_usd == 0 and rec.saved_usd == fast.cost_usd
    assert [(a.provider, a.status) for a in rec.attempts] == [
        ("sim_top", "error"),
        ("sim_mid", "error"),
    ]
