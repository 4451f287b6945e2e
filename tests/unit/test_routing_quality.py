"""Routing end to end on the instant Simulator: decisions in the ledger, compare, eval,
calibration, feedback, background quality sampling and quality alerts."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from core.cli import main
from core.errors import InputError
from core.ledger import LedgerFilter
from core.ledger.selection import ENV_URL
from core.quality.feedback import QUALITY_ALERT, sampled
from core.quality.golden import parse_golden
from core.resources import resource_path

GOLDEN = resource_path("golden_example.jsonl")


def golden():
    return parse_golden(GOLDEN.read_text("utf-8"))


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Where the engines the test makes keep their ledger (feedback and samples with it):
    the data folder's SQLite file, or a database on the suite's PostgreSQL server."""
    if request.param == "postgresql":
        monkeypatch.setenv(ENV_URL, request.getfixturevalue("pg_url"))
    return str(request.param)


async def test_every_decision_is_stored_with_its_features(make_engine):
    engine = make_engine()
    rec = await engine.ask("Analyze the contract, then explain why it matters?").collect()
    stored = engine.get_record(rec.request_id)
    assert stored is not None and stored.route_mode == "auto"
    features = {r["feature"] for r in stored.route_reasons}
    assert {"reasoning_verbs", "high_stakes", "multi_step", "length"} <= features
    assert stored.route_score == pytest.approx(sum(r["contribution"] for r in stored.route_reasons))
    explicit = await engine.ask("Analyze it", model="premium").collect()
    assert engine.get_record(explicit.request_id).route_mode == "explicit"
    d = engine.explain_route("Analyze the contract, then explain why it matters?")
    assert (d.score, d.tier.id) == (stored.route_score, stored.tier)


async def test_compare_runs_every_tier_and_the_judge_picks_a_winner(make_engine):
    engine = make_engine()
    report = await engine.compare("Explain photosynthesis.", ["fast", "balanced", "premium"],
                                  judge=True)  # fmt: skip
    assert [e.tier for e in report.entries] == ["fast", "balanced", "premium"]
    for e in report.entries:
        assert e.status == "ok" and e.text and e.cost_usd and e.cost_usd > 0
        assert e.latency_ms is not None and e.ttft_ms is not None and e.output_tokens > 0
        assert e.verdict is not None and e.verdict.score is not None and e.verdict.simulated
    assert report.winner in ("fast", "balanced", "premium")
    best = max(e.verdict.score for e in report.entries if e.verdict and e.verdict.score)
    assert next(e for e in report.entries if e.target == report.winner).verdict.score == best
    judge = engine.ledger.totals(purpose="judge")
    assert judge.requests == 3 and judge.cost_usd == report.judge_cost_usd
    assert engine.ledger.totals(purpose="user").requests == 3
    recs = engine.history(0, 10, LedgerFilter(purpose="user"))
    assert {r.route_mode for r in recs} == {"explicit"}


async def test_compare_models_respects_budgets_and_rejects_unknown_names(make_engine):
    engine = make_engine("[budget]\ndaily_usd = 0.0000001\n")
    report = await engine.compare("hi there", ["gpt-4.1-nano", "simulator/gpt-4.1"])
    assert {e.status for e in report.entries} == {"refused"}
    assert report.winner is None
    with pytest.raises(InputError, match="unknown model"):
        await engine.compare("hi", ["fast", "nonsense"])
    with pytest.raises(InputError, match="once"):
        await engine.compare("hi", ["fast", "fast"])


async def test_eval_end_to_end_with_the_simulated_judge(make_engine):
    engine = make_engine()
    items = golden()
    report = await engine.evaluate(items)
    assert report.baseline_tier == "premium" and report.judge_tier == "premium"
    assert len(report.rows) == len(items) and report.simulated
    routed = sum((r.routed.cost_usd for r in report.rows), Decimal(0))
    assert report.routed_cost_usd == routed < report.baseline_cost_usd
    assert report.saving == (report.baseline_cost_usd - routed) / report.baseline_cost_usd
    assert report.retention == pytest.approx(report.routed_quality / report.baseline_quality)
    assert sum(report.tier_share.values()) == pytest.approx(1.0)
    assert report.passed is (report.retention >= 0.95)
    # Each (item, tier) ran once; eval and judge spend have their own purposes.
    pairs = {(r.item_id, t) for r in report.rows for t in (r.routed.tier, r.baseline.tier)}
    assert engine.ledger.totals(purpose="eval").requests == len(pairs)
    assert engine.ledger.totals(purpose="judge").cost_usd == report.judge_cost_usd > 0
    assert engine.ledger.totals(purpose="user").requests == 0
    json_row = next(r for r in report.rows if r.item_id == "json-extract")
    assert json_row.routed.quality == 0.0  # the Simulator never answers in JSON


async def test_eval_by_assertions_only_calls_no_judge(make_engine):
    engine = make_engine()
    report = await engine.evaluate(golden(), judge=False, baseline="balanced")
    assert report.judge_tier is None and report.judge_cost_usd == 0
    assert engine.ledger.totals(purpose="judge").requests == 0
    assert all(r.routed.verdict is None for r in report.rows)
    with pytest.raises(InputError, match="not a tier"):
        await engine.evaluate(golden(), baseline="nope")


async def test_calibration_end_to_end_on_the_simulator(make_engine):
    engine = make_engine()
    results = await engine.calibration_results(golden())
    assert {tuple(sorted(r.quality)) for r in results} == {("balanced", "fast", "premium")}
    report = engine.calibrate(results, target_retention=0.95)
    assert report.feasible and report.retention >= 0.95
    assert report.cost_usd <= report.strong_cost_usd
    assert report.curve[0].strong_share == 0 and report.curve[-1].strong_share == 1
    lower = engine.calibrate(results, target_retention=0.5)
    assert lower.cost_usd <= report.cost_usd


