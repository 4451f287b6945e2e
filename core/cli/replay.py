"""``centwise replay``: what the recorded history would have cost under another config.

The global ``--config`` (before the command) is the current configuration, the one
the history was recorded under; the other one is ``--with`` (``--config`` given after
``replay`` is accepted as the same option, since argparse hands everything after the
command to the command's own parser).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from core.cli.common import EXIT_OK, open_engine, parse_date
from core.config import load_config
from core.errors import InputError
from core.replay import render_text, report_json

__all__ = ["register"]


def register(sub: Any) -> None:
    p = sub.add_parser(
        "replay",
        help="what the recorded history would have cost under another config (offline)",
    )
    p.add_argument(
        "--with",
        "--config",
        dest="other_config",
        metavar="OTHER.toml",
        required=True,
        help="the configuration to replay under (the current one is the global --config)",
    )
    p.add_argument("--since", metavar="DATE", help="only requests on or after YYYY-MM-DD")
    p.add_argument(
        "--from", dest="source", metavar="FILE.jsonl", help="replay an imported file instead"
    )
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.add_argument("--out", metavar="REPORT", help="also write the report to this file")
    p.set_defaults(handler=run_replay)


def run_replay(args: argparse.Namespace) -> int:
    since = parse_date(args.since)
    other = load_config(Path(args.other_config).expanduser())
    source = Path(args.source).expanduser() if args.source else None
    engine = open_engine(args)
    try:
        report = engine.replay(other, since=since, source=source)
    finally:
        engine.close()
    text = (
        json.dumps(report_json(report), ensure_ascii=False) + "\n"
        if args.json
        else render_text(report)
    )
    sys.stdout.write(text)
    if args.out:
        try:
            Path(args.out).expanduser().write_text(text, encoding="utf-8")
        except OSError as e:
            raise InputError(f"--out {args.out}: cannot write it ({e.strerror})") from None
    return EXIT_OK
