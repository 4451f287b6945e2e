"""Learned budget reservations: answer lengths, the sizing rule, caps and their
warnings, and no overshoot under a concurrent burst (issue 20)."""

from __future__ import annotations

import asyncio
import math
from datetime import date
from decimal import Decimal

import pytest

from core.accounting.budget import MIN_OUTPUT, PLENTIFUL, size_hold
from core.accounting.output_lengths import OutputLengths, PromptKind, prompt_kind, record_kind
from core.accounting.prices import ModelPrice, worst_case_cost
from core.config import parse_config
from core.errors import BudgetExceededError, ConfigError
from core.ledger import Ledger
from core.money import to_pusd
from core.types import RequestRecord, Usage

TEXT = prompt_kind("user", tools=False, json=False, input_tokens=14)
PRICE = ModelPrice(
    "m", None, Decimal("0.000002"), Decimal("0.000008"), None, None, None, None, None
)


def _record(out: int, **kw: object) -> RequestRecord:
    fields: dict[str, object] = {
        "request_id": f"r{out}",
        "started_at": 0.0,
        "finished_at": 1.0,
        "model": "gpt-4.1",
        "usage": Usage(14, out),
        "estimated_input_tokens": 14,
    }
    return RequestRecord(**{**fields, **kw})  # type: ignore[arg-type]


# -- learned lengths ----------------------------------------------------------------


def test_prompt_kinds_split_by_purpose_shape_and_size():
    assert prompt_kind("user", tools=True, json=True, input_tokens=0) == PromptKind(
        "user", "tools", "<256"
    )
    assert prompt_kind("context", tools=False, json=True, input_tokens=255).shape == "json"
    assert prompt_kind("user", tools=False, json=False, input_tokens=256).size == "<2048"
    assert prompt_kind("user", tools=False, json=False, input_tokens=2048).size == ">=2048"
    detail = {"tools": [{"name": "f"}], "response_format": {"type": "json_object"}}
    rec = _record(5, request_detail=detail, estimated_input_tokens=None, usage=Usage(3000, 5))
    assert record_kind(rec) == PromptKind("user", "tools", ">=2048")


def test_p95_needs_enough_samples_then_falls_back_to_the_model():
    lengths = OutputLengths(min_samples=20)
    for n in range(1, 20):
        lengths.add("gpt-4.1", TEXT, n)
    assert lengths.p95("gpt-4.1", TEXT) is None  # 19 samples: not yet
    lengths.add("gpt-4.1", TEXT, 20)
    assert lengths.p95("gpt-4.1", TEXT) == 19  # nearest rank: ceil(0.95 * 20) = 19th
    json_kind = prompt_kind("user", tools=False, json=True, input_tokens=14)
    assert lengths.p95("gpt-4.1", json_kind) == 19  # the model's, over every kind
    assert lengths.p95("gpt-4.1-nano", TEXT) is None


def test_the_window_keeps_only_the_latest_answers():
    lengths = OutputLengths(window=50, min_samples=20)
    for _ in range(50):
        lengths.add("m", TEXT, 1000)
    for _ in range(50):
        lengths.add("m", TEXT, 10)
    assert lengths.samples("m", TEXT) == 50 and lengths.p95("m", TEXT) == 10


def test_only_answers_a_provider_reported_are_learned():
    lengths = OutputLengths()
    assert lengths.learn(_record(100))
    assert not lengths.learn(_record(100, cache_outcome="exact"))
    assert not lengths.learn(_record(100, status="error"))
    assert not lengths.learn(_record(100, status="refused"))
    assert not lengths.learn(_record(100, usage_estimated=True))
    assert not lengths.learn(_record(100, model=None))
    assert lengths.samples("gpt-4.1") == 1


# -- the sizing rule ----------------------------------------------------------------


def _pusd(inp: int, out: int) -> int:
    cost = worst_case_cost(inp, out, PRICE)
    assert cost is not None
    return to_pusd(cost)


