"""Golden-set evaluation: the router against a baseline tier, in cost and in quality.

Every item is routed as a live request would be, then answered by its routed tier and
by the baseline tier (default: the top tier). Each (item, tier) pair runs once, so
an item routed to the baseline tier costs one call, not two. Calls go through the
whole pipeline with ``purpose="eval"`` and no cache; judge calls with ``purpose="judge"``.

**Quality** of one answer is in [0, 1]: the judge's score / 10, multiplied by the
share of the item's assertions that passed (only one of the two when only one
applies). An answer whose verdict was malformed twice, or whose call failed, is
*unscored* and left out of the quality means (the report counts them).
**Retention** = mean routed quality / mean baseline quality over the items scored
both ways; the run passes when retention reaches the target (default 0.95).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from core.errors import CentwiseError, InputError
from core.money import usd_str
from core.quality.golden import AssertionResult, GoldenItem, check
from core.quality.judge import Judge, Verdict

if TYPE_CHECKING:
    from core.quality.protocol import Asker

__all__ = ["EvalReport", "EvalRow", "TierRun", "TierRunner", "evaluate", "report_to_json"]


@dataclass(slots=True)
class TierRun:
    """One golden item answered by one tier, checked and (optionally) judged."""

    item_id: str
    tier: str
    request_id: str | None
    answer: str = ""
    status: str = "ok"
    error: str | None = None
    cost_usd: Decimal = Decimal(0)
    latency_ms: float | None = None
    output_tokens: int = 0
    simulated: bool = False
    assertions: list[AssertionResult] = field(default_factory=list)
    verdict: Verdict | None = None
    judged: bool = False

    @property
    def quality(self) -> float | None:
        """In [0, 1]; None when unscored (see the module docstring)."""
        if self.status != "ok":
            return None
        share = (
            sum(a.passed for a in self.assertions) / len(self.assertions)
            if self.assertions
            else None
        )
        if self.judged:
            if self.verdict is None or self.verdict.score is None:
                return None
            return self.verdict.score / 10 * (1.0 if share is None else share)
        return share


class TierRunner:
    """Runs each (item, tier) once, with bounded concurrency, judging when asked to."""

    def __init__(self, engine: Asker, judge_tier: str | None, concurrency: int = 4) -> None:
        self.engine = engine
        self.judge = Judge(engine.ask, judge_tier) if judge_tier else None
        self._slots = asyncio.Semaphore(max(1, concurrency))
        self._runs: dict[tuple[str, str], asyncio.Task[TierRun]] = {}

    def run(self, item: GoldenItem, tier: str) -> asyncio.Task[TierRun]:
        key = (item.id, tier)
        if key not in self._runs:
            self._runs[key] = asyncio.ensure_future(self._run(item, tier))
        return self._runs[key]

    async def _run(self, item: GoldenItem, tier: str) -> TierRun:
        async with self._slots:
            reply = self.engine.ask(
                item.prompt, system=item.system, model=tier, purpose="eval", use_cache=False
            )
            with contextlib.suppress(CentwiseError):  # recorded; the run is unscored
                await reply.collect()
            rec = reply.record
            assert rec is not None
            run = TierRun(item.id, tier, rec.request_id, rec.response, rec.status, rec.error)
            run.cost_usd, run.latency_ms = rec.cost_usd or Decimal(0), rec.latency_ms
            run.output_tokens, run.simulated = rec.usage.output_tokens, rec.simulated
            if run.status == "ok":
                run.assertions = [check(a, run.answer, run.output_tokens) for a in item.assertions]
                if self.judge is not None:
                    run.judged = True
                    run.verdict = await self.judge.grade(
                        item.prompt, run.answer, item.reference, item.rubric
                    )
            return run


@dataclass(frozen=True, slots=True)
class EvalRow:
    item_id: str
    route_score: float | None
    routed: TierRun
    baseline: TierRun


@dataclass(frozen=True, slots=True)
class EvalReport:
    rows: list[EvalRow]
    baseline_tier: str
    judge_tier: str | None
    target_retention: float
    routed_cost_usd: Decimal
    baseline_cost_usd: Decimal
    judge_cost_usd: Decimal
    saving: Decimal | None  # fraction of the baseline cost saved
    routed_quality: float | None
    baseline_quality: float | None
    retention: float | None
    tier_share: dict[str, float]
    unscored: int
    simulated: bool

    @property
    def passed(self) -> bool:
        return self.retention is not None and self.retention >= self.target_retention


async def evaluate(
    engine: Asker,
    items: list[GoldenItem],
    *,
    baseline: str | None = None,
    judge_tier: str | None = None,
    target_retention: float | None = None,
    concurrency: int = 4,
) -> EvalReport:
    """Run ``items`` routed and on ``baseline``; ``judge_tier=None`` scores by assertions."""
    tiers = [t.id for t in engine.config.routing.tiers]
    base = baseline or tiers[-1]
    for name, tier in (("baseline", base), ("judge", judge_tier)):
        if tier is not None and tier not in tiers:
            raise InputError(f"--{name} {tier!r} is not a tier ({', '.join(tiers)})")
    runner = TierRunner(engine, judge_tier, concurrency)
    plan = []
    for item in items:
        decision = engine.explain_route(item.prompt)
        plan.append((item, decision.score, decision.tier.id))
    runs = [(runner.run(item, tier), runner.run(item, base)) for item, _, tier in plan]
    await asyncio.gather(*(t for pair in runs for t in pair))
    rows = [
        EvalRow(item.id, score, r.result(), b.result())
        for (item, score, _), (r, b) in zip(plan, runs, strict=True)
    ]
    target = (
        engine.config.routing.target_retention if target_retention is None else target_retention
    )
    return _summarise(rows, base, judge_tier, target, tiers)


def _summarise(
    rows: list[EvalRow], base: str, judge_tier: str | None, target: float, tiers: list[str]
) -> EvalReport:
    routed_cost = sum((r.routed.cost_usd for r in rows), Decimal(0))
    baseline_cost = sum((r.baseline.cost_usd for r in rows), Decimal(0))
    unique = {(r.item_id, run.tier): run for r in rows for run in (r.routed, r.baseline)}
    judge_cost = sum((run.verdict.cost_usd for run in unique.values() if run.verdict), Decimal(0))
    both = [r for r in rows if r.routed.quality is not None and r.baseline.quality is not None]
    rq = _mean([r.routed.quality for r in both])
    bq = _mean([r.baseline.quality for r in both])
    counts = {t: sum(r.routed.tier == t for r in rows) for t in tiers}
    return EvalReport(
        rows=rows,
        baseline_tier=base,
        judge_tier=judge_tier,
        target_retention=target,
        routed_cost_usd=routed_cost,
        baseline_cost_usd=baseline_cost,
        judge_cost_usd=judge_cost,
        saving=(baseline_cost - routed_cost) / baseline_cost if baseline_cost else None,
        routed_quality=rq,
        baseline_quality=bq,
        retention=rq / bq if rq is not None and bq else None,
        tier_share={t: n / len(rows) for t, n in counts.items()} if rows else {},
        unscored=len(rows) - len(both),
        simulated=any(run.simulated for run in unique.values()),
    )


def _mean(values: list[float | None]) -> float | None:
    got = [v for v in values if v is not None]
    return sum(got) / len(got) if got else None


def _run_json(run: TierRun) -> dict[str, Any]:
    return {
        "tier": run.tier,
        "request_id": run.request_id,
        "status": run.status,
        "error": run.error,
        "cost_usd": usd_str(run.cost_usd),
        "latency_ms": run.latency_ms,
        "output_tokens": run.output_tokens,
        "quality": run.quality,
        "judge_score": run.verdict.score if run.verdict else None,
        "judge_reason": run.verdict.reason if run.verdict else None,
        "assertions": [
            {"type": a.type, "passed": a.passed, "detail": a.detail} for a in run.assertions
        ],
        "answer": run.answer,
    }


def report_to_json(report: EvalReport) -> dict[str, Any]:
    """The whole report as JSON-ready data (money as exact decimal strings)."""
    return {
        "baseline_tier": report.baseline_tier,
        "judge_tier": report.judge_tier,
        "scoring": "judge+assertions" if report.judge_tier else "assertions only",
        "simulated": report.simulated,
        "routed_cost_usd": usd_str(report.routed_cost_usd),
        "baseline_cost_usd": usd_str(report.baseline_cost_usd),
        "judge_cost_usd": usd_str(report.judge_cost_usd),
        "saving_pct": None if report.saving is None else round(float(report.saving * 100), 2),
        "routed_quality": report.routed_quality,
        "baseline_quality": report.baseline_quality,
        "retention": report.retention,
        "target_retention": report.target_retention,
        "passed": report.passed,
        "tier_share": report.tier_share,
        "unscored": report.unscored,
        "items": [
            {
                "id": r.item_id,
                "route_score": r.route_score,
                "routed": _run_json(r.routed),
                "baseline": _run_json(r.baseline),
            }
            for r in report.rows
        ],
    }
