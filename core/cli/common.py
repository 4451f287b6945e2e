"""What every subcommand shares: opening the engine, and errors as exit codes."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import platformdirs

from core.config import config_from_env, load_config
from core.engine import Engine
from core.errors import CentwiseError, InputError

__all__ = [
    "EXIT_BUDGET",
    "EXIT_OK",
    "EXIT_PROVIDER",
    "EXIT_USAGE",
    "open_engine",
    "parse_date",
    "print_json",
    "read_text_file",
    "run_command",
]

EXIT_OK, EXIT_USAGE, EXIT_BUDGET, EXIT_PROVIDER = 0, 2, 3, 4

Handler = Callable[[argparse.Namespace], int]


def data_dir_from(args: argparse.Namespace) -> Path:
    value = args.data_dir or os.environ.get("CENTWISE_DATA_DIR")
    if value:
        return Path(value).expanduser()
    return Path(platformdirs.user_data_dir("centwise", appauthor=False))


def open_engine(args: argparse.Namespace) -> Engine:
    """Build the engine from ``--config``/``--data-dir`` (or their env vars)."""
    config = load_config(config_from_env(args.config))
    from core.keys import KeyStore, log_warnings_redacted

    keys = KeyStore()
    log_warnings_redacted(keys)
    return Engine.open(
        config,
        data_dir_from(args),
        key_lookup=keys.lookup_for(config),
        recover_ledger=bool(args.recover),
    )


def run_command(args: argparse.Namespace) -> int:
    """Run the subcommand's handler, turning Centwise errors into exit codes."""
    handler: Handler = args.handler
    try:
        return handler(args)
    except CentwiseError as e:
        print(f"centwise: {e}", file=sys.stderr)
        return e.exit_code if e.exit_code in (2, 3, 4) else EXIT_USAGE
    except KeyboardInterrupt:
        print("centwise: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK


def parse_date(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InputError(f"--since: expected a date like 2026-11-01, got {value!r}") from None


def read_text_file(path: str, what: str) -> str:
    """Read a UTF-8 file, or stdin for ``-``, with errors that name the file."""
    try:
        raw = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(f"{what} {path}: no such file") from None
    except OSError as e:
        raise InputError(f"{what} {path}: cannot read it ({e.strerror})") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(
            f"{what} {path}: not UTF-8 text (invalid byte 0x{raw[e.start]:02x} at offset {e.start})"
        ) from None


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()