def test_plentiful_money_holds_the_worst_case_uncapped():
    worst = _pusd(100, 1000)
    assert size_hold(PLENTIFUL * worst, 100, 1000, PRICE, p95=50).max_tokens == 1000
    assert size_hold(PLENTIFUL * worst, 100, 1000, PRICE, p95=50).amount_pusd == worst


def test_tight_money_caps_at_the_learned_p95_and_holds_that_cost():
    left = 5 * _pusd(100, 1000)
    sized = size_hold(left, 100, 1000, PRICE, p95=200)
    assert sized is not None and sized.max_tokens == 250 and sized.amount_pusd == _pusd(100, 250)
    tiny = size_hold(left, 100, 1000, PRICE, p95=3)
    assert tiny is not None and tiny.max_tokens == MIN_OUTPUT  # never below 16 tokens
    asked_less = size_hold(left, 100, 120, PRICE, p95=200)
    assert asked_less is not None and asked_less.max_tokens == 120


def test_tight_money_caps_at_what_is_left_and_refuses_below_the_minimum():
    left = _pusd(100, 300) + 5  # room for 300 output tokens, and a bit
    for p95 in (None, 900):
        sized = size_hold(left, 100, 1000, PRICE, p95=p95)
        assert sized is not None and sized.max_tokens == 300 and sized.amount_pusd <= left
    assert size_hold(_pusd(100, MIN_OUTPUT), 100, 1000, PRICE, None).max_tokens == MIN_OUTPUT
    assert size_hold(_pusd(100, MIN_OUTPUT) - 1, 100, 1000, PRICE, None) is None
    assert size_hold(_pusd(100, 5), 100, 5, PRICE, None).max_tokens == 5  # asked for 5
    assert size_hold(-1, 100, 1000, PRICE, None) is None


def test_the_ledger_sizes_a_hold_under_its_lock(tmp_path):
    with Ledger.open(tmp_path / "l.db") as ledger:
        seen = []
        rid = ledger.reserve("a", 0, 1000.0, seen.append, amount_for=lambda s: 700)
        other = ledger.reserve(
            "b", 0, 1000.0, lambda s: None, amount_for=lambda s: s.day_reserved_pusd + 1
        )
        spend = ledger.period_spend(1000.0)
        assert rid and other and len(seen) == 1 and spend.day_reserved_pusd == 700 + 701
        with pytest.raises(ValueError):
            ledger.reserve("c", 0, 1000.0, lambda s: None, amount_for=lambda s: -1)
        assert ledger.period_spend(1000.0).day_reserved_pusd == 1401  # rolled back


def test_an_unknown_reservation_mode_is_a_config_error():
    with pytest.raises(ConfigError, match=r"budget\.reservation"):
        parse_config('[budget]\nreservation = "p95"\n')
    assert parse_config("").budget.reservation == "learned"


# -- through the engine -------------------------------------------------------------

PREMIUM_OUT = Decimal("0.000008")  # gpt-4.1, the Simulator's premium tier


def _warm(engine, tokens: int = 40, n: int = 30) -> None:
    for _ in range(n):
        engine.services.budget.lengths.add("gpt-4.1", TEXT, tokens)


async def test_a_tight_budget_caps_at_the_learned_length_and_says_so(make_engine):
    engine = make_engine("[budget]\ndaily_usd = 0.05\n")
    _warm(engine, tokens=40)
    rec = await engine.ask("Explain how a database index works", model="premium").collect()
    cap = math.ceil(40 * 1.25)
    assert rec.status == "ok" and rec.usage.output_tokens <= cap and rec.finish_reason == "length"
    assert any(
        w.startswith(f"max_tokens capped from 1024 to {cap} by the daily budget: $0.05")
        for w in rec.warnings
    )
    assert any("the budget cap cut the answer short" in w for w in rec.warnings)
    assert rec.cost_usd <= worst_case_cost(rec.estimated_input_tokens, cap, engine_price(engine))


def engine_price(engine) -> ModelPrice:
    price = engine.services.price_for("simulator", "gpt-4.1")
    assert price is not None
    return price


