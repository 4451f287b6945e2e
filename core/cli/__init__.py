"""The ``centwise`` command-line interface: subcommands drive the same engine as the GUI.

(The console script itself is :func:`app.launcher.main`, which opens the app when no
command is given; this package never imports Qt.)

Exit codes: 0 ok, 2 usage, config or input error, 3 refused by a budget, 4 provider
error. No command shows a traceback for a Centwise error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from core.cli import (
    ask,
    cache,
    chat,
    compare,
    db,
    eval,
    feedback,
    keys,
    prices,
    replay,
    route,
    serve,
    spend,
)
from core.cli.common import EXIT_USAGE, run_command

__all__ = ["build_parser", "main"]

COMMANDS = (
    ask, chat, spend, cache, prices, keys, compare, eval, route, feedback, serve, replay, db,
)  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="centwise",
        description="See what every LLM call costs and why. With no command, opens the app.",
    )
    parser.add_argument("--config", metavar="PATH", help="config TOML (env CENTWISE_CONFIG)")
    parser.add_argument(
        "--data-dir", metavar="PATH", help="ledger and cache (env CENTWISE_DATA_DIR)"
    )
    parser.add_argument(
        "--recover",
        action="store_true",
        help="if the ledger is unreadable, keep it aside and start a new one",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    return run_command(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
