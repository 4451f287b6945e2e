"""``centwise route explain|calibrate|quality``: why a tier, better boundaries, how tiers do."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from core.cli.common import EXIT_OK, open_engine, print_json, read_text_file
from core.cli.eval import add_judge_options, judge_choice, load_golden
from core.config import config_from_env
from core.engine import Engine
from core.errors import InputError
from core.money import format_usd, usd_str
from core.quality.calibration import (
    CalibrationReport,
    ItemResults,
    calibration_to_json,
    load_results,
    save_results,
)
from core.routing.boundaries import write_tier_boundaries

__all__ = ["register"]


def register(sub: Any) -> None:
    p = sub.add_parser("route", help="explain a routing decision, calibrate boundaries, quality")
    cmds = p.add_subparsers(dest="route_command", metavar="ACTION", required=True)
    e = cmds.add_parser("explain", help="the tier a prompt gets, and each feature's part")
    e.add_argument("prompt", help="the prompt ('-' reads stdin)")
    e.add_argument("--json", action="store_true")
    e.set_defaults(handler=run_explain)
    c = cmds.add_parser("calibrate", help="choose tier boundaries on a golden set")
    c.add_argument("golden", metavar="GOLDEN.jsonl")
    goal = c.add_mutually_exclusive_group()
    goal.add_argument("--target-retention", type=float, metavar="X")
    goal.add_argument("--premium-share", type=float, metavar="X")
    add_judge_options(c)
    c.add_argument("--results", metavar="FILE", help="reuse per-tier results here, or save them")
    c.add_argument("--concurrency", type=int, default=4, metavar="N")
    c.add_argument("--write", action="store_true", help="write the boundaries to the config")
    c.add_argument("--json", action="store_true")
    c.set_defaults(handler=run_calibrate)
    q = cmds.add_parser("quality", help="judged quality, votes and cost per quality point")
    q.add_argument("--json", action="store_true")
    q.set_defaults(handler=run_quality)


def run_explain(args: argparse.Namespace) -> int:
    prompt = read_text_file("-", "stdin") if args.prompt == "-" else args.prompt
    engine = open_engine(args)
    try:
        d = engine.explain_route(prompt)
    finally:
        engine.close()
    if args.json:
        print_json({"tier": d.tier.id, "score": d.score, "mode": d.mode, "reasons": d.reasons})
        return EXIT_OK
    print(f"{d.tier.id} (score {d.score}, mode {d.mode})")
    for r in d.reasons:
        print(f"  +{r['contribution']:<6} {r['feature']}: {r['value']}")
    return EXIT_OK


def run_calibrate(args: argparse.Namespace) -> int:
    for flag in ("target_retention", "premium_share"):
        value = getattr(args, flag)
        if value is not None and not 0 <= value <= 1:
            raise InputError(f"--{flag.replace('_', '-')} must be in [0, 1], got {value}")
    config_path = config_from_env(args.config)
    if args.write and config_path is None:
        raise InputError("--write needs a config file: pass --config PATH (or CENTWISE_CONFIG)")
    items = load_golden(args.golden)
    report = asyncio.run(_calibrate(args, items))
    if args.write:
        assert config_path is not None
        engine = open_engine(args)
        try:
            write_tier_boundaries(config_path, report.boundaries, engine.config)
        finally:
            engine.close()
    if args.json:
        print_json(calibration_to_json(report))
    else:
        print(render(report, written=config_path if args.write else None))
    return EXIT_OK


async def _calibrate(args: argparse.Namespace, items: Any) -> CalibrationReport:
    engine = open_engine(args)
    try:
        results = await _results(engine, args, items)
        return engine.calibrate(
            results, target_retention=args.target_retention, premium_share=args.premium_share
        )
    finally:
        await engine.aclose()


async def _results(engine: Engine, args: argparse.Namespace, items: Any) -> list[ItemResults]:
    path = Path(args.results) if args.results else None
    if path is not None and path.exists():
        results = load_results(path)
        wanted = {i.id for i in items}
        if {r.item_id for r in results} != wanted:
            raise InputError(f"{path}: its items differ from the golden set; delete it to rerun")
        return results
    results = await engine.calibration_results(
        items, judge=judge_choice(args), concurrency=args.concurrency
    )
    if path is not None:
        save_results(results, path)
    return results


def _f(value: float | None, fmt: str = ".3f") -> str:
    return "-" if value is None else format(value, fmt)


def render(r: CalibrationReport, written: Path | None) -> str:
    goal = (
        f"premium share <= {r.premium_share_limit:.0%}"
        if r.premium_share_limit is not None
        else f"retention >= {r.target_retention}"
    )
    bounds = ", ".join(
        f"{t} {r.old_boundaries.get(t, '-')} -> {b}" for t, b in r.boundaries.items()
    )
    lines = [
        f"{r.items_used} items scored on every tier ({r.items_unscored} left out) · goal: {goal}"
        + ("" if r.feasible else " (NOT reachable: closest shown)"),
        f"boundaries (max_complexity): {bounds}",
        f"cost {format_usd(r.cost_usd)} vs all-{r.tiers[-1]} {format_usd(r.strong_cost_usd)}"
        f" · quality {r.quality:.3f} vs {r.strong_quality:.3f} · retention {_f(r.retention)}",
        "tiers: " + ", ".join(f"{t} {s:.0%}" for t, s in r.tier_share.items()),
        f"cost-quality curve ({r.tiers[0]} -> {r.tiers[-1]}): APGR {_f(r.apgr)}"
        f" · CPT(50%) {_f(r.cpt50, '.0%')} · CPT(80%) {_f(r.cpt80, '.0%')}",
    ]
    step = max(1, len(r.curve) // 10)
    for p in r.curve[::step]:
        lines.append(f"  {p.strong_share:>5.0%} strong -> quality {p.quality:.3f}, PGR {_f(p.pgr)}")
    lines.append(f"written to {written}" if written else "not written (add --write)")
    return "\n".join(lines)


def run_quality(args: argparse.Namespace) -> int:
    engine = open_engine(args)
    try:
        rows = engine.tier_quality()
    finally:
        engine.close()
    if args.json:
        print_json(
            [
                {
                    "tier": q.tier,
                    "judged": q.judged,
                    "mean_score": q.mean_score,
                    "feedback_up": q.feedback_up,
                    "feedback_down": q.feedback_down,
                    "requests": q.requests,
                    "mean_cost_usd": usd_str(q.mean_cost_usd),
                    "cost_per_quality_point_usd": usd_str(q.cost_per_quality_point),
                    "simulated": q.simulated,
                }
                for q in rows
            ]
        )
        return EXIT_OK
    for q in rows:
        print(
            f"{q.tier:<10} judged {q.judged:>4} · mean {_f(q.mean_score, '.2f'):>5}"
            f" · up {q.feedback_up} / down {q.feedback_down}"
            f" · {format_usd(q.cost_per_quality_point)} per quality point"
            + (" (simulated judge)" if q.simulated else "")
        )
    return EXIT_OK
