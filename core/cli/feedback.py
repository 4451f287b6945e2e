"""``centwise feedback``: thumbs up or down on an answer, stored per tier."""

from __future__ import annotations

import argparse
from typing import Any

from core.cli.common import EXIT_OK, open_engine

__all__ = ["register"]


def register(sub: Any) -> None:
    p = sub.add_parser("feedback", help="thumbs up or down on an answer (down: never cached)")
    p.add_argument("request_id", metavar="REQUEST_ID")
    p.add_argument("vote", choices=("up", "down"))
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    engine = open_engine(args)
    try:
        tier = engine.feedback(args.request_id, args.vote)
    finally:
        engine.close()
    note = " (kept out of the cache from now on)" if args.vote == "down" else ""
    print(f"thumbs {args.vote} recorded for {args.request_id} (tier {tier or '-'}){note}")
    return EXIT_OK
