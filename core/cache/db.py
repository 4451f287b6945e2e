"""The cache's SQLite file: schema, opening, and keeping a damaged file aside.

The file is marked with an ``application_id`` and a ``user_version`` (the schema
version). A file that is not SQLite, belongs to another program, or is damaged is
renamed to ``<name>.corrupt-<timestamp>`` and an empty cache takes its place: a cache
can always be rebuilt, so it must never stop the app from starting.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
import uuid
from collections.abc import Iterable
from contextlib import AbstractContextManager
from decimal import Decimal
from pathlib import Path

import numpy as np

from core.cache.entries import CacheEntry, NamespaceStats
from core.money import from_pusd
from core.sqlite_tx import immediate
from core.types import Usage

__all__ = [
    "APPLICATION_ID",
    "COLUMNS",
    "SCHEMA_VERSION",
    "NotACacheError",
    "entry_from_row",
    "keep_aside",
    "open_cache_db",
    "transaction",
]

APPLICATION_ID = 0x43574348  # "CWCH"
SCHEMA_VERSION = 2
BUSY_TIMEOUT_MS = 10_000
_OPEN_TRIES = 5  # about 1.5 s of retries before a non-definitive problem counts

#: version -> the statements that bring a file of that version to the next one.
_MIGRATIONS = {
    1: """
CREATE TABLE IF NOT EXISTS cache_evidence (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    entry_id INTEGER NOT NULL,
    request_id TEXT,
    at REAL NOT NULL,
    score REAL NOT NULL,
    correct INTEGER,
    source TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS cache_evidence_entry ON cache_evidence (entry_id);
CREATE INDEX IF NOT EXISTS cache_evidence_request ON cache_evidence (request_id);
ALTER TABLE cache_entries ADD COLUMN saved_pusd INTEGER NOT NULL DEFAULT 0;
UPDATE cache_entries SET saved_pusd = hits * cost_pusd WHERE cost_pusd IS NOT NULL
""",
}

_SCHEMA = """
CREATE TABLE cache_entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    namespace TEXT NOT NULL,
    normalized_prompt TEXT NOT NULL,
    prompt TEXT NOT NULL,
    embedding BLOB,
    embedder TEXT,
    response TEXT NOT NULL,
    model TEXT,
    tier TEXT,
    tier_rank INTEGER NOT NULL DEFAULT 0,
    request_id TEXT,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    cost_pusd INTEGER,
    created_at REAL NOT NULL,
    last_hit_at REAL,
    hits INTEGER NOT NULL DEFAULT 0,
    ttl_seconds INTEGER,
    bad INTEGER NOT NULL DEFAULT 0,
    finish_reason TEXT
);
CREATE INDEX cache_entries_exact ON cache_entries (namespace, normalized_prompt);
CREATE INDEX cache_entries_request ON cache_entries (request_id);
CREATE INDEX cache_entries_lru ON cache_entries (coalesce(last_hit_at, created_at), id);
CREATE TABLE cache_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO cache_meta (key, value) VALUES ('generation', '0');
""" + "".join(f"{m};" for m in _MIGRATIONS.values())

#: Every column but the embedding, in the order :func:`entry_from_row` reads them.
COLUMNS = (
    "id, namespace, prompt, response, model, tier, tier_rank, request_id, input_tokens, "
    "output_tokens, cost_pusd, created_at, last_hit_at, hits, ttl_seconds, bad, embedder,"
    " saved_pusd"
)


class NotACacheError(Exception):
    """The file is not a usable cache database; the message says why.

    ``definitive`` is False for states another process may be passing through
    (a damaged-looking page, a busy file): those are retried before the file is
    kept aside, so a healthy file in use is never moved away."""

    def __init__(self, message: str, *, definitive: bool = True) -> None:
        super().__init__(message)
        self.definitive = definitive


def entry_from_row(row: tuple[object, ...]) -> CacheEntry:
    """Build a :class:`CacheEntry` from a row selected with :data:`COLUMNS`."""
    (eid, ns, prompt, response, model, tier, rank, rid, tin, tout, pusd) = row[:11]
    (created, last_hit, hits, ttl, bad, embedder, saved) = row[11:]
    cost: Decimal | None = None if pusd is None else from_pusd(int(str(pusd)))
    return CacheEntry(
        id=int(str(eid)),
        namespace=str(ns),
        prompt=str(prompt),
        response=str(response),
        model=None if model is None else str(model),
        tier=None if tier is None else str(tier),
        tier_rank=int(str(rank)),
        request_id=None if rid is None else str(rid),
        usage=Usage(input_tokens=int(str(tin)), output_tokens=int(str(tout))),
        cost_usd=cost,
        created_at=float(str(created)),
        last_hit_at=None if last_hit is None else float(str(last_hit)),
        hits=int(str(hits)),
        ttl_seconds=None if ttl is None else int(str(ttl)),
        bad=bool(bad),
        embedder=None if embedder is None else str(embedder),
        saved_usd=from_pusd(int(str(saved))),
    )


def transaction(conn: sqlite3.Connection) -> AbstractContextManager[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (rolled back on error): one writer at a time."""
    return immediate(conn)


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
    )
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    return conn


