"""The yes/no cache verifier for the grey zone: its calls are recorded with purpose
``cache_verify``, their cost comes out of the cache's savings, and its answers become
evidence for the entry's threshold."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from core.engine import Engine
from core.types import Finish, ProviderEvent, ProviderRequest, TextDelta, Usage, UsageReport

CONFIG = """
[providers.sim_fast]
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
id = "premium"
provider = "sim_top"
model = "gpt-4.1"
max_complexity = 10
[cache]
verify_tier = "fast"
grey_zone_floor = 0.0
"""
CACHED = "How can I reverse a list in Python?"
NEAR = "How do I flip the order of a Python list?"  # in the grey zone (about 0.82)


def _answer_with(engine: Engine, monkeypatch: pytest.MonkeyPatch, text: str) -> list[str]:
    """The fast tier's model replies ``text`` to the verifier; returns the prompts seen."""
    seen: list[str] = []
    provider = engine.services.provider("sim_fast")

    async def stream(request: ProviderRequest) -> AsyncIterator[ProviderEvent]:
        seen.append(request.messages[-1].content)
        yield TextDelta(text)
        yield UsageReport(Usage(input_tokens=120, output_tokens=1))
        yield Finish("stop")

    monkeypatch.setattr(provider, "stream", stream)
    return seen


@pytest.mark.parametrize("reply", ["YES", "No."])
async def test_the_grey_zone_is_put_to_the_cheap_tier(make_engine, monkeypatch, reply):
    engine = make_engine(CONFIG, cache=True)
    first = await engine.ask(CACHED, model="premium").collect()
    cache = engine.cache()
    (scored,) = cache.verifier.score(NEAR, [CACHED])
    assert cache.grey_floor <= scored.score < cache.serve_threshold, "NEAR left the grey zone"
    seen = _answer_with(engine, monkeypatch, reply)
    rec = await engine.ask(NEAR, model="premium").collect()
    assert len(seen) == 1 and CACHED in seen[0] and NEAR in seen[0]
    verify = [r for r in engine.ledger.iter_records() if r.purpose == "cache_verify"]
    assert len(verify) == 1 and verify[0].model == "gpt-4.1-nano"
    cost = verify[0].cost_usd
    assert cost is not None and cost > 0
    (entry,) = [e for e in cache.entries() if e.prompt == CACHED]
    (evidence,) = cache.evidence(entry.id)
    assert evidence.source == "verifier" and evidence.correct is (reply == "YES")
    if reply == "YES":
        assert rec.cache_outcome == "semantic" and rec.response == first.response
        assert rec.saved_usd == first.cost_usd - cost  # net of the verifier's call
        assert entry.saved_usd == rec.saved_usd  # the Cache view's "Saved" is net too
    else:
        assert rec.cache_outcome == "miss" and rec.saved_usd == -cost  # paid, saved nothing
    # A later thumbs-down settles the served answer as wrong.
    engine.feedback(rec.request_id, "down")
    assert cache.evidence(entry.id)[0].correct is False


async def test_without_verify_tier_no_question_is_asked(make_engine, monkeypatch):
    engine = make_engine(CONFIG.replace('verify_tier = "fast"', ""), cache=True)
    await engine.ask(CACHED, model="premium").collect()
    seen = _answer_with(engine, monkeypatch, "YES")
    rec = await engine.ask(NEAR, model="premium").collect()
    assert seen == [] and rec.cache_outcome == "miss" and rec.saved_usd == 0
    assert any("verifier: score" in w for w in rec.warnings)


@pytest.mark.parametrize(("floor", "right"), [(1, True), (10, False)])
async def test_a_judged_cache_hit_becomes_evidence(make_engine, floor, right):
    extra = (
        "[observability]\nquality_sampling_rate = 1.0\n"
        f"[routing]\nsample_simulated = true\nmin_quality_score = {floor}\n"
    )
    engine = make_engine(extra, cache=True)
    await engine.ask("How long do cats live?", model="fast").collect()
    await engine.drain_quality_samples()
    hit = await engine.ask("What is the average lifespan of a cat?", model="fast").collect()
    assert hit.cache_outcome == "semantic"
    await engine.drain_quality_samples()
    (entry,) = engine.cache().entries()
    (evidence,) = engine.cache().evidence(entry.id)
    assert evidence.request_id == hit.request_id
    assert (evidence.source, evidence.correct) == ("judge", right)
    fast = next(q for q in engine.tier_quality() if q.tier == "fast")
    assert fast.judged == 1  # the cached answer is not counted as the tier's own again
