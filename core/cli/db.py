"""``centwise db``: the ledger's schema, and moving a SQLite history into PostgreSQL.

``centwise db upgrade`` brings the configured ledger (the SQLite file, or the database of
``[storage] url`` / ``CENTWISE_DATABASE_URL``) to this version's schema and says from
which version. ``centwise db copy --to postgresql://…`` copies the SQLite ledger in the
data folder (or ``--from FILE``) into a PostgreSQL database: requests in batches, each
batch one transaction, skipping the ones already there, so it can be interrupted and
run again and copies nothing twice; then conversations, feedback, quality samples and
gateway keys, each row only if its key is not there yet.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

from core.cli.common import EXIT_OK, data_dir_from, print_json
from core.config import config_from_env, load_config
from core.errors import InputError
from core.ledger import SCHEMA_VERSION
from core.ledger.selection import database_url, open_ledger
from core.ledger.store import Ledger
from core.pipeline.services import LEDGER_FILE

__all__ = ["SIDE_TABLES", "copy_ledger", "register"]

_BATCH = 1000
#: Tables copied after the requests, with their keys (a row whose key is there is kept).
SIDE_TABLES: tuple[tuple[str, str], ...] = (
    ("conversations", "id"),
    ("conversation_messages", "conversation_id, seq"),
    ("conversation_summaries", "conversation_id"),
    ("feedback", "request_id"),
    ("quality_samples", "request_id"),
    ("gateway_keys", "name"),
)


def register(sub: Any) -> None:
    p = sub.add_parser("db", help="the ledger's schema; copy a SQLite history to PostgreSQL")
    dsub = p.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    u = dsub.add_parser("upgrade", help="apply this version's schema to the configured ledger")
    u.add_argument("--url", help="a postgresql:// URL instead of the configured storage")
    u.add_argument("--json", action="store_true")
    u.set_defaults(handler=run_upgrade)
    c = dsub.add_parser(
        "copy", help="copy the SQLite ledger into PostgreSQL (resumable, nothing twice)"
    )
    c.add_argument("--to", required=True, metavar="URL", help="postgresql://user@host:port/db")
    c.add_argument("--from", dest="source", metavar="FILE", help="a SQLite ledger file")
    c.add_argument("--json", action="store_true")
    c.set_defaults(handler=run_copy)


def _sqlite_version(path: Path) -> int | None:
    if not path.exists():
        return None
    with closing(sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)) as conn:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])


def run_upgrade(args: argparse.Namespace) -> int:
    config = load_config(config_from_env(args.config))
    url = args.url or database_url(config)
    path = data_dir_from(args) / LEDGER_FILE
    before = None if url else _sqlite_version(path)
    ledger = open_ledger(config, path, url=url)
    try:
        if url is not None:
            before = getattr(ledger, "upgraded_from", None)
        where = ledger.where
        after = ledger.schema_version
    finally:
        ledger.close()
    if args.json:
        print_json({"ledger": where, "from_version": before, "version": after})
        return EXIT_OK
    if not before:
        print(f"{where}: created at schema version {after}")
    elif before == after:
        print(f"{where}: already at schema version {after} (the newest this Centwise knows)")
    else:
        print(f"{where}: upgraded from schema version {before} to {after}")
    return EXIT_OK


def copy_ledger(source: Ledger, dest: Ledger, progress: Any = None) -> dict[str, int]:
    """Copy every request and side-table row of ``source`` missing from ``dest``;
    returns how many of each were copied."""
    copied = {"requests": 0, "requests_already_there": 0}
    batch: list[Any] = []

    def flush() -> None:
        found = dest.existing_ids([r.request_id for r in batch])
        new = [r for r in batch if r.request_id not in found]
        dest.record_many(new)
        copied["requests"] += len(new)
        copied["requests_already_there"] += len(batch) - len(new)
        batch.clear()
        if progress is not None:
            progress(copied["requests"] + copied["requests_already_there"])

    for rec in source.iter_records():
        batch.append(rec)
        if len(batch) >= _BATCH:
            flush()
    if batch:
        flush()
    for table, key in SIDE_TABLES:
        copied[table] = _copy_table(source, dest, table, key)
    return copied


def _copy_table(source: Ledger, dest: Ledger, table: str, key: str) -> int:
    with source.reading() as conn:
        cur = conn.execute(f"SELECT * FROM {table}")
        columns = [d[0] for d in cur.description]
        rows = cur.fetchall()
    if not rows:
        return 0
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        f" ON CONFLICT ({key}) DO NOTHING"
    )
    total = 0
    with dest.writing() as conn:
        for row in rows:
            total += max(conn.execute(sql, row).rowcount, 0)
    return total


def run_copy(args: argparse.Namespace) -> int:
    if not args.to.startswith(("postgresql://", "postgres://")):
        raise InputError(f"--to takes a postgresql:// URL, got {args.to.split('://')[0]!r}")
    path = Path(args.source) if args.source else data_dir_from(args) / LEDGER_FILE
    if not path.exists():
        raise InputError(f"there is no SQLite ledger at {path} to copy")
    config = load_config(config_from_env(args.config))
    source = Ledger.open(path, full_check=False)
    try:
        dest = open_ledger(config, path, url=args.to)
        try:

            def progress(n: int) -> None:
                if not args.json:
                    print(f"\r{n:,} requests read", end="", file=sys.stderr, flush=True)

            copied = copy_ledger(source, dest, progress)
            where = dest.where
        finally:
            dest.close()
    finally:
        source.close()
    if args.json:
        print_json({"from": str(path), "to": where, "copied": copied})
        return EXIT_OK
    print(file=sys.stderr)
    print(
        f"copied {copied['requests']:,} requests from {path} to {where} "
        f"({copied['requests_already_there']:,} were already there)"
    )
    side = ", ".join(f"{n} {t}" for t, n in copied.items() if t in dict(SIDE_TABLES) and n)
    if side:
        print(f"and {side}")
    print(f"schema version {SCHEMA_VERSION}; run it again at any time: it copies only what is new")
    return EXIT_OK
