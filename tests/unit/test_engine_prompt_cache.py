"""Provider prompt caching through the whole pipeline, on the Simulator (which caches
as the real model's vendor does): automatic marks, what the ledger keeps, the break
detector, the report, the what-if and cache-aware routing."""

from __future__ import annotations

import itertools
import json
from decimal import Decimal

import pytest

from core.errors import InputError
from core.ledger import LedgerFilter
from core.replay.report import render_text, report_json
from core.types import Message, Usage

CLAUDE_TIERS = """
[[routing.tiers]]
id = "fast"
provider = "simulator"
model = "claude-haiku-4-5"
max_complexity = 3
[[routing.tiers]]
id = "premium"
provider = "simulator"
model = "claude-sonnet-4-5"
max_complexity = 10
"""
SYSTEM = "You are a careful assistant for a logistics company. " + " ".join(
    f"Rule {i}: shipments of class {i % 7} need form {i % 11} and a signed manifest."
    for i in range(120)
)


def conversation(n: int) -> list[Message]:
    out = []
    for i in range(n):
        role = "user" if i % 2 == 0 else "assistant"
        out.append(Message(role, f"message {i} about shipment {i * 7}"))
    return out


async def ask(engine, history, prompt, system=SYSTEM, model="premium", **kw):
    return await engine.ask(prompt, system=system, history=history, model=model, **kw).collect()


async def test_anthropic_marks_are_placed_read_and_priced(make_engine):
    engine = make_engine(CLAUDE_TIERS)
    first = await ask(engine, [], "Which form for class 3?")
    detail = first.prompt_cache
    assert detail["rule"] == "marks" and detail["marks"]["auto"] == ["messages[0]", "messages[1]"]
    assert first.usage.cache_write_tokens > 1024 and first.usage.cached_input_tokens == 0
    assert first.prompt_cache_saved_usd < 0  # the write premium, not read back yet
    history = [Message("user", "Which form for class 3?"), Message("assistant", first.response)]
    second = await ask(engine, history, "And for class 4?")
    assert second.usage.cached_input_tokens == first.usage.cache_write_tokens
    assert second.prompt_cache["expected_cached_tokens"] > 0
    assert second.prompt_cache_break is None and second.prompt_cache_saved_usd > 0
    sonnet = engine.services.price_for("simulator", "claude-sonnet-4-5")
    assert sonnet is not None
    rate = sonnet.input_cost_per_token - sonnet.cache_read_input_token_cost  # type: ignore[operator]
    premium = sonnet.cache_creation_input_token_cost - sonnet.input_cost_per_token  # type: ignore[operator]
    u = second.usage
    assert (
        second.prompt_cache_saved_usd
        == u.cached_input_tokens * rate - u.cache_write_tokens * premium
    )
    # the ledger keeps it all, exactly
    stored = engine.get_record(second.request_id)
    assert stored is not None and stored.prompt_cache == second.prompt_cache
    assert stored.prompt_cache_saved_usd == second.prompt_cache_saved_usd


async def test_an_edited_system_prompt_is_found_and_priced(make_engine):
    engine = make_engine(CLAUDE_TIERS)
    history: list[Message] = []
    for i in range(3):
        rec = await ask(engine, history, f"Question {i}?")
        history += [Message("user", f"Question {i}?"), Message("assistant", rec.response)]
    edited = SYSTEM.replace("Rule 60:", "Rule 60 (revised):")
    rec = await ask(engine, history, "Question 3?", system=edited)
    assert rec.prompt_cache_break == "system_changed"
    found = rec.prompt_cache["divergence"]
    assert found["part"] == "messages" and found["index"] == 0
    assert found["offset"] == SYSTEM.index("Rule 60:") + len("Rule 60")
    assert "(revised)" in found["after"] and "(revised)" not in found["before"]
    assert rec.prompt_cache_lost_usd > 0 and rec.usage.cached_input_tokens == 0
    report = engine.provider_cache_report()
    assert report.requests == 4
    (cause,) = report.causes
    assert cause.cause == "system_changed" and cause.requests == 1
    assert cause.lost_usd == rec.prompt_cache_lost_usd
    assert report.breaks[0].request_id == rec.request_id
    assert report.breaks[0].where == f"messages[0] at character {found['offset']}"
    assert 0 < report.hit_ratio < 1 and report.saved_usd > 0
    body = report.as_json()
    assert body["misses_by_cause"][0]["cause"] == "system_changed"
    json.dumps(body)