async def test_plentiful_money_and_worst_case_mode_never_cap(make_engine):
    engine = make_engine("[budget]\ndaily_usd = 1\n")  # > 10 worst cases of $0.0082
    _warm(engine, tokens=40)
    rec = await engine.ask("Explain how a database index works", model="premium").collect()
    assert rec.finish_reason == "stop" and not any("capped" in w for w in rec.warnings)
    tight = make_engine('[budget]\ndaily_usd = 0.05\nreservation = "worst_case"\n')
    _warm(tight, tokens=40)
    rec = await tight.ask("Explain how a B-tree works", model="premium").collect()
    assert rec.finish_reason == "stop" and not any("capped" in w for w in rec.warnings)


async def test_lengths_are_learned_online_and_seeded_from_the_ledger(make_engine):
    engine = make_engine("[budget]\ndaily_usd = 10\n")
    for i in range(25):
        await engine.ask(f"Question {i} about query planners", model="premium").collect()
    lengths = engine.services.budget.lengths
    learned = lengths.p95("gpt-4.1", TEXT)
    assert lengths.samples("gpt-4.1", TEXT) == 25 and learned is not None and learned > 50
    await engine.aclose()
    again = make_engine("[budget]\ndaily_usd = 10\n")  # the same data folder
    assert again.services.budget.lengths.p95("gpt-4.1", TEXT) == learned


async def test_a_request_that_cannot_pay_for_its_input_and_16_tokens_is_refused(make_engine):
    engine = make_engine("[budget]\ndaily_usd = 0.0001\n")  # ≈ 12 output tokens of gpt-4.1
    reply = engine.ask("Explain how a database index works", model="premium")
    with pytest.raises(BudgetExceededError, match="even its input and 16 output tokens") as e:
        await reply.collect()
    assert e.value.budget == "daily"
    assert engine.ledger.get(reply.request_id).status == "refused"


async def _burst(engine, n: int) -> tuple[int, int, int, Decimal]:
    async def one(i: int) -> RequestRecord | None:
        try:
            return await engine.ask(f"Question {i} about databases", model="premium").collect()
        except BudgetExceededError:
            return None

    recs = await asyncio.gather(*(one(i) for i in range(n)))
    done = [r for r in recs if r is not None]
    cut = sum(r.finish_reason == "length" for r in done)
    return len(done), n - len(done), cut, sum((r.cost_usd for r in done), Decimal(0))


async def _open(tmp_path, name: str, budget: str):
    """An engine whose Simulator answers at a hundredth of its pace: a real burst, every
    request in flight (and holding money) at once."""
    from core.engine import Engine

    text = f"""
[providers.simulator]
kind = "simulator"
latency_scale = 0.01
[cache]
enabled = false
[budget]
{budget}
"""
    return Engine.open(parse_config(text, "test.toml"), tmp_path / name)


@pytest.mark.parametrize("warm", [False, True])
async def test_a_concurrent_burst_never_overshoots_and_learned_admits_more(tmp_path, warm):
    limit = Decimal("0.03")  # ≈ 3.7 worst cases of $0.0082, ≈ 20 real answers
    worst = await _open(tmp_path, "worst", f'daily_usd = {limit}\nreservation = "worst_case"')
    learned = await _open(tmp_path, "learned", f"daily_usd = {limit}")
    try:
        w_admitted, _, w_cut, w_spent = await _burst(worst, 80)
        assert w_spent <= limit and w_cut == 0
        if warm:
            _warm(learned, tokens=190)
        admitted, refused, cut, spent = await _burst(learned, 80)
        assert spent <= limit and learned.ledger.day_spend(date.today()) <= limit
        assert learned.ledger.period_spend(learned.services.clock()).day_reserved_pusd == 0
        assert refused > 0 and admitted > w_admitted
        if warm:
            assert cut < admitted // 2  # caps near the learned length rarely cut
    finally:
        await worst.aclose()
        await learned.aclose()
