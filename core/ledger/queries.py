"""Reading ``requests`` rows: one by id, pages newest first, counts, streams, news."""

from __future__ import annotations

import sqlite3
import time
from datetime import date, timedelta

from core.ledger.aggregates import daily_where, rollup_source
from core.ledger.codec import COLUMNS, row_to_record
from core.ledger.models import LedgerFilter
from core.types import RequestRecord

__all__ = ["changes_since", "count", "get", "keyset_batch", "latest_rowid", "page"]

_SELECT = "SELECT " + ", ".join(COLUMNS) + " FROM requests"
# Local days map to epoch ranges only roughly (DST, zone changes), so the epoch bound
# is widened and the exact ``day`` test kept: the bound just lets the time index work.
_SLACK_S = 2 * 86400


def _epoch(day: date) -> float:
    return time.mktime(day.timetuple())


def _equal(f: LedgerFilter) -> dict[str, str | None]:
    return {
        "tier": f.tier,
        "model": f.model,
        "cache_outcome": f.cache_outcome,
        "status": f.status,
        "purpose": f.purpose,
        "member": f.member,
        "app": f.app,
    }


def _requests_where(f: LedgerFilter | None) -> tuple[str, list[object]]:
    if f is None:
        return "", []
    where, params = daily_where(f.since, f.until)
    for column, value in _equal(f).items():
        if value is not None:
            where += f"{' AND' if where else ' WHERE'} {column} = ?"
            params.append(value)
    extra: list[str] = []
    if f.since is not None:
        extra.append("finished_at >= ?")
        params.append(_epoch(f.since) - _SLACK_S)
    if f.until is not None:
        extra.append("finished_at < ?")
        params.append(_epoch(f.until + timedelta(days=1)) + _SLACK_S)
    if f.prompt_cached:  # read along the partial index of such requests
        extra.append("prompt_cache_expected_tokens IS NOT NULL")
    if f.text:
        pattern = "%" + f.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        extra.append("(prompt LIKE ? ESCAPE '\\' OR response LIKE ? ESCAPE '\\')")
        params.extend([pattern, pattern])
    if extra:
        where = (where + " AND " if where else " WHERE ") + " AND ".join(extra)
    return where, params


def get(conn: sqlite3.Connection, request_id: str) -> RequestRecord | None:
    """The record with ``request_id``, or None."""
    row = conn.execute(f"{_SELECT} WHERE request_id = ?", (request_id,)).fetchone()
    return None if row is None else row_to_record(row)


def page(
    conn: sqlite3.Connection, offset: int, limit: int, f: LedgerFilter | None
) -> list[RequestRecord]:
    """Up to ``limit`` matching records after skipping ``offset``, newest first."""
    where, params = _requests_where(f)
    rows = conn.execute(
        f"{_SELECT}{where} ORDER BY finished_at DESC, rowid DESC LIMIT ? OFFSET ?",
        [*params, limit, offset],
    ).fetchall()
    return [row_to_record(r) for r in rows]


def count(conn: sqlite3.Connection, f: LedgerFilter | None) -> int:
    """How many records match; from the rollup unless a text search (or another test
    the rollups cannot answer) needs the rows."""
    if f is not None and (f.text or f.prompt_cached):
        where, params = _requests_where(f)
        return int(conn.execute(f"SELECT COUNT(*) FROM requests{where}", params).fetchone()[0])
    f = f or LedgerFilter()
    source, params = rollup_source(f.since, f.until, _equal(f))
    row = conn.execute(f"SELECT COALESCE(SUM(n), 0) FROM {source}", params).fetchone()
    return int(row[0])


def keyset_batch(
    conn: sqlite3.Connection,
    filters: LedgerFilter | None,
    after: tuple[float, int] | None,
    size: int,
) -> list[tuple[tuple[float, int], RequestRecord]]:
    """The next ``size`` matching records oldest first, after the ``(finished_at, rowid)``
    mark."""
    where, params = _requests_where(filters or LedgerFilter())
    if after is not None:
        clause = "(finished_at > ? OR (finished_at = ? AND rowid > ?))"
        where = (where + " AND " if where else " WHERE ") + clause
        params.extend([after[0], after[0], after[1]])
    rows = conn.execute(
        f"SELECT rowid, {', '.join(COLUMNS)} FROM requests{where}"
        " ORDER BY finished_at, rowid LIMIT ?",
        [*params, size],
    ).fetchall()
    return [((r[3], r[0]), row_to_record(r[1:])) for r in rows]


def latest_rowid(conn: sqlite3.Connection) -> int:
    """The highest row number written so far (0 for an empty ledger)."""
    return int(conn.execute("SELECT COALESCE(MAX(rowid), 0) FROM requests").fetchone()[0])


def changes_since(
    conn: sqlite3.Connection, rowid: int, upto: int | None, limit: int | None
) -> list[RequestRecord]:
    """Records written after row ``rowid`` (up to ``upto``, inclusive), in write order."""
    sql = f"{_SELECT} WHERE rowid > ?"
    params: list[object] = [rowid]
    if upto is not None:
        sql += " AND rowid <= ?"
        params.append(upto)
    sql += " ORDER BY rowid"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return [row_to_record(r) for r in conn.execute(sql, params).fetchall()]
