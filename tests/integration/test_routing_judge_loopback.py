"""Eval, compare and calibration against a loopback OpenAI-format provider that plays
scripted answers and scripted judge verdicts, malformed ones included."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from core.config import parse_config
from core.engine import Engine
from core.quality.golden import parse_golden
from core.types import Secret
from tests.integration.servers import Behaviour, LoopbackServer

JUDGE_ON_LOOPBACK = """
[[routing.tiers]]
id = "fast"
provider = "simulator"
model = "gpt-4.1-nano"
max_complexity = 3
[[routing.tiers]]
id = "premium"
provider = "simulator"
model = "gpt-4.1"
max_complexity = 9.99
[[routing.tiers]]
id = "judge"
provider = "oa"
model = "gpt-4.1"
max_complexity = 10
"""

FAST_ON_LOOPBACK = """
[[routing.tiers]]
id = "fast"
provider = "oa"
model = "gpt-4.1-nano"
max_complexity = 3
[[routing.tiers]]
id = "premium"
provider = "simulator"
model = "gpt-4.1"
max_complexity = 10
"""


@pytest.fixture
async def engine_with(tmp_path: Path, openai_server: LoopbackServer):
    engines: list[Engine] = []

    def make(tiers: str, name: str = "data") -> Engine:
        text = (
            '[providers.simulator]\nkind = "simulator"\nlatency_scale = 0\n'
            f'[providers.oa]\nkind = "openai"\nbase_url = "{openai_server.base_url}"\n'
            "max_attempts = 1\n[cache]\nenabled = false\n"
            # no background quality samples: they would take scripted replies
            "[observability]\nquality_sampling_rate = 0\n" + tiers
        )
        engine = Engine.open(
            parse_config(text, "test.toml"),
            tmp_path / name,
            key_lookup=lambda _: Secret("sk-test-judge-0123456789"),
            client_factory=lambda: httpx.AsyncClient(trust_env=False),
        )
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        await engine.aclose()


ONE_ITEM = '{"id": "a", "prompt": "Tell me about giraffes.", "reference": "Giraffes are tall."}'


async def test_malformed_verdict_is_retried_once_then_unscored(engine_with, openai_server):
    engine = engine_with(JUDGE_ON_LOOPBACK)
    openai_server.queue(
        Behaviour(text='```json\n{"score": 8, "reason": "solid"}\n```'),  # fast's answer
        Behaviour(text="I would give it an 8."),  # premium's answer: malformed ...
        Behaviour(text='{"score": 12, "reason": "off the scale"}'),  # ... and again
    )
    report = await engine.evaluate(
        parse_golden(ONE_ITEM), baseline="premium", judge="judge", concurrency=1
    )
    row = report.rows[0]
    assert (row.routed.tier, row.baseline.tier) == ("fast", "premium")
    assert row.routed.verdict.score == 8 and row.routed.quality == 0.8
    assert row.baseline.verdict.score is None and row.baseline.quality is None
    assert len(row.baseline.verdict.request_ids) == 2
    assert report.unscored == 1 and report.retention is None and not report.passed
    # The retry asked more strictly; judge calls are recorded under their own purpose.
    chats = [r.json for r in openai_server.requests if r.json]
    assert "previous reply was not" in chats[-1]["messages"][0]["content"]
    assert "<answer>" in chats[0]["messages"][-1]["content"]
    judge = engine.ledger.totals(purpose="judge")
    assert judge.requests == 3 and judge.cost_usd == report.judge_cost_usd > 0
    assert engine.ledger.totals(purpose="eval").requests == 2


async def test_compare_with_a_scripted_judge(engine_with, openai_server):
    engine = engine_with(JUDGE_ON_LOOPBACK)
    openai_server.default = Behaviour(text='{"score": 7, "reason": "fine"}')
    report = await engine.compare("What is a giraffe?", ["fast", "premium"], judge="judge")
    assert [e.verdict.score for e in report.entries] == [7, 7]
    assert report.winner == "fast"  # a tie goes to the cheaper answer
    openai_server.default = Behaviour(text="no verdict here")
    report = await engine.compare("What is a zebra?", ["fast", "premium"], judge="judge")
    assert report.winner is None
    assert all(e.verdict is not None and e.verdict.score is None for e in report.entries)
    assert engine.ledger.totals(purpose="judge").requests == 2 + 4


def _items() -> str:
    extras = ["", " Why?", " Then list them.", " Analyze it.", " Compare them, then explain why?"]
    lines = [
        {
            "id": f"g{i}",
            "prompt": f"Tell me about giraffes.{extra}",
            "assertions": [{"type": "contains", "value": "giraffes"}],
        }
        for i, extra in enumerate(extras)
    ]
    return "\n".join(json.dumps(x) for x in lines)


async def test_calibration_moves_boundaries_down_when_the_cheap_tiers_quality_drops(
    engine_with, openai_server
):
    items = parse_golden(_items())
    openai_server.default = Behaviour(text="Giraffes are the tallest animals.")
    good_engine = engine_with(FAST_ON_LOOPBACK, "good")
    good = good_engine.calibrate(await good_engine.calibration_results(items, judge=False))
    openai_server.default = Behaviour(text="No idea, sorry.")
    bad_engine = engine_with(FAST_ON_LOOPBACK, "bad")
    bad = bad_engine.calibrate(await bad_engine.calibration_results(items, judge=False))
    assert good.tier_share["fast"] == 1.0 and good.retention == 1.0
    assert bad.boundaries["fast"] < good.boundaries["fast"]
    assert bad.tier_share["fast"] == 0.0 and bad.retention == 1.0
    assert bad.cost_usd > good.cost_usd
    assert good.apgr is None  # fast is as good as premium: no gap to recover
    assert bad.apgr is not None and bad.apgr > 0
