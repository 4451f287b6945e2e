"""The semantic cache inside the pipeline, with the real on-device MiniLM model."""

from __future__ import annotations

import pytest

from core.errors import BudgetExceededError


@pytest.fixture
async def engine(make_engine):
    return make_engine(cache=True)


async def test_repeat_is_an_exact_hit_that_costs_nothing(engine):
    first = await engine.ask("How do I reverse a list in Python?", model="fast").collect()
    second = await engine.ask("how do I reverse a list in python", model="fast").collect()
    assert first.cache_outcome == "miss" and first.cost_usd > 0
    assert second.cache_outcome == "exact" and second.cost_usd == 0
    assert second.saved_usd == first.cost_usd
    assert second.cache_matched_request_id == first.request_id
    assert second.response == first.response and second.attempts == []
    assert engine.ledger.totals().saved_usd == first.cost_usd


async def test_paraphrase_is_a_semantic_hit(engine):
    first = await engine.ask("How long do cats live?", model="fast").collect()
    hit = await engine.ask("What is the average lifespan of a cat?", model="fast").collect()
    assert hit.cache_outcome == "semantic", hit.warnings
    assert hit.cache_similarity >= engine.config.cache.similarity_threshold
    assert hit.cache_matched_request_id == first.request_id and hit.cost_usd == 0


async def test_hard_negative_is_never_served(engine):
    await engine.ask("Convert 100 USD to EUR", model="fast").collect()
    other = await engine.ask("Convert 100 EUR to USD", model="fast").collect()
    assert other.cache_outcome == "miss"
    assert any("not served" in w for w in other.warnings)


async def test_namespaces_quality_floor_and_never_cache_rules(engine):
    prompt = "Explain what a hash map is"
    await engine.ask(prompt, model="fast", system="Answer in French").collect()
    other_system = await engine.ask(prompt, model="fast").collect()
    assert other_system.cache_outcome == "miss"  # a different system prompt
    premium = await engine.ask(prompt, model="premium").collect()
    assert premium.cache_outcome == "miss"  # a fast answer never serves premium
    fast_again = await engine.ask(prompt, model="fast").collect()
    assert fast_again.cache_outcome == "exact"  # ...but premium may serve fast
    cut = await engine.ask(
        "Describe the history of Rome", model="fast", max_output_tokens=5
    ).collect()
    assert cut.finish_reason == "length"
    again = await engine.ask("Describe the history of Rome", model="fast").collect()
    assert again.cache_outcome == "miss"  # truncated answers are never cached
    hot = "Write a poem about rivers"
    await engine.ask(hot, model="fast", temperature=1.2).collect()
    assert (await engine.ask(hot, model="fast", temperature=1.2).collect()).cache_outcome == "miss"


async def test_a_cached_answer_is_served_even_when_the_budget_is_spent(make_engine):
    engine = make_engine("[budget]\ndaily_usd = 0.0003\nmax_output_tokens = 200\n", cache=True)
    first = await engine.ask("What is the capital of France?", model="fast").collect()
    with pytest.raises(BudgetExceededError):
        for i in range(20):
            await engine.ask(f"Tell me about planet number {i}", model="premium").collect()
    again = await engine.ask("What is the capital of France?", model="fast").collect()
    assert again.cache_outcome == "exact" and again.status == "ok" and first.cost_usd > 0
