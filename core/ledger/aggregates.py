"""Exact aggregates read from ``daily_rollup`` (never a scan of ``requests``).

Every function takes the open connection; :class:`~core.ledger.store.Ledger` holds the
lock around the call.
"""

from __future__ import annotations

import sqlite3
from datetime import date
from decimal import Decimal

from core.ledger.models import (
    BREAKDOWN_KEYS,
    DayPoint,
    GroupTotal,
    PeriodSpend,
    Totals,
)
from core.money import from_pusd

__all__ = [
    "breakdown",
    "daily_series",
    "day_spend",
    "month_spend",
    "period_spend",
    "spend_between",
    "totals",
]

_TOTALS_SQL = (
    "COALESCE(SUM(n), 0), COALESCE(SUM(cost_pusd), 0), COALESCE(SUM(unknown_cost_n), 0),"
    " COALESCE(SUM(saved_pusd), 0), COALESCE(SUM(input_tokens), 0),"
    " COALESCE(SUM(output_tokens), 0), COALESCE(SUM(cached_input_tokens), 0),"
    " COALESCE(SUM(reasoning_tokens), 0), COALESCE(SUM(cache_hit_n), 0),"
    " COALESCE(SUM(CASE WHEN status = 'error' THEN n ELSE 0 END), 0),"
    " COALESCE(SUM(CASE WHEN status = 'refused' THEN n ELSE 0 END), 0)"
)


def rollup_where(
    since: date | None, until: date | None, equal: dict[str, str | None] | None = None
) -> tuple[str, list[object]]:
    """A WHERE clause over rollup columns; None values are skipped."""
    parts: list[str] = []
    params: list[object] = []
    if since is not None:
        parts.append("day >= ?")
        params.append(since.isoformat())
    if until is not None:
        parts.append("day <= ?")
        params.append(until.isoformat())
    for column, value in (equal or {}).items():
        if value is not None:
            parts.append(f"{column} = ?")
            params.append(value)
    return (" WHERE " + " AND ".join(parts) if parts else ""), params


def _totals(row: tuple[int, ...]) -> Totals:
    return Totals(
        requests=row[0],
        cost_usd=from_pusd(row[1]),
        unknown_cost_requests=row[2],
        saved_usd=from_pusd(row[3]),
        input_tokens=row[4],
        output_tokens=row[5],
        cached_input_tokens=row[6],
        reasoning_tokens=row[7],
        cache_hits=row[8],
        errors=row[9],
        refused=row[10],
    )


def totals(
    conn: sqlite3.Connection,
    since: date | None = None,
    until: date | None = None,
    purpose: str | None = None,
) -> Totals:
    """Totals over the inclusive local-date range, optionally for one purpose."""
    where, params = rollup_where(since, until, {"purpose": purpose})
    row = conn.execute(f"SELECT {_TOTALS_SQL} FROM daily_rollup{where}", params).fetchone()
    return _totals(row)


def _check_key(by: str) -> None:
    if by not in BREAKDOWN_KEYS:
        raise ValueError(f"cannot group by {by!r}; choose one of {', '.join(BREAKDOWN_KEYS)}")


def breakdown(
    conn: sqlite3.Connection, by: str, since: date | None = None, until: date | None = None
) -> list[GroupTotal]:
    """Totals per value of ``by``, costliest first."""
    _check_key(by)
    where, params = rollup_where(since, until)
    rows = conn.execute(
        f"SELECT {by}, {_TOTALS_SQL} FROM daily_rollup{where}"
        f" GROUP BY {by} ORDER BY SUM(cost_pusd) DESC, {by}",
        params,
    ).fetchall()
    return [GroupTotal(key=row[0] or None, totals=_totals(row[1:])) for row in rows]


def daily_series(
    conn: sqlite3.Connection,
    since: date | None = None,
    until: date | None = None,
    by: str | None = None,
) -> list[DayPoint]:
    """Per-day cost, savings, requests and cache hits, oldest first; split by ``by``."""
    if by is not None:
        _check_key(by)
    where, params = rollup_where(since, until)
    key = by if by is not None else "NULL"
    group = "day" if by is None else f"day, {by}"
    rows = conn.execute(
        f"SELECT day, {key}, SUM(n), SUM(cost_pusd), SUM(saved_pusd), SUM(cache_hit_n),"
        f" SUM(unknown_cost_n) FROM daily_rollup{where} GROUP BY {group} ORDER BY {group}",
        params,
    ).fetchall()
    return [
        DayPoint(
            day=r[0],
            key=r[1] or None,
            requests=r[2],
            cost_usd=from_pusd(r[3]),
            saved_usd=from_pusd(r[4]),
            cache_hits=r[5],
            unknown_cost_requests=r[6],
        )
        for r in rows
    ]


def _spent_pusd(conn: sqlite3.Connection, column: str, value: str) -> int:
    row = conn.execute(
        f"SELECT COALESCE(SUM(cost_pusd), 0) FROM daily_rollup WHERE {column} = ?", (value,)
    ).fetchone()
    return int(row[0])


def _reserved_pusd(conn: sqlite3.Connection, column: str, value: str, now: float) -> int:
    row = conn.execute(
        "SELECT COALESCE(SUM(amount_pusd), 0) FROM reservations"
        f" WHERE {column} = ? AND expires_at > ?",
        (value, now),
    ).fetchone()
    return int(row[0])


def day_spend(conn: sqlite3.Connection, day: date) -> Decimal:
    """Dollars spent on a local day, every purpose (unknown-price requests add 0)."""
    return from_pusd(_spent_pusd(conn, "day", day.isoformat()))


def month_spend(conn: sqlite3.Connection, month: str) -> Decimal:
    """Dollars spent in a local month ``YYYY-MM``, every purpose."""
    return from_pusd(_spent_pusd(conn, "month", month))


def period_spend(conn: sqlite3.Connection, day: str, month: str, now: float) -> PeriodSpend:
    """Spent and unexpired reserved picodollars for ``day`` and ``month``."""
    return PeriodSpend(
        day=day,
        month=month,
        day_spent_pusd=_spent_pusd(conn, "day", day),
        day_reserved_pusd=_reserved_pusd(conn, "day", day, now),
        month_spent_pusd=_spent_pusd(conn, "month", month),
        month_reserved_pusd=_reserved_pusd(conn, "month", month, now),
    )


def spend_between(conn: sqlite3.Connection, t0: float, t1: float) -> Decimal:
    """Dollars of requests finished in ``[t0, t1)`` (epoch seconds), via the time index."""
    row = conn.execute(
        "SELECT COALESCE(SUM(cost_pusd), 0) FROM requests"
        " WHERE finished_at >= ? AND finished_at < ?",
        (t0, t1),
    ).fetchone()
    return from_pusd(int(row[0]))