async def test_feedback_is_stored_per_tier_and_can_raise_an_alert(make_engine, backend):
    engine = make_engine("[routing]\nquality_alert_min_samples = 2\n")
    assert engine.ledger.backend == backend
    alerts = []
    engine.events.on(QUALITY_ALERT, alerts.append)
    ids = [(await engine.ask(f"Name a colour {i}.").collect()).request_id for i in range(2)]
    assert engine.feedback(ids[0], "up") == "fast"
    assert engine.feedback(ids[1], "down") == "fast"
    engine.feedback(ids[1], "down")  # the same vote again is not counted twice
    fast = next(q for q in engine.tier_quality() if q.tier == "fast")
    assert (fast.feedback_up, fast.feedback_down) == (1, 1)
    assert [(a.tier, a.kind) for a in alerts] == [("fast", "feedback")]
    assert "calibrate" in alerts[0].message
    with pytest.raises(InputError, match="no request"):
        engine.feedback("req_missing", "up")
    with pytest.raises(InputError, match="up or down"):
        engine.feedback(ids[0], "sideways")


async def test_background_sampling_judges_live_answers_and_alerts_once(make_engine, backend):
    extra = (
        "[observability]\nquality_sampling_rate = 1.0\n"
        "[routing]\nmin_quality_score = 10\nquality_alert_min_samples = 1\n"
        "sample_simulated = true\n"
    )
    engine = make_engine(extra)
    assert engine.ledger.backend == backend
    alerts = []
    engine.events.on(QUALITY_ALERT, alerts.append)
    for i in range(3):
        await engine.ask(f"Name a colour {i}.").collect()
    await engine.drain_quality_samples()
    fast = next(q for q in engine.tier_quality() if q.tier == "fast")
    assert fast.judged == 3 and fast.simulated and fast.mean_score is not None
    assert fast.requests == 3 and fast.mean_cost_usd and fast.cost_per_quality_point
    assert fast.cost_per_quality_point == fast.mean_cost_usd / Decimal(repr(fast.mean_score))
    assert engine.ledger.totals(purpose="judge").requests == 3
    assert len(alerts) == 1 and alerts[0].tier == "fast" and alerts[0].kind == "judged"


@pytest.mark.parametrize(
    "extra",
    [
        "[observability]\nquality_sampling_rate = 0\n[routing]\nsample_simulated = true\n",
        "[observability]\nquality_sampling_rate = 1\n",  # Simulator answers: not by default
    ],
)
async def test_no_sampling_when_off_or_simulated(make_engine, extra):
    engine = make_engine(extra)
    await engine.ask("hello").collect()
    await engine.drain_quality_samples()
    assert engine.ledger.totals(purpose="judge").requests == 0


def test_sampling_takes_the_configured_share():
    share = sum(sampled(f"req_{i}", 0.05) for i in range(20000)) / 20000
    assert 0.04 < share < 0.06


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    cfg = tmp_path / "centwise.toml"
    cfg.write_text('[providers.simulator]\nkind = "simulator"\nlatency_scale = 0\n')

    def run(*args: str) -> tuple[int, str, str]:
        code = main(["--data-dir", str(tmp_path / "data"), "--config", str(cfg), *args])
        out, err = capsys.readouterr()
        return code, out, err

    run.cfg = cfg  # type: ignore[attr-defined]
    run.tmp = tmp_path  # type: ignore[attr-defined]
    return run


def test_cli_compare_eval_route_and_feedback(cli):
    code, out, _ = cli(
        "compare", "What is a cache?", "--tiers", "fast,premium", "--judge", "--json"
    )
    data = json.loads(out)
    assert code == 0 and [e["target"] for e in data["entries"]] == ["fast", "premium"]
    assert data["winner"] in ("fast", "premium") and data["entries"][0]["judge_score"]
    code, out, _ = cli("feedback", data["entries"][0]["request_id"], "down")
    assert code == 0 and "thumbs down" in out
    report = cli.tmp / "report.json"
    code, out, _ = cli("eval", str(GOLDEN), "--no-judge", "--target", "0.01", "--out", str(report))
    assert code == 0 and "PASS" in out and json.loads(report.read_text())["passed"] is True
    code, out, _ = cli("eval", str(GOLDEN), "--no-judge", "--target", "1", "--json")
    assert code == 1 and json.loads(out)["passed"] is False
    code, out, _ = cli("route", "explain", "Prove it, then derive it?", "--json")
    assert code == 0 and json.loads(out)["reasons"][0]["feature"] == "reasoning_verbs"
    code, out, _ = cli("route", "quality", "--json")
    assert code == 0 and json.loads(out)[0]["feedback_down"] == 1


def test_cli_calibrate_reuses_results_and_writes_only_when_asked(cli):
    results = cli.tmp / "results.json"
    before = cli.cfg.read_text()
    args = ("route", "calibrate", str(GOLDEN), "--no-judge", "--results", str(results))
    code, out, _ = cli(*args, "--json")
    assert code == 0 and results.exists() and cli.cfg.read_text() == before
    boundaries = json.loads(out)["boundaries"]
    code, out, _ = cli(*args, "--write")  # reuses the results: no new eval calls
    assert code == 0 and "written to" in out
    from core.config import load_config

    cfg = load_config(cli.cfg)
    assert {t.id: t.max_complexity for t in cfg.routing.tiers[:-1]} == boundaries
    assert cfg.providers["simulator"].latency_scale == 0  # the rest is kept
    code, _, err = cli("route", "calibrate", str(GOLDEN), "--premium-share", "2")
    assert code == 2 and "--premium-share" in err