async def test_caching_off_sends_no_marks_and_the_what_if_prices_both(make_engine):
    engine = make_engine(CLAUDE_TIERS + '\n[prompt_cache]\nmode = "off"\n')
    history: list[Message] = []
    recs = []
    for i in range(5):
        rec = await ask(engine, history, f"Question {i}?")
        recs.append(rec)
        history += [Message("user", f"Question {i}?"), Message("assistant", rec.response)]
    assert all(r.usage.cached_input_tokens == 0 == r.usage.cache_write_tokens for r in recs)
    assert all(
        "auto" not in r.prompt_cache["marks"] or not r.prompt_cache["marks"]["auto"] for r in recs
    )
    assert [r.prompt_cache_break for r in recs[1:]] == ["not_marked"] * 4
    with pytest.raises(InputError):  # recorded, but never sent to a provider
        await engine.ask("   ").collect()
    assert engine.history_count() == 6
    assert engine.history_count(LedgerFilter(prompt_cached=True)) == 5
    whatif = engine.prompt_cache_whatif()
    assert whatif.requests == 5
    off, five, hour = whatif.scenarios
    assert off.input_usd == whatif.recorded_input_usd  # off replays what was recorded
    assert five.input_usd < off.input_usd * Decimal("0.6") and five.cached_tokens > 0
    assert hour.write_tokens == 0 or hour.input_usd < off.input_usd
    # the replay of the whole history carries it too, the copy's own setting marked
    report = engine.replay(engine.config)
    assert report.prompt_cache is not None and report.prompt_cache_choice == "off"
    assert report.prompt_cache.scenarios[1].input_usd == five.input_usd
    text = render_text(report)
    assert "Provider prompt caching" in text and "off" in text and "<- this configuration" in text
    assert report_json(report)["prompt_cache"]["chosen"] == "off"


async def test_openai_models_cache_by_themselves_and_a_short_prompt_never(make_engine):
    engine = make_engine()  # the default tiers: gpt-4.1 family on the Simulator
    first = await ask(engine, [], "Hello?", model="premium")
    second = await ask(engine, [], "Hello again?", model="premium")
    assert first.prompt_cache["rule"] == "automatic" and "marks" not in first.prompt_cache
    assert second.usage.cached_input_tokens >= 1024 and second.usage.cached_input_tokens % 128 == 0
    assert second.prompt_cache_saved_usd > 0
    short = await ask(engine, [], "Hi", system="Be brief.", model="premium")
    again = await ask(engine, [], "Hi there", system="Be brief.", model="premium")
    assert short.usage.cached_input_tokens == again.usage.cached_input_tokens == 0


STICKY_TIERS = CLAUDE_TIERS.replace("claude-sonnet-4-5", "claude-opus-4-8").replace(
    "claude-haiku-4-5", "claude-sonnet-4-5"
)


async def test_a_conversation_stays_on_its_warm_model_when_switching_saves_less(make_engine):
    """Opus warm for 2,000+ tokens: moving an easy turn to Sonnet would save less than
    the cached-input discount it gives up, so it stays; Haiku would save more."""
    engine = make_engine(STICKY_TIERS)
    cid = engine.start_conversation(system=SYSTEM)
    hard = "Analyze, compare and evaluate step by step: why does class 3 need form 3?"
    first = await engine.ask(hard, conversation_id=cid).collect()
    assert first.tier == "premium"
    easy = await engine.ask("thanks", conversation_id=cid).collect()
    reason = next(r for r in easy.route_reasons if r["feature"] == "prompt_cache")
    assert easy.tier == "premium" and "stayed on premium" in str(reason["value"])
    assert Decimal(str(reason["discount_usd"])) > Decimal(str(reason["switch_saving_usd"]))
    assert easy.usage.cached_input_tokens > 0
    cheap = make_engine(CLAUDE_TIERS)  # Haiku: a third of Sonnet's price
    cid3 = cheap.start_conversation(system=SYSTEM)
    await cheap.ask(hard, conversation_id=cid3).collect()
    left = await cheap.ask("thanks", conversation_id=cid3).collect()
    reason = next(r for r in left.route_reasons if r["feature"] == "prompt_cache")
    assert left.tier == "fast" and str(reason["value"]).startswith("left premium")
    assert Decimal(str(reason["discount_usd"])) < Decimal(str(reason["switch_saving_usd"]))
    off = make_engine(STICKY_TIERS + "\n[prompt_cache]\nsticky_routing = false\n")
    cid2 = off.start_conversation(system=SYSTEM)
    await off.ask(hard, conversation_id=cid2).collect()
    moved = await off.ask("thanks", conversation_id=cid2).collect()
    assert moved.tier == "fast"
    assert not [r for r in moved.route_reasons if r["feature"] == "prompt_cache"]


def test_usage_keeps_one_hour_writes_apart():
    assert Usage(10, 1, 0, 5, 0, 3) + Usage(1, 1, 0, 1, 0, 1) == Usage(11, 2, 0, 6, 0, 4)


async def test_summary_requests_are_not_taken_for_the_conversations_previous_turn(make_engine):
    engine = make_engine(CLAUDE_TIERS + "\n[context]\nsummarize_after_tokens = 250\n")
    cid = engine.start_conversation(system=SYSTEM)
    turns = []
    for i in range(10):
        rec = await engine.ask(
            f"Turn {i}: tell me about shipments of class {i} in detail.", conversation_id=cid
        ).collect()
        turns.append(rec)
    summaries = [r for r in engine.history(0, 100) if r.purpose == "context"]
    assert summaries  # the history was folded at least once
    for before, after in itertools.pairwise(turns):
        assert after.prompt_cache["previous_request_id"] == before.request_id
        assert after.prompt_cache_break in (None, "context_trimmed")
