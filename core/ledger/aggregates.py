"""Exact aggregates read from the rollups (never a scan of ``requests``).

Every function takes the open connection; :class:`~core.ledger.store.Ledger` holds the
lock around the call.
"""

from __future__ import annotations

import sqlite3
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from core.ledger.codec import ROLLUP_DIMS, ROLLUP_SUMS
from core.ledger.models import (
    BREAKDOWN_KEYS,
    DayPoint,
    GroupTotal,
    PeriodSpend,
    Totals,
)
from core.ledger.rollup import POINT_SUMS
from core.money import from_pusd

__all__ = [
    "PERIOD_SPEND_SQL",
    "breakdown",
    "context_savings",
    "daily_series",
    "daily_where",
    "day_spend",
    "month_spend",
    "period_spend",
    "period_spend_params",
    "rollup_source",
    "scoped_spend",
    "spend_between",
    "totals",
]

_COLUMNS = ", ".join((*ROLLUP_DIMS, *ROLLUP_SUMS))
_TOTALS_SQL = (
    "COALESCE(SUM(n), 0), COALESCE(SUM(cost_pusd), 0), COALESCE(SUM(unknown_cost_n), 0),"
    " COALESCE(SUM(saved_pusd), 0), COALESCE(SUM(input_tokens), 0),"
    " COALESCE(SUM(output_tokens), 0), COALESCE(SUM(cached_input_tokens), 0),"
    " COALESCE(SUM(reasoning_tokens), 0), COALESCE(SUM(cache_hit_n), 0),"
    " COALESCE(SUM(CASE WHEN status = 'error' THEN n ELSE 0 END), 0),"
    " COALESCE(SUM(CASE WHEN status = 'refused' THEN n ELSE 0 END), 0)"
)


def _conditions(
    column: str, lo: str | None, hi: str | None, hi_inclusive: bool
) -> tuple[list[str], list[object]]:
    parts: list[str] = []
    params: list[object] = []
    if lo is not None:
        parts.append(f"{column} >= ?")
        params.append(lo)
    if hi is not None:
        parts.append(f"{column} {'<=' if hi_inclusive else '<'} ?")
        params.append(hi)
    return parts, params


def _select(
    table: str, range_parts: list[str], params: list[object], equal: dict[str, str | None]
) -> tuple[str, list[object]]:
    parts = list(range_parts)
    params = list(params)
    for column, value in equal.items():
        if value is not None:
            parts.append(f"{column} = ?")
            params.append(value)
    where = " WHERE " + " AND ".join(parts) if parts else ""
    return f"SELECT {_COLUMNS} FROM {table}{where}", params


def _month_bounds(since: date | None, until: date | None) -> tuple[date | None, date | None]:
    """First day of the first whole month in range, first day after the last one."""
    lo = since
    if since is not None and since.day != 1:
        lo = (since.replace(day=28) + timedelta(days=4)).replace(day=1)
    hi = None if until is None else until + timedelta(days=1)
    if hi is not None and hi.day != 1:
        hi = hi.replace(day=1)
    return lo, hi


def rollup_source(
    since: date | None, until: date | None, equal: dict[str, str | None] | None = None
) -> tuple[str, list[object]]:
    """A FROM-able subquery of rollup rows covering the inclusive local-date range.

    Whole months come from ``monthly_rollup``; the ragged ends from ``daily_rollup``.
    ``equal`` adds ``column = value`` tests on rollup dimensions (None skips one).
    """
    eq = equal or {}
    lo, hi = _month_bounds(since, until)
    if lo is not None and hi is not None and lo >= hi:  # no whole month inside
        parts, params = _conditions("day", _iso(since), _iso(until), True)
        sql, params = _select("daily_rollup", parts, params, eq)
        return f"({sql}) AS r", params
    queries: list[tuple[str, list[object]]] = []
    parts, params = _conditions("month", _month(lo), _month(hi), False)
    queries.append(_select("monthly_rollup", parts, params, eq))
    if since is not None and lo is not None and since < lo:
        parts, params = _conditions("day", since.isoformat(), lo.isoformat(), False)
        queries.append(_select("daily_rollup", parts, params, eq))
    if until is not None and hi is not None and hi <= until:
        parts, params = _conditions("day", hi.isoformat(), until.isoformat(), True)
        queries.append(_select("daily_rollup", parts, params, eq))
    sql = " UNION ALL ".join(q for q, _ in queries)
    return f"({sql}) AS r", [p for _, ps in queries for p in ps]


def _iso(d: date | None) -> str | None:
    return None if d is None else d.isoformat()


def _month(d: date | None) -> str | None:
    return None if d is None else d.strftime("%Y-%m")


def daily_where(since: date | None, until: date | None) -> tuple[str, list[object]]:
    """A WHERE clause limiting ``day`` to the inclusive range (empty when open)."""
    parts, params = _conditions("day", _iso(since), _iso(until), True)
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
    source, params = rollup_source(since, until, {"purpose": purpose})
    row = conn.execute(f"SELECT {_TOTALS_SQL} FROM {source}", params).fetchone()
    return _totals(row)


