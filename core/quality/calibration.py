"""Calibrating the tier boundaries on a golden set, in the spirit of RouteLLM.

Every item is answered by every tier (:func:`collect_results`, reusable from a JSON
file), then :func:`calibrate` searches the boundaries (each tier's ``max_complexity``)
that minimise cost while routed quality / top-tier quality reaches the target
retention, or, with a premium-share limit, that maximise quality while at most that
share of items reaches the top tier. Candidates are 0, the midpoints between
consecutive item scores and the largest score, so a boundary never sits on an item.

The cost-quality curve follows RouteLLM (Ong et al., 2024): sending the x most
complex items (by the router's score) to the strong tier and the rest to the weak
(cheapest) tier gives quality q(x); PGR(x) = (q(x) - q_weak) / (q_strong - q_weak);
APGR is the area under PGR against the strong-call share (trapezoids over 0..1);
CPT(50%) and CPT(80%) are the least strong-call shares reaching those PGRs.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import InputError
from core.money import usd_str
from core.quality.evaluation import TierRunner
from core.quality.golden import GoldenItem

if TYPE_CHECKING:
    from core.quality.protocol import Asker

__all__ = [
    "CalibrationReport",
    "CurvePoint",
    "ItemResults",
    "calibrate",
    "calibration_to_json",
    "collect_results",
    "cost_quality_curve",
    "load_results",
    "save_results",
]

_MAX_COMBOS = 200_000


@dataclass(frozen=True, slots=True)
class ItemResults:
    """One golden item's router score, and each tier's quality (None: unscored) and cost."""

    item_id: str
    score: float
    quality: dict[str, float | None]
    cost_usd: dict[str, Decimal]


@dataclass(frozen=True, slots=True)
class CurvePoint:
    strong_share: float
    quality: float
    pgr: float | None


@dataclass(frozen=True, slots=True)
class CalibrationReport:
    tiers: list[str]
    old_boundaries: dict[str, float]
    boundaries: dict[str, float]
    target_retention: float | None
    premium_share_limit: float | None
    feasible: bool
    cost_usd: Decimal
    strong_cost_usd: Decimal
    quality: float
    strong_quality: float
    retention: float | None
    tier_share: dict[str, float]
    items_used: int
    items_unscored: int
    curve: list[CurvePoint]
    apgr: float | None
    cpt50: float | None
    cpt80: float | None


async def collect_results(
    engine: Asker, items: list[GoldenItem], judge_tier: str | None, concurrency: int = 4
) -> list[ItemResults]:
    """Answer every item on every tier (``purpose="eval"``) and score each answer."""
    tiers = [t.id for t in engine.config.routing.tiers]
    runner = TierRunner(engine, judge_tier, concurrency)
    tasks = {(item.id, t): runner.run(item, t) for item in items for t in tiers}
    await asyncio.gather(*tasks.values())
    out = []
    for item in items:
        score = engine.explain_route(item.prompt).score or 0.0
        runs = {t: tasks[(item.id, t)].result() for t in tiers}
        out.append(
            ItemResults(
                item.id,
                score,
                {t: r.quality for t, r in runs.items()},
                {t: r.cost_usd for t, r in runs.items()},
            )
        )
    return out


def save_results(results: list[ItemResults], path: Path) -> None:
    rows = [
        {
            "id": r.item_id,
            "score": r.score,
            "quality": r.quality,
            "cost_usd": {t: usd_str(c) for t, c in r.cost_usd.items()},
        }
        for r in results
    ]
    path.write_text(json.dumps({"version": 1, "items": rows}, indent=1) + "\n", "utf-8")


def load_results(path: Path) -> list[ItemResults]:
    """Results saved by :func:`save_results`; errors name the file."""
    try:
        data = json.loads(path.read_text("utf-8"))
        return [
            ItemResults(
                str(r["id"]),
                float(r["score"]),
                {t: None if q is None else float(q) for t, q in r["quality"].items()},
                {t: Decimal(c) for t, c in r["cost_usd"].items()},
            )
            for r in data["items"]
        ]
    except (OSError, ValueError, KeyError, TypeError, ArithmeticError) as e:
        raise InputError(f"{path}: not a calibration results file ({e})") from None


def _assign(score: float, bounds: tuple[float, ...], tiers: list[str]) -> str:
    for tier, bound in zip(tiers, bounds, strict=False):
        if score <= bound:
            return tier
    return tiers[-1]


def _candidates(scores: list[float], k: int) -> list[float]:
    uniq = sorted(set(scores))
    mids = [round((a + b) / 2, 3) for a, b in itertools.pairwise(uniq)]
    cands = sorted({0.0, *mids, round(uniq[-1], 3)} if uniq else {0.0})
    while len(cands) > 2 and math.comb(len(cands) + k - 1, k) > _MAX_COMBOS:
        cands = cands[::2] + ([cands[-1]] if len(cands) % 2 == 0 else [])
    return cands


@dataclass(frozen=True, slots=True)
class _Outcome:
    bounds: tuple[float, ...]
    cost: Decimal
    quality: float
    top_share: float
    share: dict[str, float]


def _outcome(results: list[ItemResults], bounds: tuple[float, ...], tiers: list[str]) -> _Outcome:
    chosen = [_assign(r.score, bounds, tiers) for r in results]
    cost = sum((r.cost_usd[t] for r, t in zip(results, chosen, strict=True)), Decimal(0))
    q = sum(r.quality[t] or 0.0 for r, t in zip(results, chosen, strict=True)) / len(results)
    share = {t: chosen.count(t) / len(results) for t in tiers}
    return _Outcome(bounds, cost, q, share[tiers[-1]], share)


def calibrate(
    results: list[ItemResults],
    tiers: list[str],
    old_boundaries: dict[str, float],
    *,
    target_retention: float | None = 0.95,
    premium_share: float | None = None,
) -> CalibrationReport:
    """Choose boundaries for every tier but the top one (see the module docstring)."""
    used = [r for r in results if all(r.quality.get(t) is not None for t in tiers)]
    if not used:
        raise InputError("no item was scored on every tier: nothing to calibrate on")
    strong_q = sum(r.quality[tiers[-1]] or 0.0 for r in used) / len(used)
    strong_cost = sum((r.cost_usd[tiers[-1]] for r in used), Decimal(0))
    cands = _candidates([r.score for r in used], len(tiers) - 1)
    outcomes = [
        _outcome(used, b, tiers)
        for b in itertools.combinations_with_replacement(cands, len(tiers) - 1)
    ]
    best, feasible = _choose(outcomes, strong_q, target_retention, premium_share)
    curve, apgr, cpt50, cpt80 = cost_quality_curve(used, tiers[0], tiers[-1])
    return CalibrationReport(
        tiers=tiers,
        old_boundaries=old_boundaries,
        boundaries={t: b for t, b in zip(tiers, best.bounds, strict=False)},
        target_retention=None if premium_share is not None else target_retention,
        premium_share_limit=premium_share,
        feasible=feasible,
        cost_usd=best.cost,
        strong_cost_usd=strong_cost,
        quality=best.quality,
        strong_quality=strong_q,
        retention=best.quality / strong_q if strong_q else None,
        tier_share=best.share,
        items_used=len(used),
        items_unscored=len(results) - len(used),
        curve=curve,
        apgr=apgr,
        cpt50=cpt50,
        cpt80=cpt80,
    )


def _choose(
    outcomes: list[_Outcome],
    strong_q: float,
    target: float | None,
    premium_share: float | None,
) -> tuple[_Outcome, bool]:
    """Cheapest meeting the retention target (ties: better quality, then higher
    boundaries); or, with a premium-share limit, the best quality within it."""
    if premium_share is not None:
        ok = [o for o in outcomes if o.top_share <= premium_share + 1e-9]
        pool = ok or [min(outcomes, key=lambda o: o.top_share)]
        return max(pool, key=lambda o: (o.quality, -o.cost, o.bounds)), bool(ok)
    need = (target or 0.0) * strong_q - 1e-9
    ok = [o for o in outcomes if o.quality >= need]
    if not ok:
        return max(outcomes, key=lambda o: (o.quality, -o.cost)), False
    return min(ok, key=lambda o: (o.cost, -o.quality, [-b for b in o.bounds])), True


def cost_quality_curve(
    results: list[ItemResults], weak: str, strong: str
) -> tuple[list[CurvePoint], float | None, float | None, float | None]:
    """RouteLLM's PGR curve over the strong-call share, with APGR and CPT(50%/80%)."""
    n = len(results)
    order = sorted(range(n), key=lambda i: -results[i].score)
    qualities = []
    for k in range(n + 1):
        strong_set = set(order[:k])
        total = sum(
            (results[i].quality[strong if i in strong_set else weak] or 0.0) for i in range(n)
        )
        qualities.append(total / n)
    q_weak, q_strong = qualities[0], qualities[-1]
    gap = q_strong - q_weak
    points = [
        CurvePoint(k / n, q, (q - q_weak) / gap if gap > 0 else None)
        for k, q in enumerate(qualities)
    ]
    if gap <= 0:
        return points, None, None, None
    pgrs = [p.pgr or 0.0 for p in points]
    apgr = sum((a + b) / 2 / n for a, b in itertools.pairwise(pgrs))

    def cpt(level: float) -> float | None:
        return next((p.strong_share for p in points if (p.pgr or 0.0) >= level - 1e-9), None)

    return points, apgr, cpt(0.5), cpt(0.8)


def calibration_to_json(report: CalibrationReport) -> dict[str, Any]:
    return {
        "tiers": report.tiers,
        "old_boundaries": report.old_boundaries,
        "boundaries": report.boundaries,
        "target_retention": report.target_retention,
        "premium_share_limit": report.premium_share_limit,
        "feasible": report.feasible,
        "cost_usd": usd_str(report.cost_usd),
        "strong_cost_usd": usd_str(report.strong_cost_usd),
        "quality": report.quality,
        "strong_quality": report.strong_quality,
        "retention": report.retention,
        "tier_share": report.tier_share,
        "items_used": report.items_used,
        "items_unscored": report.items_unscored,
        "apgr": report.apgr,
        "cpt50": report.cpt50,
        "cpt80": report.cpt80,
        "curve": [
            {"strong_share": p.strong_share, "quality": p.quality, "pgr": p.pgr}
            for p in report.curve
        ],
    }
