"""Opening a ledger file: tell a Centwise ledger from garbage or someone else's database.

A damaged file is never overwritten or deleted: with ``recover`` it is renamed to
``<name>.corrupt-<timestamp>`` (with its ``-wal``/``-shm``) and a fresh ledger takes
its place; without, the error says what happened and the file is left as it was.
A healthy SQLite database that is not a Centwise ledger is refused and never moved.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sqlite_utils import Database

from core.errors import CorruptLedgerError, LedgerError
from core.ledger.schema import is_centwise, migrate

__all__ = ["BUSY_TIMEOUT_S", "move_aside", "open_database", "probe"]

log = logging.getLogger(__name__)

BUSY_TIMEOUT_S = 5.0
SQLITE_MAGIC = b"SQLite format 3\x00"
_DAMAGE_CODES = {"SQLITE_CORRUPT", "SQLITE_NOTADB"}


@dataclass(frozen=True, slots=True)
class Verdict:
    """What :func:`probe` found at a path."""

    kind: Literal["new", "ours", "foreign", "corrupt"]
    reason: str = ""


#: Small tables checked by a light open check (``requests`` is the big one).
LIGHT_CHECK_TABLES = ("centwise_meta", "daily_rollup", "monthly_rollup", "reservations", "alerts")


def _integrity_problems(conn: sqlite3.Connection, full: bool) -> list[str]:
    if full:
        return [r[0] for r in conn.execute("PRAGMA quick_check(5)")]
    problems = []
    for table in LIGHT_CHECK_TABLES:
        problems += [r[0] for r in conn.execute(f"PRAGMA quick_check({table})")]
    return [p for p in problems if p != "ok"] or ["ok"]


def probe(path: Path, *, full_check: bool = True) -> Verdict:
    """Look at ``path`` read-only (no checkpoint, no write) and classify it.

    ``full_check`` runs ``PRAGMA quick_check`` over the whole file (about 2 s for a
    million requests); otherwise only the small tables are checked.
    """
    if not path.exists() or path.stat().st_size == 0:
        return Verdict("new")
    with path.open("rb") as fh:
        if fh.read(len(SQLITE_MAGIC)) != SQLITE_MAGIC:
            return Verdict("corrupt", "it is not an SQLite database")
    conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S)
    try:
        marked = is_centwise(conn)
        if marked is None:
            return Verdict("new")
        if not marked:
            return Verdict("foreign")
        problems = _integrity_problems(conn, full_check)
        if problems != ["ok"]:
            return Verdict("corrupt", "integrity check failed: " + "; ".join(problems))
        return Verdict("ours")
    except sqlite3.DatabaseError as exc:
        if getattr(exc, "sqlite_errorname", None) in _DAMAGE_CODES:
            return Verdict("corrupt", str(exc))
        raise LedgerError(f"cannot read the ledger {path}: {exc}") from exc
    finally:
        conn.close()


def move_aside(path: Path, now: float) -> Path:
    """Rename ``path`` (and its -wal/-shm) to a free ``<name>.corrupt-<ts>``; never overwrite."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while any(Path(f"{aside}{s}").exists() for s in ("", "-wal", "-shm")):
        aside = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
        n += 1
    os.rename(path, aside)
    for suffix in ("-wal", "-shm"):
        side = Path(f"{path}{suffix}")
        if side.exists():
            os.rename(side, Path(f"{aside}{suffix}"))
    return aside


def _connect(path: Path) -> Database:
    conn = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT_S, check_same_thread=False, isolation_level=None
    )
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        return Database(conn, recursive_triggers=False, execute_plugins=False)
    except BaseException:
        conn.close()
        raise


def open_database(
    path: Path, *, recover: bool, full_check: bool = True
) -> tuple[Database, Path | None]:
    """Open (creating or migrating) the ledger at ``path``.

    Returns the database and, when a damaged file was kept aside, where it went.
    """
    verdict = probe(path, full_check=full_check)
    recovered_from: Path | None = None
    if verdict.kind == "foreign":
        raise CorruptLedgerError(
            f"{path} is an SQLite database but not a Centwise ledger; it was left untouched."
            " Choose another ledger path."
        )
    if verdict.kind == "corrupt":
        if not recover:
            raise CorruptLedgerError(
                f"The ledger {path} is damaged ({verdict.reason}); it was left untouched."
                " Open it with recovery to keep it aside as"
                f" {path.name}.corrupt-<timestamp> and start a fresh ledger."
            )
        recovered_from = move_aside(path, time.time())
        log.warning(
            "ledger %s was damaged (%s); kept aside as %s; started a fresh ledger",
            path,
            verdict.reason,
            recovered_from,
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    db = _connect(path)
    try:
        migrate(db, str(path))
    except sqlite3.DatabaseError as exc:
        db.close()
        raise LedgerError(f"cannot open the ledger {path}: {exc}") from exc
    except BaseException:
        db.close()
        raise
    return db, recovered_from