def _init_schema(conn: sqlite3.Connection) -> None:
    for statement in _SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _migrate(conn: sqlite3.Connection) -> None:
    with transaction(conn):  # another process may have migrated meanwhile: read again
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        for v in range(version, SCHEMA_VERSION):
            for statement in _MIGRATIONS[v].split(";"):
                if statement.strip():
                    conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _create_atomically(path: Path) -> None:
    """Build a complete, empty cache file aside and link it into place unless one
    appeared meanwhile: a process never sees a half-created file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    try:
        conn = _connect(tmp)
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            with transaction(conn):
                _init_schema(conn)
        finally:
            conn.close()
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process won the race: use its file
        except OSError:  # no hard links on this file system
            if not path.exists():
                os.replace(tmp, path)
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(str(tmp) + suffix).unlink(missing_ok=True)


def _check_or_init(conn: sqlite3.Connection) -> None:
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    if app_id == 0:
        with transaction(conn):  # an empty file someone else created
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if app_id == 0 and tables:
                raise NotACacheError("is an SQLite file of another program")
            if app_id == 0:
                _init_schema(conn)
                return
    if app_id != APPLICATION_ID:
        raise NotACacheError("is an SQLite file of another program")
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise NotACacheError(f"has schema version {version}, newer than this Centwise")
    if version < SCHEMA_VERSION:
        _migrate(conn)
    if conn.execute("PRAGMA quick_check(1)").fetchone()[0] != "ok":
        raise NotACacheError("is damaged", definitive=False)


def _open(path: Path) -> sqlite3.Connection:
    conn = _connect(path)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        _check_or_init(conn)
    except sqlite3.DatabaseError as e:
        conn.close()
        definitive = getattr(e, "sqlite_errorcode", None) == sqlite3.SQLITE_NOTADB
        raise NotACacheError(f"cannot be read as a cache ({e})", definitive=definitive) from None
    except NotACacheError:
        conn.close()
        raise
    return conn


def keep_aside(path: Path, now: float) -> Path:
    """Rename ``path`` (and its ``-wal``/``-shm`` files) out of the way; return the new name."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while aside.exists():
        n += 1
        aside = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    for suffix in ("", "-wal", "-shm"):
        src = Path(str(path) + suffix)
        with contextlib.suppress(FileNotFoundError):  # no sidecar, or moved by another process
            src.rename(Path(str(aside) + suffix))
    return aside


def _open_retrying(path: Path) -> sqlite3.Connection:
    for attempt in range(_OPEN_TRIES):
        if not path.exists():
            _create_atomically(path)
        try:
            return _open(path)
        except NotACacheError as e:
            if e.definitive or attempt == _OPEN_TRIES - 1:
                raise
            time.sleep(0.05 * 2**attempt)  # maybe another process's moment: look again
    raise AssertionError("unreachable")


def open_cache_db(path: Path, now: float) -> tuple[sqlite3.Connection, list[str]]:
    """Open (or create) the cache file; a bad file is kept aside with a warning."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return _open_retrying(path), []
    except NotACacheError as e:
        aside = keep_aside(path, now)
        warning = f"cache database {path} {e}; kept it as {aside.name} and started empty"
        return _open_retrying(path), [warning]


def vector_from_blob(blob: bytes | None, dim: int) -> np.ndarray | None:
    """A stored float32 embedding, or ``None`` when missing or of another size."""
    if blob is None or len(blob) != 4 * dim:
        return None
    return np.frombuffer(blob, dtype=np.float32)


def json_ids(ids: Iterable[int]) -> str:
    """Ids as a JSON array, for ``IN (SELECT value FROM json_each(?))`` (no 999-arg limit)."""
    return "[" + ",".join(str(int(i)) for i in ids) + "]"


def select_ids(conn: sqlite3.Connection, where: str, args: tuple[object, ...]) -> list[int]:
    return [int(r[0]) for r in conn.execute(f"SELECT id FROM cache_entries WHERE {where}", args)]


def select_entries(conn: sqlite3.Connection, ids: Iterable[int]) -> dict[int, CacheEntry]:
    rows = conn.execute(
        f"SELECT {COLUMNS} FROM cache_entries WHERE id IN (SELECT value FROM json_each(?))",
        (json_ids(ids),),
    ).fetchall()
    return {e.id: e for e in map(entry_from_row, rows)}


def delete_ids(conn: sqlite3.Connection, ids: Iterable[int]) -> int:
    cur = conn.execute(
        "DELETE FROM cache_entries WHERE id IN (SELECT value FROM json_each(?))", (json_ids(ids),)
    )
    return int(cur.rowcount)


def namespace_stats(conn: sqlite3.Connection) -> list[NamespaceStats]:
    rows = conn.execute(
        "SELECT namespace, sum(bad = 0), sum(bad), sum(hits),"
        " sum(saved_pusd),"
        " sum(CASE WHEN cost_pusd IS NULL THEN hits ELSE 0 END)"
        " FROM cache_entries GROUP BY namespace ORDER BY namespace"
    ).fetchall()
    return [
        NamespaceStats(str(ns), int(live), int(bad), int(hits), from_pusd(int(saved)), int(unk))
        for ns, live, bad, hits, saved, unk in rows
    ]


def evict_over_limit(conn: sqlite3.Connection, max_entries: int, now: float) -> list[int]:
    """Inside a transaction: when over ``max_entries``, delete bad and expired entries,
    then the least recently used, down to 90% of the limit (evicting a tenth at once
    keeps other processes' index rebuilds rare). Returns the deleted ids."""
    count = int(conn.execute("SELECT count(*) FROM cache_entries").fetchone()[0])
    if count <= max_entries:
        return []
    target = max_entries - max_entries // 10
    dead = select_ids(
        conn, "bad = 1 OR (ttl_seconds IS NOT NULL AND created_at + ttl_seconds <= ?)", (now,)
    )
    lru = select_ids(
        conn,
        "id NOT IN (SELECT value FROM json_each(?))"
        " ORDER BY coalesce(last_hit_at, created_at), id LIMIT ?",
        (json_ids(dead), max(0, count - len(dead) - target)),
    )
    delete_ids(conn, dead + lru)
    return dead + lru


__all__ += [
    "delete_ids",
    "evict_over_limit",
    "json_ids",
    "namespace_stats",
    "select_entries",
    "select_ids",
    "vector_from_blob",
]
