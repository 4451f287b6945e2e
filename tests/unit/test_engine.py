"""The pipeline end to end on the instant Simulator: every path leaves a record."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from core.accounting.prices import cost_of
from core.errors import BudgetExceededError, InputError, InputTokenLimitError
from core.events import BUDGET_ALERT, REQUEST_FINISHED


async def test_simulated_request_is_recorded_and_priced_as_the_real_model(make_engine):
    engine = make_engine()
    reply = engine.ask("What is a token?", model="fast")
    chunks = [d async for d in reply]
    rec = reply.record
    assert rec is not None and rec.status == "ok"
    assert "".join(chunks) == rec.response and rec.response
    assert rec.simulated and rec.provider == "simulator" and rec.model == "gpt-4.1-nano"
    assert rec.route_mode == "explicit" and rec.tier == "fast"
    price = engine.prices.lookup("gpt-4.1-nano")
    assert rec.cost_usd == cost_of(rec.usage, price) and rec.cost_usd > 0
    assert rec.usage.input_tokens == rec.estimated_input_tokens
    stored = engine.ledger.get(rec.request_id)
    assert (
        stored is not None and stored.cost_usd == rec.cost_usd and stored.response == rec.response
    )


async def test_max_tokens_is_always_sent_and_caps_output(make_engine):
    engine = make_engine()
    rec = await engine.ask("Explain caching " * 5, model="premium", max_output_tokens=7).collect()
    assert rec.usage.output_tokens == 7
    assert rec.finish_reason == "length"


async def test_simulator_is_deterministic_and_tiers_differ(make_engine):
    engine = make_engine()
    a = await engine.ask("How do I sort a list in Python?", model="fast").collect()
    b = await engine.ask("How do I sort a list in Python?", model="fast").collect()
    c = await engine.ask("How do I sort a list in Python?", model="premium").collect()
    assert a.response == b.response
    assert c.usage.output_tokens > 2 * a.usage.output_tokens


async def test_empty_prompt_is_rejected_and_recorded(make_engine):
    engine = make_engine()
    reply = engine.ask("   ")
    with pytest.raises(InputError, match="empty"):
        await reply.collect()
    rec = engine.ledger.get(reply.request_id)
    assert rec is not None and rec.status == "rejected" and rec.cost_usd == 0


async def test_prompt_over_input_limit_is_refused_before_any_call(make_engine):
    engine = make_engine("[budget]\nmax_input_tokens = 10\n")
    reply = engine.ask("word " * 50, model="fast")
    with pytest.raises(InputTokenLimitError, match="over the 10-token input limit"):
        await reply.collect()
    rec = reply.record
    assert rec.status == "refused" and rec.attempts == [] and rec.usage.output_tokens == 0


async def test_hard_daily_budget_refuses_with_amounts(make_engine):
    engine = make_engine("[budget]\ndaily_usd = 0.0005\nmax_output_tokens = 200\n")
    spent = Decimal(0)
    refused = None
    for i in range(40):
        reply = engine.ask(f"Tell me about topic number {i}", model="premium")
        try:
            rec = await reply.collect()
            spent += rec.cost_usd
        except BudgetExceededError as e:
            refused = e
            break
    assert refused is not None, "the budget never refused"
    assert refused.budget == "daily" and "0.0005" in str(refused) and "spent" in str(refused)
    assert spent <= Decimal("0.0005")
    assert engine.ledger.get(reply.request_id).status == "refused"


async def test_concurrent_requests_cannot_overshoot_a_hard_limit(make_engine):
    limit = Decimal("0.002")
    engine = make_engine(f"[budget]\ndaily_usd = {limit}\nmax_output_tokens = 150\n")

    async def one(i: int) -> Decimal:
        try:
            rec = await engine.ask(f"Question {i} about databases", model="premium").collect()
        except BudgetExceededError:
            return Decimal(0)
        return rec.cost_usd

    costs = await asyncio.gather(*(one(i) for i in range(60)))
    assert sum(costs) <= limit
    totals = engine.ledger.totals()
    assert totals.requests == 60 and totals.refused > 0
    assert totals.cost_usd == sum(costs)


async def test_cancel_mid_stream_records_partial_usage(make_engine):
    engine = make_engine()
    reply = engine.ask("Write a long essay about compilers", model="premium")
    got = []
    async for delta in reply:
        got.append(delta)
        if len(got) == 3:
            break
    rec = await reply.cancel()
    assert rec is not None and rec.status == "cancelled"
    assert rec.response == "".join(got)
    assert rec.usage_estimated and rec.usage.output_tokens > 0 and rec.cost_usd > 0
    assert engine.ledger.get(rec.request_id).status == "cancelled"


async def test_events_fire_for_requests_and_budget_alerts_once(make_engine):
    engine = make_engine(
        "[budget]\ndaily_usd = 1\nhard_limit = false\nalert_thresholds = [0.000001]\n"
    )
    finished, alerts = [], []
    engine.events.on(REQUEST_FINISHED, finished.append)
    engine.events.on(BUDGET_ALERT, alerts.append)
    for _ in range(3):
        await engine.ask("hello there", model="fast").collect()
    assert len(finished) == 3
    assert len(alerts) == 1 and alerts[0].budget == "daily"


async def test_a_deferred_announcement_comes_after_the_row_is_stored(make_engine):
    """With ``announce`` deferring (as the gateway's ``call_soon`` does), the finished
    event and the budget alerts wait for it, and the row is already in the ledger."""
    engine = make_engine(
        "[budget]\ndaily_usd = 1\nhard_limit = false\nalert_thresholds = [0.000001]\n"
    )
    pending: list = []
    engine.services.announce = pending.append
    finished, alerts = [], []
    engine.events.on(REQUEST_FINISHED, finished.append)
    engine.events.on(BUDGET_ALERT, alerts.append)
    rec = await engine.ask("hello there", model="fast").collect()
    assert (finished, alerts, len(pending)) == ([], [], 1)
    assert engine.ledger.get(rec.request_id) is not None
    pending.pop()()
    assert finished == [rec] and len(alerts) == 1


async def test_unknown_price_is_flagged_not_zero(make_engine):
    engine = make_engine()
    rec = await engine.ask("hi", model="simulator/not-a-real-model-xyz").collect()
    assert rec.cost_usd is None and not rec.cost_known
    assert any("no price" in w for w in rec.warnings)
    assert engine.ledger.totals().unknown_cost_requests == 1


async def test_estimate_matches_the_recorded_input(make_engine):
    engine = make_engine()
    est = engine.estimate("Summarise this paragraph please", model="balanced")
    rec = await engine.ask("Summarise this paragraph please", model="balanced").collect()
    assert est.input_tokens == rec.usage.input_tokens and not est.estimated
    price = engine.prices.lookup("gpt-4.1-mini")
    assert est.worst_case_usd == est.input_tokens * price.input_cost_per_token + (
        est.max_output_tokens * price.output_cost_per_token
    )


async def test_routing_savings_are_recorded_for_auto_routed_answers(make_engine):
    engine = make_engine()
    auto = await engine.ask("What is a token?").collect()
    explicit = await engine.ask("What is a token, really?", model="fast").collect()
    assert auto.route_mode == "auto" and auto.tier == "fast"
    top = engine.prices.lookup("gpt-4.1")
    assert auto.routing_saved_usd == cost_of(auto.usage, top) - auto.cost_usd > 0
    assert explicit.routing_saved_usd == 0  # the user chose the tier, not the router
    assert engine.get_record(auto.request_id).routing_saved_usd == auto.routing_saved_usd
    assert engine.savings_breakdown().routing_usd == auto.routing_saved_usd
