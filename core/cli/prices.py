"""``centwise prices``: import a newer LiteLLM-format price table, or look one up."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from core.cli.common import EXIT_OK, EXIT_USAGE, open_engine
from core.money import format_usd, usd_str

__all__ = ["register"]


def register(sub: Any) -> None:
    p = sub.add_parser("prices", help="the price table")
    psub = p.add_subparsers(dest="prices_command", metavar="ACTION", required=True)
    imp = psub.add_parser("import", help="validate and use a newer price file; report changes")
    imp.add_argument("file", help="a model_prices_and_context_window.json-format file")
    imp.set_defaults(handler=run_import)
    show = psub.add_parser("show", help="the price of one model")
    show.add_argument("model")
    show.set_defaults(handler=run_show)


def run_import(args: argparse.Namespace) -> int:
    engine = open_engine(args)
    try:
        diff = engine.import_prices(Path(args.file))
    finally:
        engine.close()
    for line in diff.summary_lines():
        print(line)
    return EXIT_OK


def run_show(args: argparse.Namespace) -> int:
    engine = open_engine(args)
    try:
        price = engine.prices.lookup(args.model)
    finally:
        engine.close()
    if price is None:
        print(f"{args.model}: no known price (requests to it are recorded with cost unknown)")
        return EXIT_USAGE
    per_m = 1_000_000
    for field in (
        "input_cost_per_token",
        "output_cost_per_token",
        "cache_read_input_token_cost",
        "cache_creation_input_token_cost",
        "output_cost_per_reasoning_token",
    ):
        value = getattr(price, field)
        if value is not None:
            print(f"{field:<34} ${usd_str(value)}  ({format_usd(value * per_m)} per 1M tokens)")
    return EXIT_OK