def _check_key(by: str) -> None:
    if by not in BREAKDOWN_KEYS:
        raise ValueError(f"cannot group by {by!r}; choose one of {', '.join(BREAKDOWN_KEYS)}")


def breakdown(
    conn: sqlite3.Connection, by: str, since: date | None = None, until: date | None = None
) -> list[GroupTotal]:
    """Totals per value of ``by``, costliest first."""
    _check_key(by)
    source, params = rollup_source(since, until)
    rows = conn.execute(
        f"SELECT {by}, {_TOTALS_SQL} FROM {source}"
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
    where, params = daily_where(since, until)
    where = f"{where} AND dim = ?" if where else " WHERE dim = ?"
    rows = conn.execute(
        f"SELECT day, key, {', '.join(POINT_SUMS)} FROM daily_points{where} ORDER BY day, key",
        [*params, by or ""],
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
    table = "daily_rollup" if column == "day" else "monthly_rollup"
    row = conn.execute(
        f"SELECT COALESCE(SUM(cost_pusd), 0) FROM {table} WHERE {column} = ?", (value,)
    ).fetchone()
    return int(row[0])


def day_spend(conn: sqlite3.Connection, day: date) -> Decimal:
    """Dollars spent on a local day, every purpose (unknown-price requests add 0)."""
    return from_pusd(_spent_pusd(conn, "day", day.isoformat()))


def month_spend(conn: sqlite3.Connection, month: str) -> Decimal:
    """Dollars spent in a local month ``YYYY-MM``, every purpose."""
    return from_pusd(_spent_pusd(conn, "month", month))


def period_spend_params(day: str, month: str, now: float) -> tuple[object, ...]:
    """The parameters of :data:`PERIOD_SPEND_SQL` (for a caller that fetches later)."""
    return (day, day, now, month, month, now, now)


def period_spend(conn: sqlite3.Connection, day: str, month: str, now: float) -> PeriodSpend:
    """Spent and unexpired reserved picodollars for ``day`` and ``month``."""
    # One statement, not four: every budget reservation runs this under the write lock.
    row = conn.execute(PERIOD_SPEND_SQL, period_spend_params(day, month, now)).fetchone()
    a, b, c, d, holds = map(int, row)
    return PeriodSpend(day, month, a, b, c, d, holds=holds)


def scoped_spend(
    conn: sqlite3.Connection, day: str, month: str, now: float, column: str, value: str
) -> PeriodSpend:
    """Like :func:`period_spend`, for one team member (``column = "member"``) or one
    gateway key (``"app"``) only."""
    if column not in ("member", "app"):
        raise ValueError(f"no budget scope {column!r}")
    sql = PERIOD_SPEND_SQL.replace("WHERE", f"WHERE {column} = ? AND")
    row = conn.execute(
        sql, (value, day, value, day, now, value, month, value, month, now, value, now)
    ).fetchone()
    a, b, c, d, holds = map(int, row)
    return PeriodSpend(day, month, a, b, c, d, holds=holds)


PERIOD_SPEND_SQL = (
    "SELECT"
    " (SELECT COALESCE(SUM(cost_pusd), 0) FROM daily_rollup WHERE day = ?),"
    " (SELECT COALESCE(SUM(amount_pusd), 0) FROM reservations WHERE day = ? AND expires_at > ?),"
    " (SELECT COALESCE(SUM(cost_pusd), 0) FROM monthly_rollup WHERE month = ?),"
    " (SELECT COALESCE(SUM(amount_pusd), 0) FROM reservations"
    " WHERE month = ? AND expires_at > ?),"
    " (SELECT COUNT(*) FROM reservations WHERE expires_at > ?)"
)


def spend_between(conn: sqlite3.Connection, t0: float, t1: float) -> Decimal:
    """Dollars of requests finished in ``[t0, t1)`` (epoch seconds), via the time index."""
    row = conn.execute(
        "SELECT COALESCE(SUM(cost_pusd), 0) FROM requests"
        " WHERE finished_at >= ? AND finished_at < ?",
        (t0, t1),
    ).fetchone()
    return from_pusd(int(row[0]))


def routing_savings(conn: sqlite3.Connection, t0: float | None) -> Decimal:
    """Dollars saved by routing below the top tier, for requests finished at or after
    ``t0`` (read along the ``finished_at`` index)."""
    where, params = ("WHERE finished_at >= ?", [t0]) if t0 is not None else ("", [])
    (saved,) = conn.execute(
        f"SELECT COALESCE(SUM(routing_saved_pusd), 0) FROM requests {where}", params
    ).fetchone()
    return from_pusd(saved)


def context_savings(conn: sqlite3.Connection, t0: float | None) -> tuple[Decimal, Decimal]:
    """Dollars saved by context management, and spent on summaries (purpose
    ``context``), for requests finished at or after ``t0``. Like :func:`spend_between`
    this reads ``requests`` along its ``finished_at`` index."""
    where, params = ("WHERE finished_at >= ?", [t0]) if t0 is not None else ("", [])
    saved, spent = conn.execute(
        "SELECT COALESCE(SUM(context_saved_pusd), 0),"
        " COALESCE(SUM(CASE WHEN purpose = 'context' THEN cost_pusd ELSE 0 END), 0)"
        f" FROM requests {where}",
        params,
    ).fetchone()
    return from_pusd(saved), from_pusd(spent)


_PC_WHERE = "prompt_cache_expected_tokens IS NOT NULL"
#: Columns of the most recent breaks the report lists.
PROMPT_CACHE_BREAK_FIELDS: tuple[str, ...] = (
    "request_id", "finished_at", "provider", "model", "prompt_cache_break",
    "prompt_cache_expected_tokens", "cached_input_tokens", "prompt_cache_lost_pusd",
    "prompt_cache",
)  # fmt: skip


def prompt_cache_sums(
    conn: sqlite3.Connection, t0: float | None
) -> dict[str, list[tuple[Any, ...]]]:
    """The provider prompt-cache report's sums over requests finished at or after
    ``t0`` that went to a provider with a prompt cache: ``total`` (one row: requests,
    input, cached, written and expected tokens, saved and lost picodollars), ``models``
    (the same per provider and model), ``causes`` (per break cause: requests, lost
    tokens and picodollars), ``conversations`` (the 50 with most requests: requests,
    cached tokens, tokens trimmed, context savings, breaks by context management and
    their lost tokens and picodollars) and ``breaks`` (the 20 latest, as
    :data:`PROMPT_CACHE_BREAK_FIELDS`). Each reads the partial time index."""
    where, params = (
        (f"WHERE {_PC_WHERE} AND finished_at >= ?", [t0])
        if t0 is not None
        else (f"WHERE {_PC_WHERE}", [])
    )
    sums = (
        "COUNT(*), COALESCE(SUM(input_tokens), 0), COALESCE(SUM(cached_input_tokens), 0),"
        " COALESCE(SUM(cache_write_tokens), 0)"
    )
    money = (
        "COALESCE(SUM(prompt_cache_expected_tokens), 0),"
        " COALESCE(SUM(prompt_cache_saved_pusd), 0), COALESCE(SUM(prompt_cache_lost_pusd), 0)"
    )
    trimmed = "CASE WHEN context_tokens_before > context_tokens_after"
    trimmed += " THEN context_tokens_before - context_tokens_after ELSE 0 END"
    by_context = "prompt_cache_break = 'context_trimmed'"
    is_context = f"CASE WHEN {by_context} THEN 1 ELSE 0 END"
    queries = {
        "total": f"SELECT {sums}, {money} FROM requests {where}",
        "models": f"SELECT provider, model, {sums}, {money} FROM requests {where}"
        " GROUP BY provider, model ORDER BY 4 DESC",
        "causes": "SELECT prompt_cache_break, COUNT(*), SUM(prompt_cache_lost_tokens),"
        f" SUM(prompt_cache_lost_pusd) FROM requests {where}"
        " AND prompt_cache_break IS NOT NULL GROUP BY prompt_cache_break",
        "conversations": "SELECT conversation_id, COUNT(*), SUM(cached_input_tokens),"
        f" SUM({trimmed}), SUM(context_saved_pusd), SUM({is_context}),"
        f" SUM(CASE WHEN {by_context} THEN prompt_cache_lost_tokens ELSE 0 END),"
        f" SUM(CASE WHEN {by_context} THEN prompt_cache_lost_pusd ELSE 0 END)"
        f" FROM requests {where} AND conversation_id IS NOT NULL"
        " GROUP BY conversation_id ORDER BY 2 DESC, MAX(finished_at) DESC LIMIT 50",
        "breaks": f"SELECT {', '.join(PROMPT_CACHE_BREAK_FIELDS)} FROM requests {where}"
        " AND prompt_cache_break IS NOT NULL ORDER BY finished_at DESC, rowid DESC LIMIT 20",
    }
    return {name: conn.execute(sql, params).fetchall() for name, sql in queries.items()}


def other_savings(conn: sqlite3.Connection, t0: float | None) -> tuple[Decimal, Decimal]:
    """Dollars the semantic cache and context management saved since ``t0`` (kept
    apart from provider caching in the report)."""
    where, params = ("WHERE finished_at >= ?", [t0]) if t0 is not None else ("", [])
    semantic, context = conn.execute(
        "SELECT COALESCE(SUM(saved_pusd), 0), COALESCE(SUM(context_saved_pusd), 0)"
        f" FROM requests {where}",
        params,
    ).fetchone()
    return from_pusd(semantic), from_pusd(context)
