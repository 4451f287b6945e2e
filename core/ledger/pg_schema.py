"""The ledger's schema on PostgreSQL: the same tables and columns as the SQLite file at
:data:`~core.ledger.schema.SCHEMA_VERSION`, in PostgreSQL types.

A new database is created at the current version in one step (:func:`create_current`);
versions after this one add one ``_pgN`` function each to :data:`PG_MIGRATIONS`, as the
SQLite schema does. The version is kept in ``centwise_meta`` (key ``schema_version``).
Money and tokens are ``bigint`` (picodollars fit: 9.2 million dollars per row), times
``double precision`` epoch seconds like SQLite's REAL. ``requests.rowid`` is an identity
column, so the queries shared with SQLite (which order by ``rowid``) read the same.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from core.ledger.codec import COLUMNS, ROLLUP_DIMS, ROLLUP_SUMS
from core.ledger.rollup import POINT_SUMS
from core.ledger.schema import GATEWAY_KEYS_DDL, MARKER_TABLE, SCHEMA_VERSION

__all__ = ["BASE_VERSION", "PG_MIGRATIONS", "create_current", "ddl_statements"]

#: The version :func:`create_current` builds.
BASE_VERSION = 8

_REAL = {"started_at", "finished_at", "route_score", "cache_similarity", "latency_ms", "ttft_ms"}
_INTEGER = {
    "input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens",
    "reasoning_tokens", "estimated_input_tokens", "estimated_output_tokens",
    "usage_estimated", "cost_pusd", "cost_known", "saved_pusd", "retries", "simulated",
    "degraded", "context_tokens_before", "context_tokens_after", "context_saved_pusd",
    "routing_saved_pusd", "cache_write_1h_tokens", "prompt_cache_expected_tokens",
    "prompt_cache_saved_pusd", "prompt_cache_lost_pusd", "prompt_cache_lost_tokens",
}  # fmt: skip
_NULLABLE = {
    "provider", "model", "tier", "route_score", "route_mode", "cache_similarity",
    "cache_matched_request_id", "estimated_input_tokens", "estimated_output_tokens",
    "cost_pusd", "latency_ms", "ttft_ms", "error", "error_kind", "system",
    "finish_reason", "conversation_id", "context_tokens_before", "context_tokens_after",
    "prompt_cache_expected_tokens", "prompt_cache_break", "member", "app",
}  # fmt: skip


def _column(name: str) -> str:
    kind = "double precision" if name in _REAL else "bigint" if name in _INTEGER else "text"
    null = "" if name in _NULLABLE else " NOT NULL"
    return f"{name} {kind}{null}"


def ddl_statements() -> list[str]:
    """Every statement that builds an empty ledger at :data:`BASE_VERSION`."""
    cols = ", ".join(_column(c) for c in COLUMNS)
    dims = ", ".join(
        f"{d} {'bigint' if d == 'simulated' else 'text'} NOT NULL" for d in ROLLUP_DIMS
    )
    sums = ", ".join(f"{s} bigint NOT NULL" for s in ROLLUP_SUMS)
    key = ", ".join(ROLLUP_DIMS)
    points = ", ".join(f"{s} bigint NOT NULL" for s in POINT_SUMS)
    return [
        f"CREATE TABLE {MARKER_TABLE} (key text PRIMARY KEY, value text NOT NULL)",
        f"CREATE TABLE requests (rowid bigint GENERATED ALWAYS AS IDENTITY UNIQUE, {cols},"
        " PRIMARY KEY (request_id))",
        "CREATE INDEX requests_finished ON requests (finished_at)",
        *(
            f"CREATE INDEX requests_{c} ON requests ({c}, finished_at)"
            for c in ("tier", "model", "status", "cache_outcome", "purpose", "member", "app")
        ),
        "CREATE INDEX requests_conversation ON requests (conversation_id, finished_at)"
        " WHERE conversation_id IS NOT NULL",
        "CREATE INDEX requests_prompt_cache ON requests (finished_at)"
        " WHERE prompt_cache_expected_tokens IS NOT NULL",
        f"CREATE TABLE daily_rollup (day text NOT NULL, month text NOT NULL, {dims}, {sums},"
        f" PRIMARY KEY (day, {key}))",
        f"CREATE TABLE monthly_rollup (month text NOT NULL, {dims}, {sums},"
        f" PRIMARY KEY (month, {key}))",
        "CREATE TABLE daily_points (dim text NOT NULL, day text NOT NULL, key text NOT NULL,"
        f" {points}, PRIMARY KEY (dim, day, key))",
        "CREATE TABLE reservations (id text PRIMARY KEY, request_id text NOT NULL,"
        " amount_pusd bigint NOT NULL, day text NOT NULL, month text NOT NULL,"
        " created_at double precision NOT NULL, expires_at double precision NOT NULL,"
        " member text, app text)",
        "CREATE INDEX reservations_expires ON reservations (expires_at)",
        "CREATE TABLE alerts (key text PRIMARY KEY, fired_at double precision NOT NULL)",
        "CREATE TABLE conversations (id text PRIMARY KEY, system text, title text NOT NULL,"
        " created_at double precision NOT NULL, updated_at double precision NOT NULL)",
        "CREATE INDEX conversations_updated ON conversations (updated_at)",
        "CREATE TABLE conversation_messages (conversation_id text NOT NULL"
        " REFERENCES conversations(id) ON DELETE CASCADE, seq bigint NOT NULL,"
        " role text NOT NULL, content text NOT NULL, name text, metadata text,"
        " created_at double precision NOT NULL, request_id text, parts text,"
        " PRIMARY KEY (conversation_id, seq))",
        "CREATE TABLE conversation_summaries (conversation_id text PRIMARY KEY"
        " REFERENCES conversations(id) ON DELETE CASCADE, upto_seq bigint NOT NULL,"
        " content text NOT NULL, request_id text, created_at double precision NOT NULL)",
        "CREATE TABLE feedback (request_id text PRIMARY KEY, tier text,"
        " verdict text NOT NULL CHECK (verdict IN ('up', 'down')),"
        " at double precision NOT NULL)",
        "CREATE INDEX feedback_tier ON feedback (tier)",
        "CREATE TABLE quality_samples (request_id text PRIMARY KEY, tier text,"
        " score double precision, reason text NOT NULL, judge_request_id text,"
        " judge_tier text, simulated bigint NOT NULL, at double precision NOT NULL)",
        "CREATE INDEX quality_samples_tier ON quality_samples (tier, at)",
        GATEWAY_KEYS_DDL.replace("REAL", "double precision"),
        f"INSERT INTO {MARKER_TABLE} (key, value) VALUES ('app', 'centwise'),"
        " ('created_at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'))",
    ]


def create_current(execute: Callable[[str, Sequence[Any]], object]) -> None:
    """Build the base schema through ``execute(sql, params)`` (inside the caller's
    transaction)."""
    for sql in ddl_statements():
        execute(sql, ())


#: Versions after :data:`BASE_VERSION`: ``PG_MIGRATIONS[v]`` turns ``v - 1`` into ``v``.
PG_MIGRATIONS: dict[int, Callable[[Callable[[str, Sequence[Any]], object]], None]] = {}

if BASE_VERSION + len(PG_MIGRATIONS) != SCHEMA_VERSION:  # pragma: no cover - a dev's slip
    raise RuntimeError(
        "the SQLite and PostgreSQL ledger schemas disagree: add a PostgreSQL migration "
        f"for version {SCHEMA_VERSION} in core/ledger/pg_schema.py"
    )
