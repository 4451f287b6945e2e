"""Keeping the rollups in step with ``requests``, inside the caller's transaction.

Three rollups, all upserted (summed) per write:

* ``daily_rollup`` and ``monthly_rollup``: sums per period and every dimension, for
  totals, breakdowns, counts and budget spend;
* ``daily_points``: per-day sums for plots, once unsplit (``dim = ''``) and once per
  value of each :data:`SERIES_DIMS` dimension, so a split series is a range read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.ledger.codec import COLUMNS, ROLLUP_DIMS, ROLLUP_SUMS, rollup_values
from core.ledger.models import BREAKDOWN_KEYS

__all__ = ["POINT_SUMS", "SERIES_DIMS", "add_to_rollups"]

SERIES_DIMS: tuple[str, ...] = BREAKDOWN_KEYS
POINT_SUMS: tuple[str, ...] = ("n", "cost_pusd", "saved_pusd", "cache_hit_n", "unknown_cost_n")

_DAY = COLUMNS.index("day")
_MONTH = COLUMNS.index("month")
_POINT_FROM_SUMS = tuple(ROLLUP_SUMS.index(s) for s in POINT_SUMS)
_SERIES_AT = tuple((d, ROLLUP_DIMS.index(d)) for d in SERIES_DIMS)

Acc = dict[tuple[Any, ...], list[int]]


def _upsert(table: str, key: tuple[str, ...], extra: tuple[str, ...], sums: tuple[str, ...]) -> str:
    columns = (*key[:1], *extra, *key[1:], *sums)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET "
        + ", ".join(f"{s} = {table}.{s} + excluded.{s}" for s in sums)
    )


_UPSERT_DAY = _upsert("daily_rollup", ("day", *ROLLUP_DIMS), ("month",), ROLLUP_SUMS)
_UPSERT_MONTH = _upsert("monthly_rollup", ("month", *ROLLUP_DIMS), (), ROLLUP_SUMS)
_UPSERT_POINT = _upsert("daily_points", ("dim", "day", "key"), (), POINT_SUMS)


def _accumulate(acc: Acc, key: tuple[Any, ...], sums: Sequence[int]) -> None:
    into = acc.get(key)
    if into is None:
        acc[key] = list(sums)
    else:
        for i, v in enumerate(sums):
            into[i] += v


def add_to_rollups(conn: Any, rows: Sequence[Sequence[Any]]) -> None:
    """Add ``requests`` rows (as from ``record_to_row``) to every rollup."""
    days: Acc = {}
    months: Acc = {}
    points: Acc = {}
    for row in rows:
        dims, sums = rollup_values(row)
        day, month = row[_DAY], row[_MONTH]
        _accumulate(days, (day, month, *dims), sums)
        _accumulate(months, (month, *dims), sums)
        point = [sums[i] for i in _POINT_FROM_SUMS]
        _accumulate(points, ("", day, ""), point)
        for dim, at in _SERIES_AT:
            _accumulate(points, (dim, day, dims[at]), point)
    # In key order, so concurrent writers on a server database (PostgreSQL locks the
    # rows it upserts) always lock the same rows in the same order and never deadlock.
    conn.executemany(_UPSERT_DAY, [(*k, *v) for k, v in sorted(days.items())])
    conn.executemany(_UPSERT_MONTH, [(*k, *v) for k, v in sorted(months.items())])
    conn.executemany(_UPSERT_POINT, [(*k, *v) for k, v in sorted(points.items())])
