"""The ledger's schema: ordered migrations, the Centwise marker and the version.

The schema version lives in ``PRAGMA user_version`` (mirrored in ``centwise_meta``).
Migration *n* turns a version *n-1* database into version *n*; adding a version means
writing one ``_vN(db)`` function and appending it to :data:`MIGRATIONS`. Version 2 adds
context management: four ``requests`` columns and the stored conversations.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from sqlite_utils import Database

from core.errors import CorruptLedgerError, LedgerError
from core.ledger.codec import COLUMNS, ROLLUP_DIMS, ROLLUP_SUMS, V1_COLUMNS
from core.ledger.rollup import POINT_SUMS, add_to_rollups

__all__ = [
    "APPLICATION_ID",
    "GATEWAY_KEYS_DDL",
    "MARKER_TABLE",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "is_centwise",
    "migrate",
]

#: ``PRAGMA application_id`` of every Centwise ledger: ASCII "CWLG".
APPLICATION_ID = 0x43574C47
MARKER_TABLE = "centwise_meta"

Migration = Callable[[Database], None]


def _v1(db: Database) -> None:
    """The first schema: requests, the rollups, reservations, alerts, meta."""
    db.table(MARKER_TABLE).create({"key": str, "value": str}, pk="key")
    db.execute(
        f"INSERT INTO {MARKER_TABLE}(key, value) VALUES ('app', 'centwise'),"
        " ('created_at', strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))"
    )
    _create_requests(db)
    _create_rollup(db)
    db.table("reservations").create(
        {
            "id": str,
            "request_id": str,
            "amount_pusd": int,
            "day": str,
            "month": str,
            "created_at": float,
            "expires_at": float,
        },
        pk="id",
        not_null={"request_id", "amount_pusd", "day", "month", "created_at", "expires_at"},
    )
    db.table("reservations").create_index(["expires_at"])
    db.table("reservations").create_index(["day"])
    db.table("reservations").create_index(["month"])
    db.table("alerts").create({"key": str, "fired_at": float}, pk="key")


def _create_requests(db: Database) -> None:
    real = {"started_at", "finished_at", "route_score", "cache_similarity", "latency_ms", "ttft_ms"}
    integer = {
        "input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens",
        "reasoning_tokens", "estimated_input_tokens", "estimated_output_tokens",
        "usage_estimated", "cost_pusd", "cost_known", "saved_pusd", "retries", "simulated",
        "degraded",
    }  # fmt: skip
    columns: dict[str, type] = {
        name: float if name in real else int if name in integer else str for name in V1_COLUMNS
    }
    nullable = {
        "provider", "model", "tier", "route_score", "route_mode", "cache_similarity",
        "cache_matched_request_id", "estimated_input_tokens", "estimated_output_tokens",
        "cost_pusd", "latency_ms", "ttft_ms", "error", "error_kind", "system",
        "finish_reason", "conversation_id",
    }  # fmt: skip
    table = db.table("requests")
    table.create(
        columns,
        pk="request_id",
        not_null=set(V1_COLUMNS) - nullable,
    )
    table.create_index(["finished_at"])
    for name in ("tier", "model", "status", "cache_outcome", "purpose"):
        table.create_index([name, "finished_at"])


def _create_rollup(db: Database) -> None:
    """Per-day and per-month sums, clustered on their key (WITHOUT ROWID) for fast scans.

    Aggregates over whole months read ``monthly_rollup`` (a few hundred rows a month),
    the ragged ends of a date range read ``daily_rollup``; plots read ``daily_points``
    (see :mod:`core.ledger.rollup`).
    """
    dims = ", ".join(
        f"{d} {'INTEGER' if d == 'simulated' else 'TEXT'} NOT NULL" for d in ROLLUP_DIMS
    )
    sums = ", ".join(f"{s} INTEGER NOT NULL" for s in ROLLUP_SUMS)
    key = ", ".join(ROLLUP_DIMS)
    db.execute(
        f"CREATE TABLE daily_rollup (day TEXT NOT NULL, month TEXT NOT NULL, {dims}, {sums},"
        f" PRIMARY KEY (day, {key})) WITHOUT ROWID"
    )
    db.execute(
        f"CREATE TABLE monthly_rollup (month TEXT NOT NULL, {dims}, {sums},"
        f" PRIMARY KEY (month, {key})) WITHOUT ROWID"
    )
    points = ", ".join(f"{s} INTEGER NOT NULL" for s in POINT_SUMS)
    db.execute(
        "CREATE TABLE daily_points (dim TEXT NOT NULL, day TEXT NOT NULL, key TEXT NOT NULL,"
        f" {points}, PRIMARY KEY (dim, day, key)) WITHOUT ROWID"
    )


def _v2(db: Database) -> None:
    """Context management: per-request context figures, and stored conversations."""
    for ddl in (
        "ALTER TABLE requests ADD COLUMN context_tokens_before INTEGER",
        "ALTER TABLE requests ADD COLUMN context_tokens_after INTEGER",
        "ALTER TABLE requests ADD COLUMN context_saved_pusd INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE requests ADD COLUMN context_actions TEXT NOT NULL DEFAULT '[]'",
        "CREATE INDEX requests_conversation ON requests(conversation_id, finished_at)"
        " WHERE conversation_id IS NOT NULL",
        "CREATE TABLE conversations (id TEXT PRIMARY KEY, system TEXT, title TEXT NOT NULL,"
        " created_at REAL NOT NULL, updated_at REAL NOT NULL)",
        "CREATE INDEX conversations_updated ON conversations(updated_at)",
        "CREATE TABLE conversation_messages (conversation_id TEXT NOT NULL"
        " REFERENCES conversations(id) ON DELETE CASCADE, seq INTEGER NOT NULL,"
        " role TEXT NOT NULL, content TEXT NOT NULL, name TEXT, metadata TEXT,"
        " created_at REAL NOT NULL, request_id TEXT, PRIMARY KEY (conversation_id, seq))"
        " WITHOUT ROWID",
        # One rolling summary per conversation: it covers every message with seq < upto_seq.
        "CREATE TABLE conversation_summaries (conversation_id TEXT PRIMARY KEY"
        " REFERENCES conversations(id) ON DELETE CASCADE, upto_seq INTEGER NOT NULL,"
        " content TEXT NOT NULL, request_id TEXT, created_at REAL NOT NULL)",
    ):
        db.execute(ddl)


def _v3(db: Database) -> None:
    """Routing quality: thumbs up/down per answer, and judged samples of live answers.

    Self-contained (touches no table of v1 or v2). Both tables are keyed by the judged
    request; ``tier`` is copied from it so per-tier quality needs no join.
    """
    for ddl in (
        "CREATE TABLE feedback (request_id TEXT PRIMARY KEY, tier TEXT,"
        " verdict TEXT NOT NULL CHECK (verdict IN ('up', 'down')), at REAL NOT NULL)",
        "CREATE INDEX feedback_tier ON feedback(tier)",
        "CREATE TABLE quality_samples (request_id TEXT PRIMARY KEY, tier TEXT, score REAL,"
        " reason TEXT NOT NULL, judge_request_id TEXT, judge_tier TEXT,"
        " simulated INTEGER NOT NULL, at REAL NOT NULL)",
        "CREATE INDEX quality_samples_tier ON quality_samples(tier, at)",
    ):
        db.execute(ddl)


def _v4(db: Database) -> None:
    """Routing savings per request (what the top tier would have cost, less the cost)."""
    db.execute("ALTER TABLE requests ADD COLUMN routing_saved_pusd INTEGER NOT NULL DEFAULT 0")


def _v5(db: Database) -> None:
    """Reservations lose their ``day`` and ``month`` indexes. Only unexpired holds are
    kept (a few per request in flight), so the budget check reads them through the
    ``expires_at`` index just as fast, and each hold, made and dropped once per request,
    writes two fewer b-trees each time."""
    db.execute("DROP INDEX IF EXISTS idx_reservations_day")
    db.execute("DROP INDEX IF EXISTS idx_reservations_month")


def _v6(db: Database) -> None:
    """Tool calls in replies, and what each request asked for beyond its text (tools,
    JSON output, sampling, images, tool results, end user, metadata), as JSON; stored
    conversation messages keep their tool calls, results and images."""
    db.execute("ALTER TABLE requests ADD COLUMN tool_calls TEXT NOT NULL DEFAULT '[]'")
    db.execute("ALTER TABLE requests ADD COLUMN request_detail TEXT NOT NULL DEFAULT '{}'")
    db.execute("ALTER TABLE conversation_messages ADD COLUMN parts TEXT")


def _v7(db: Database) -> None:
    """Provider prompt caching: one-hour cache writes (priced apart), what caching saved
    and what a break lost per request, the break's cause, and the detector's detail."""
    for ddl in (
        "ALTER TABLE requests ADD COLUMN cache_write_1h_tokens INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE requests ADD COLUMN prompt_cache TEXT NOT NULL DEFAULT '{}'",
        "ALTER TABLE requests ADD COLUMN prompt_cache_expected_tokens INTEGER",
        "ALTER TABLE requests ADD COLUMN prompt_cache_saved_pusd INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE requests ADD COLUMN prompt_cache_lost_pusd INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE requests ADD COLUMN prompt_cache_lost_tokens INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE requests ADD COLUMN prompt_cache_break TEXT",
        # The report reads only requests sent to a provider with a prompt cache.
        "CREATE INDEX requests_prompt_cache ON requests(finished_at)"
        " WHERE prompt_cache_expected_tokens IS NOT NULL",
    ):
        db.execute(ddl)


def _v8(db: Database) -> None:
    """Team mode: who sent each request (``member``) and through which gateway key
    (``app``), as rollup dimensions too (so spend splits by them and per-member and
    per-key budgets read the rollups); holds carry them; virtual gateway keys, stored
    only as hashes. The rollups are rebuilt from ``requests`` with the new key."""
    conn = db.conn
    for ddl in (
        "ALTER TABLE requests ADD COLUMN member TEXT",
        "ALTER TABLE requests ADD COLUMN app TEXT",
        "ALTER TABLE reservations ADD COLUMN member TEXT",
        "ALTER TABLE reservations ADD COLUMN app TEXT",
        "DROP TABLE daily_rollup",
        "DROP TABLE monthly_rollup",
        "DROP TABLE daily_points",
        GATEWAY_KEYS_DDL,
    ):
        conn.execute(ddl)
    _create_rollup(db)
    cursor = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM requests")
    while rows := cursor.fetchmany(5000):
        add_to_rollups(conn, rows)


#: Virtual gateway keys (``centwise keys gateway create``): the key itself is shown
#: once and only its SHA-256 is kept; limits in picodollars, NULL for none.
GATEWAY_KEYS_DDL = (
    "CREATE TABLE gateway_keys (name TEXT PRIMARY KEY, key_hash TEXT NOT NULL UNIQUE,"
    " prefix TEXT NOT NULL, daily_pusd BIGINT, monthly_pusd BIGINT,"
    " created_at REAL NOT NULL, created_by TEXT, revoked_at REAL)"
)

#: Ordered migrations; index i builds version i + 1.
MIGRATIONS: tuple[Migration, ...] = (_v1, _v2, _v3, _v4, _v5, _v6, _v7, _v8)
SCHEMA_VERSION = len(MIGRATIONS)


def is_centwise(conn: sqlite3.Connection) -> bool | None:
    """True for a Centwise ledger, None for an empty database, False for anything else."""
    (app_id,) = conn.execute("PRAGMA application_id").fetchone()
    if app_id == APPLICATION_ID:
        return True
    if app_id != 0:
        return False
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if not tables:
        return None
    if MARKER_TABLE not in tables:
        return False
    row = conn.execute(f"SELECT value FROM {MARKER_TABLE} WHERE key='app'").fetchone()
    return row is not None and row[0] == "centwise"


def migrate(db: Database, path: str) -> int:
    """Bring the ledger to :data:`SCHEMA_VERSION` in one write transaction.

    Safe when several processes open a new ledger at once: the version is read again
    under the write lock, so only the first one migrates. Returns the old version.
    """
    conn = db.conn
    conn.execute("BEGIN IMMEDIATE")
    try:
        (current,) = conn.execute("PRAGMA user_version").fetchone()
        if current > SCHEMA_VERSION:
            raise LedgerError(
                f"{path} is a ledger of a newer Centwise (schema {current}, this version"
                f" reads up to {SCHEMA_VERSION}); upgrade Centwise to open it"
            )
        if current == 0 and is_centwise(conn) is False:
            raise CorruptLedgerError(f"{path} is not a Centwise ledger; it was left untouched")
        for version in range(current + 1, SCHEMA_VERSION + 1):
            MIGRATIONS[version - 1](db)
        if current < SCHEMA_VERSION:
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute(
                f"INSERT OR REPLACE INTO {MARKER_TABLE}(key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return int(current)
