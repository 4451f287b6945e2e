"""``centwise spend`` and ``centwise export``: what was spent, and the raw rows."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from core.cli.common import EXIT_OK, open_engine, parse_date, print_json
from core.errors import InputError
from core.ledger import GroupTotal, Totals
from core.money import format_usd, usd_str

__all__ = ["register"]


def register(sub: Any) -> None:
    p = sub.add_parser("spend", help="totals, budgets, forecast, per tier and model")
    p.add_argument("--since", metavar="DATE", help="only requests on or after YYYY-MM-DD")
    p.add_argument(
        "--by",
        choices=("member", "app"),
        action="append",
        help="also split by team member or by app (gateway key); may be repeated",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=run_spend)
    e = sub.add_parser("export", help="export the ledger as CSV or JSONL")
    e.add_argument("--format", choices=("csv", "jsonl"), required=True)
    e.add_argument("--since", metavar="DATE")
    e.add_argument("--out", metavar="FILE", help="write here instead of stdout")
    e.set_defaults(handler=run_export)


def _totals_json(t: Totals) -> dict[str, Any]:
    return {
        "requests": t.requests,
        "cost_usd": usd_str(t.cost_usd),
        "unknown_cost_requests": t.unknown_cost_requests,
        "saved_usd": usd_str(t.saved_usd),
        "input_tokens": t.input_tokens,
        "output_tokens": t.output_tokens,
        "cache_hits": t.cache_hits,
        "errors": t.errors,
        "refused": t.refused,
    }


def _group_json(g: GroupTotal) -> dict[str, Any]:
    return {"key": g.key, **_totals_json(g.totals)}


def run_spend(args: argparse.Namespace) -> int:
    since = parse_date(args.since)
    engine = open_engine(args)
    splits = list(dict.fromkeys(args.by or ()))
    try:
        s = engine.spend_summary(since)
        extra = {by: engine.breakdown(by, since) for by in splits}
    finally:
        engine.close()
    budgets = {
        "daily": {"limit_usd": usd_str(s.daily_usd), "spent_usd": usd_str(s.today.cost_usd)},
        "monthly": {"limit_usd": usd_str(s.monthly_usd), "spent_usd": usd_str(s.month.cost_usd)},
        "hard_limit": engine.config.budget.hard_limit,
    }
    forecast = {
        "day_projected_usd": usd_str(s.forecast.day_projected_usd),
        "month_projected_usd": usd_str(s.forecast.month_projected_usd),
        "method": s.forecast.method,
    }
    if args.json:
        print_json(
            {
                "since": args.since,
                "totals": _totals_json(s.totals),
                "today": _totals_json(s.today),
                "month": _totals_json(s.month),
                "budgets": budgets,
                "forecast": forecast,
                "by_tier": [_group_json(g) for g in s.by_tier],
                "by_model": [_group_json(g) for g in s.by_model],
                "by_purpose": [_group_json(g) for g in s.by_purpose],
                **{f"by_{by}": [_group_json(g) for g in groups] for by, groups in extra.items()},
            }
        )
        return EXIT_OK
    t = s.totals
    unknown = f" (+{t.unknown_cost_requests} of unknown cost)" if t.unknown_cost_requests else ""
    print(f"Spend{' since ' + args.since if args.since else ''}: {format_usd(t.cost_usd)}{unknown}")
    print(
        f"  requests {t.requests}, cache hits {t.cache_hits}, saved {format_usd(t.saved_usd)},"
        f" errors {t.errors}, refused {t.refused}"
    )
    for name, limit, spent, proj in (
        ("Today", s.daily_usd, s.today.cost_usd, s.forecast.day_projected_usd),
        ("This month", s.monthly_usd, s.month.cost_usd, s.forecast.month_projected_usd),
    ):
        lim = f" of {format_usd(limit)}" if limit is not None else " (no limit)"
        print(f"{name}: {format_usd(spent)}{lim}; forecast {format_usd(proj)}")
    groups_by = [("By tier", s.by_tier), ("By model", s.by_model), ("By purpose", s.by_purpose)]
    blank = {"member": "(no member)", "app": "(the app, no gateway key)"}
    groups_by += [(f"By {by}", groups) for by, groups in extra.items()]
    for title, groups in groups_by:
        print(f"{title}:")
        empty = blank.get(title.removeprefix("By "), "-")
        for g in groups:
            print(
                f"  {g.key or empty:<24} {g.totals.requests:>7} req  "
                f"{format_usd(g.totals.cost_usd)}"
            )
    return EXIT_OK


def run_export(args: argparse.Namespace) -> int:
    since = parse_date(args.since)
    engine = open_engine(args)
    try:
        if args.out:
            try:
                with Path(args.out).open("w", encoding="utf-8", newline="") as fh:
                    n = engine.export(args.format, fh, since)
            except OSError as e:
                raise InputError(f"--out {args.out}: cannot write ({e.strerror})") from None
            print(f"exported {n} requests to {args.out}", file=sys.stderr)
        else:
            engine.export(args.format, sys.stdout, since)
    finally:
        engine.close()
    return EXIT_OK
