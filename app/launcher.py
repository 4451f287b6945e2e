"""The ``centwise`` console script: no command opens the app, any command runs the CLI.

It lives in ``app`` so that the engine (``core``) never imports Qt, and it imports
Qt only when the app is actually opened, so the CLI works on a machine without it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main", "version"]


def version() -> str:
    """The installed Centwise version (the bundle carries its package metadata)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("centwise")
    except PackageNotFoundError:
        return "0+unknown"


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] in (["--version"], ["-V"]):
        print(f"centwise {version()}")
        return 0
    args = _app_args(args_list)
    if args is None:  # a command (or --help): the CLI, without loading Qt
        from core.cli import main as cli_main

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


def _app_args(args: list[str]) -> argparse.Namespace | None:
    """The global flags when no command is given, else None. Parsed by hand so that
    opening the app does not import every CLI command (start-up time)."""
    values: dict[str, str | None] = {"config": None, "data_dir": None}
    recover = False
    i = 0
    while i < len(args):
        token = args[i]
        name, eq, inline = token.partition("=")
        if name in ("--config", "--data-dir"):
            key = name[2:].replace("-", "_")
            if eq:
                values[key] = inline
            elif i + 1 < len(args):
                values[key], i = args[i + 1], i + 1
            else:
                return None  # let the CLI parser report the missing value
        elif token == "--recover":
            recover = True
        else:
            return None
        i += 1
    return argparse.Namespace(command=None, recover=recover, **values)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
