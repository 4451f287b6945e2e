"""The ``centwise`` console script: no command opens the app, any command runs the CLI.

It lives in ``app`` so that the engine (``core``) never imports Qt, and it imports
Qt only when the app is actually opened, so the CLI works on a machine without it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from core.cli import build_parser
from core.cli import main as cli_main

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(args_list)
    if args.command is not None:
        return cli_main(args_list)
    try:
        from app.main import run_app
    except ImportError as e:
        print(
            f"centwise: the desktop app cannot start ({e}); the CLI works: "
            'centwise ask "your prompt" (see centwise --help)',
            file=sys.stderr,
        )
        return 2
    return run_app(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
