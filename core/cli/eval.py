"""``centwise eval``: a golden set through the router and through a baseline tier.

Exit code 0 when quality retention reaches the target, 1 when it does not (so CI can
gate on it), 2 for a bad file or argument.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

from core.cli.common import EXIT_OK, open_engine, print_json, read_text_file
from core.errors import InputError
from core.money import format_usd
from core.quality.evaluation import EvalReport, report_to_json
from core.quality.golden import GoldenItem, parse_golden

__all__ = ["EXIT_FAILED", "add_judge_options", "judge_choice", "load_golden", "register"]

EXIT_FAILED = 1


def register(sub: Any) -> None:
    p = sub.add_parser("eval", help="measure routing on a golden set: cost saved, quality kept")
    p.add_argument("golden", metavar="GOLDEN.jsonl")
    p.add_argument("--baseline", metavar="TIER", help="compare against (default: the top tier)")
    add_judge_options(p)
    p.add_argument("--target", type=float, metavar="X", help="retention to pass (default 0.95)")
    p.add_argument("--concurrency", type=int, default=4, metavar="N")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--out", metavar="REPORT", help="also write the JSON report here")
    p.set_defaults(handler=run)


def add_judge_options(p: argparse.ArgumentParser) -> None:
    judge = p.add_mutually_exclusive_group()
    judge.add_argument("--judge", metavar="TIER", help="judge tier (default: [routing] judge_tier)")
    judge.add_argument("--no-judge", action="store_true", help="score by assertions only")


def judge_choice(args: argparse.Namespace) -> bool | str:
    return False if args.no_judge else (args.judge or True)


def load_golden(path: str) -> list[GoldenItem]:
    return parse_golden(read_text_file(path, "golden set"), path)


def run(args: argparse.Namespace) -> int:
    if args.target is not None and not 0 < args.target <= 1:
        raise InputError(f"--target must be in (0, 1], got {args.target}")
    if args.concurrency < 1:
        raise InputError("--concurrency must be at least 1")
    items = load_golden(args.golden)
    report = asyncio.run(_run(args, items))
    data = report_to_json(report)
    if args.out:
        Path(args.out).write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", "utf-8")
    if args.json:
        print_json(data)
    else:
        print(render(report))
    return EXIT_OK if report.passed else EXIT_FAILED


async def _run(args: argparse.Namespace, items: list[GoldenItem]) -> EvalReport:
    engine = open_engine(args)
    try:
        return await engine.evaluate(
            items,
            baseline=args.baseline,
            judge=judge_choice(args),
            target_retention=args.target,
            concurrency=args.concurrency,
        )
    finally:
        await engine.aclose()


def _q(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def render(r: EvalReport) -> str:
    """The report as text: summary, tier shares, then one line per item."""
    scoring = f"judge {r.judge_tier} + assertions" if r.judge_tier else "assertions only"
    saving = "-" if r.saving is None else f"{float(r.saving) * 100:.1f}%"
    lines = [
        f"{len(r.rows)} items · baseline {r.baseline_tier} · scoring: {scoring}"
        + (" (simulated)" if r.simulated else ""),
        f"cost: routed {format_usd(r.routed_cost_usd)} vs baseline"
        f" {format_usd(r.baseline_cost_usd)} · saving {saving}"
        f" · judging {format_usd(r.judge_cost_usd)}",
        f"quality: routed {_q(r.routed_quality)} vs baseline {_q(r.baseline_quality)}"
        f" · retention {_q(r.retention)} (target {r.target_retention:.2f})"
        f" · {r.unscored} unscored",
        "tiers: " + ", ".join(f"{t} {s:.0%}" for t, s in r.tier_share.items()),
        "",
        f"{'item':<20} {'score':>5} {'routed':<10} {'quality':>7} {'cost':>11}"
        f" {'baseline':>8} {'cost':>11}",
    ]
    for row in r.rows:
        lines.append(
            f"{row.item_id[:20]:<20} {row.route_score or 0:>5.2f} {row.routed.tier:<10}"
            f" {_q(row.routed.quality):>7} {format_usd(row.routed.cost_usd):>11}"
            f" {_q(row.baseline.quality):>8} {format_usd(row.baseline.cost_usd):>11}"
        )
    lines += ["", "PASS" if r.passed else "FAIL: retention is below the target"]
    return "\n".join(lines)
