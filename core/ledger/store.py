"""The :class:`Ledger`: one SQLite file shared by the engine, CLI, GUI and gateway."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Self, TextIO

from core.errors import LedgerError
from core.events import EventHub
from core.ledger import aggregates as agg
from core.ledger import queries
from core.ledger.checkpoint import SAFETY_NET_PAGES, Checkpointer
from core.ledger.codec import COLUMNS, local_day, local_month, record_to_row
from core.ledger.export import ExportFormat, write_export
from core.ledger.models import (
    BreakdownKey,
    DayPoint,
    GatewayKey,
    GroupTotal,
    LedgerFilter,
    PeriodSpend,
    Totals,
)
from core.ledger.opening import open_database
from core.ledger.rollup import add_to_rollups
from core.money import from_pusd, to_pusd
from core.sqlite_tx import immediate
from core.types import RequestRecord

__all__ = ["Ledger"]

_INSERT = f"INSERT INTO requests ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"

_ITER_BATCH = 500

Check = Callable[[PeriodSpend], None]

_KEY_COLUMNS = "name, prefix, daily_pusd, monthly_pusd, created_at, created_by, revoked_at"


def _gateway_key(row: Sequence[Any]) -> GatewayKey:
    daily, monthly = row[2], row[3]
    return GatewayKey(
        name=row[0],
        prefix=row[1],
        daily_usd=None if daily is None else from_pusd(int(daily)),
        monthly_usd=None if monthly is None else from_pusd(int(monthly)),
        created_at=row[4],
        created_by=row[5],
        revoked_at=row[6],
    )


class Ledger:
    """Every finished request, exact spend aggregates and cross-process budget holds.

    One SQLite connection per instance, guarded by a lock so worker threads can share
    it; WAL mode and a busy timeout let several processes use the same file. Writes run
    in ``BEGIN IMMEDIATE`` transactions and update the daily and monthly rollups in the
    same transaction, so aggregates read the small rollups and are always consistent.
    The ledger never emits events; the engine does. ``events`` is kept for callers.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        recover: bool = False,
        full_check: bool = True,
        events: EventHub | None = None,
    ) -> None:
        self.path = Path(path)
        self.events = events
        self._db, self.recovered_from = open_database(
            self.path, recover=recover, full_check=full_check
        )
        self._conn = self._db.conn
        self._lock = threading.Lock()
        self.checkpointer: Checkpointer | None = None

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        recover: bool = False,
        full_check: bool = True,
        events: EventHub | None = None,
    ) -> Ledger:
        """Open or create the ledger at ``path``.

        A damaged file raises :class:`~core.errors.CorruptLedgerError` and is left as it
        was, unless ``recover`` is true: then it is kept aside as
        ``<name>.corrupt-<timestamp>`` (see :attr:`recovered_from`) and a fresh ledger
        starts. Someone else's SQLite database is always refused and never moved.
        ``full_check=False`` skips the whole-file ``quick_check`` (seconds on a large
        ledger) and checks only the small tables, for quick CLI runs.
        """
        return cls(path, recover=recover, full_check=full_check, events=events)

    def close(self) -> None:
        """Close the connection; the ledger cannot be used afterwards."""
        if self.checkpointer is not None:
            self.checkpointer.stop()
            self.checkpointer = None
        with self._lock:
            self._db.close()

    def checkpoint_in_background(self, interval_s: float = 1.0) -> Checkpointer:
        """Move WAL checkpoints off the writing thread (see :mod:`core.ledger.checkpoint`):
        for processes that keep the ledger open and must not stall on a commit, such as
        the gateway and the desktop app. Idempotent; stopped by :meth:`close`."""
        if self.checkpointer is None:
            with self._read() as conn:
                conn.execute(f"PRAGMA wal_autocheckpoint = {SAFETY_NET_PAGES}")
            self.checkpointer = Checkpointer(self.path, interval_s)
            self.checkpointer.start()
        return self.checkpointer

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._conn
            except sqlite3.Error as exc:
                raise LedgerError(f"ledger {self.path}: {exc}") from exc

    @contextmanager
    def _write(self, *, pipelined: bool = False) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction; any exception rolls it back and propagates.
        ``pipelined`` (for a server database: statements sent together, up to each
        read; callers then read no ``rowcount``) means nothing here."""
        with self._read() as conn, immediate(conn):
            yield conn

    backend = "sqlite"

    @contextmanager
    def reading(self) -> Iterator[Any]:
        """A connection to the ledger's database for stores that keep their tables
        there (conversations, feedback): ``execute(sql, params)`` with SQLite-style
        ``?`` placeholders on either backend, errors as :class:`LedgerError`."""
        with self._read() as conn:
            yield conn

    @contextmanager
    def writing(self) -> Iterator[Any]:
        """Like :meth:`reading`, inside one write transaction (rolled back on error)."""
        with self._write() as conn:
            yield conn

    @property
    def where(self) -> str:
        """Where the ledger lives, for messages and the Settings view."""
        return str(self.path)

    @property
    def schema_version(self) -> int:
        """The schema version of the open file (``PRAGMA user_version``)."""
        with self._read() as conn:
            return int(conn.execute("PRAGMA user_version").fetchone()[0])

    # -- writing ---------------------------------------------------------------

    def record(self, rec: RequestRecord, reservation_id: str | None = None) -> PeriodSpend:
        """Store ``rec``, add it to the rollups and drop its reservation, atomically;
        returns the period spend (day and month of ``rec.finished_at``) just after it,
        for the budget alerts."""
        row = record_to_row(rec)
        day, month = row[3], row[4]
        with self._write() as conn:
            try:
                conn.execute(_INSERT, row)
            except sqlite3.IntegrityError as exc:
                raise LedgerError(
                    f"request {rec.request_id} is already in the ledger",
                    request_id=rec.request_id,
                ) from exc
            add_to_rollups(conn, [row])
            if reservation_id is not None:
                conn.execute("DELETE FROM reservations WHERE id = ?", (reservation_id,))
            return agg.period_spend(conn, str(day), str(month), rec.finished_at)

    def record_many(self, records: Iterable[RequestRecord]) -> int:
        """Store many records in one transaction (imports, benchmarks); returns the count."""
        rows = [record_to_row(r) for r in records]
        with self._write() as conn:
            conn.executemany(_INSERT, rows)
            add_to_rollups(conn, rows)
        return len(rows)

    def reserve(
        self,
        request_id: str,
        amount_pusd: int,
        now: float,
        check: Check,
        ttl_s: float = 900,
        *,
        member: str | None = None,
        app: str | None = None,
        scopes: Sequence[tuple[str, str]] = (),
        amount_for: Callable[[PeriodSpend], int] | None = None,
    ) -> str:
        """Hold ``amount_pusd`` for a request about to run; returns the reservation id.

        Under the database write lock (SQLite's, or on PostgreSQL a transaction-scoped
        advisory lock every holder takes): expired holds are dropped, ``check`` sees the
        team's :class:`PeriodSpend` for ``now``, with the spend of each of ``scopes``
        (``("member", name)`` or ``("app", key name)``) in its ``scopes`` (it raises to
        refuse, which rolls back and propagates), then the hold is stored with its
        ``member`` and ``app``. Processes and machines
        therefore cannot jointly overshoot a limit that a check enforces. With
        ``amount_for``, the amount held is ``amount_for(team spend)``, decided after
        every check under the same lock (a hold sized to what is left; it may raise to
        refuse too); ``amount_pusd`` is then ignored.
        """
        if amount_pusd < 0 or ttl_s <= 0:
            raise ValueError("amount_pusd must be >= 0 and ttl_s > 0")
        day, month = local_day(now), local_month(now)
        reservation_id = uuid.uuid4().hex
        # Two round trips on a server: the lock, the sweep and the reads; the hold and
        # the commit.
        with self._write(pipelined=True) as conn:
            self._lock_budgets(conn)
            conn.execute("DELETE FROM reservations WHERE expires_at <= ?", (now,))
            spend = agg.period_spend(conn, day, month, now)
            if scopes:
                spend = replace(
                    spend,
                    scopes=tuple(
                        (column, value, agg.scoped_spend(conn, day, month, now, column, value))
                        for column, value in scopes
                    ),
                )
            check(spend)
            if amount_for is not None:
                amount_pusd = amount_for(spend)
                if amount_pusd < 0:
                    raise ValueError("amount_for must return an amount >= 0")
            conn.execute(
                "INSERT INTO reservations (id, request_id, amount_pusd, day, month,"
                " created_at, expires_at, member, app) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    reservation_id, request_id, amount_pusd, day, month, now,
                    now + ttl_s, member, app,
                ),
            )  # fmt: skip
        return reservation_id

    def check_available(self) -> None:
        """Raise :class:`~core.errors.StorageUnavailableError` when the ledger is known
        to be unreachable, before a request pays a provider it could not record. A
        local file is always there."""

    def _lock_budgets(self, conn: Any) -> None:
        """Serialise budget holds: SQLite's ``BEGIN IMMEDIATE`` already does."""

    def release(self, reservation_id: str) -> bool:
        """Drop a reservation (the request did not run); False if it was already gone."""
        with self._write() as conn:
            cur = conn.execute("DELETE FROM reservations WHERE id = ?", (reservation_id,))
            return cur.rowcount > 0

    def claim_alert(self, key: str, now: float | None = None) -> bool:
        """True only for the first caller, in any process, to claim ``key``."""
        fired_at = time.time() if now is None else now
        with self._write() as conn:
            cur = conn.execute(
                "INSERT INTO alerts (key, fired_at) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
                (key, fired_at),
            )
            return cur.rowcount == 1

    # -- virtual gateway keys ----------------------------------------------------

    def add_gateway_key(
        self,
        name: str,
        key_hash: str,
        prefix: str,
        *,
        daily_usd: Decimal | None = None,
        monthly_usd: Decimal | None = None,
        created_by: str | None = None,
        now: float | None = None,
    ) -> GatewayKey:
        """Store a new virtual key's hash under ``name`` (a revoked key's name may be
        used again); a live key of that name is refused with :class:`LedgerError`."""
        at = time.time() if now is None else now
        daily = None if daily_usd is None else to_pusd(daily_usd)
        monthly = None if monthly_usd is None else to_pusd(monthly_usd)
        with self._write() as conn:
            conn.execute(
                "DELETE FROM gateway_keys WHERE name = ? AND revoked_at IS NOT NULL", (name,)
            )
            taken = conn.execute("SELECT 1 FROM gateway_keys WHERE name = ?", (name,))
            if taken.fetchone() is not None:
                raise LedgerError(
                    f"a gateway key named {name!r} already exists; revoke it first or "
                    "choose another name"
                )
            conn.execute(
                f"INSERT INTO gateway_keys (key_hash, {_KEY_COLUMNS})"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (key_hash, name, prefix, daily, monthly, at, created_by, None),
            )
        return GatewayKey(name, prefix, daily_usd, monthly_usd, at, created_by, None)

    def gateway_keys(self, *, include_revoked: bool = True) -> list[GatewayKey]:
        """Every virtual gateway key, by name."""
        where = "" if include_revoked else " WHERE revoked_at IS NULL"
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {_KEY_COLUMNS} FROM gateway_keys{where} ORDER BY name"
            ).fetchall()
        return [_gateway_key(r) for r in rows]

    def gateway_key_by_hash(self, key_hash: str) -> GatewayKey | None:
        """The live key with this hash, or None (unknown or revoked)."""
        with self._read() as conn:
            row = conn.execute(
                f"SELECT {_KEY_COLUMNS} FROM gateway_keys"
                " WHERE key_hash = ? AND revoked_at IS NULL",
                (key_hash,),
            ).fetchone()
        return None if row is None else _gateway_key(row)

    def revoke_gateway_key(self, name: str, now: float | None = None) -> bool:
        """Revoke the live key ``name``; False when there is none."""
        at = time.time() if now is None else now
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE gateway_keys SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
                (at, name),
            )
            return cur.rowcount > 0

    # -- aggregates (from the rollup) ------------------------------------------

    def period_spend(self, now: float) -> PeriodSpend:
        """Spent and unexpired reserved picodollars for the local day and month of ``now``."""
        with self._read() as conn:
            return agg.period_spend(conn, local_day(now), local_month(now), now)

    def scoped_spend(self, column: str, value: str, now: float) -> PeriodSpend:
        """:meth:`period_spend` for one member (``column="member"``) or gateway key
        (``"app"``)."""
        with self._read() as conn:
            return agg.scoped_spend(conn, local_day(now), local_month(now), now, column, value)

    def totals(
        self, since: date | None = None, until: date | None = None, purpose: str | None = None
    ) -> Totals:
        """Exact totals over inclusive local dates, optionally for one purpose."""
        with self._read() as conn:
            return agg.totals(conn, since, until, purpose)

    def breakdown(
        self, by: BreakdownKey, since: date | None = None, until: date | None = None
    ) -> list[GroupTotal]:
        """Totals per tier, model, provider, purpose, cache outcome or status."""
        with self._read() as conn:
            return agg.breakdown(conn, by, since, until)

    def daily_series(
        self, since: date | None = None, until: date | None = None, by: BreakdownKey | None = None
    ) -> list[DayPoint]:
        """Per-day points for plots, oldest first, optionally split by ``by``."""
        with self._read() as conn:
            return agg.daily_series(conn, since, until, by)

    def day_spend(self, day: date) -> Decimal:
        """Dollars spent on a local day, every purpose."""
        with self._read() as conn:
            return agg.day_spend(conn, day)

    def month_spend(self, month: str | date) -> Decimal:
        """Dollars spent in a local month (``YYYY-MM`` or any date in it)."""
        key = month.strftime("%Y-%m") if isinstance(month, date) else month
        with self._read() as conn:
            return agg.month_spend(conn, key)

    def context_savings(self, since: date | None = None) -> tuple[Decimal, Decimal]:
        """Dollars saved by context management and spent on its summaries, from the
        local date ``since`` (every request when None)."""
        t0 = None if since is None else time.mktime(since.timetuple())
        with self._read() as conn:
            return agg.context_savings(conn, t0)

    def routing_savings(self, since: date | None = None) -> Decimal:
        """Dollars saved by routing below the top tier, from the local date ``since``."""
        t0 = None if since is None else time.mktime(since.timetuple())
        with self._read() as conn:
            return agg.routing_savings(conn, t0)

    def prompt_cache_sums(self, t0: float | None = None) -> dict[str, list[tuple[Any, ...]]]:
        """The provider prompt-cache report's sums since ``t0`` (epoch seconds), see
        ``aggregates.prompt_cache_sums``."""
        with self._read() as conn:
            return agg.prompt_cache_sums(conn, t0)

    def other_savings(self, t0: float | None = None) -> tuple[Decimal, Decimal]:
        """Semantic-cache and context-management savings since ``t0`` (epoch)."""
        with self._read() as conn:
            return agg.other_savings(conn, t0)

    def spend_between(self, t0: float, t1: float) -> Decimal:
        """Dollars of requests finished in ``[t0, t1)``, for short recent windows."""
        with self._read() as conn:
            return agg.spend_between(conn, t0, t1)

    # -- rows ------------------------------------------------------------------

    def get(self, request_id: str) -> RequestRecord | None:
        """The record with ``request_id``, or None."""
        with self._read() as conn:
            return queries.get(conn, request_id)

    def page(
        self, offset: int, limit: int, filters: LedgerFilter | None = None
    ) -> list[RequestRecord]:
        """One page of matching records, newest first."""
        with self._read() as conn:
            return queries.page(conn, offset, limit, filters)

    def count(self, filters: LedgerFilter | None = None) -> int:
        """How many records match ``filters``."""
        with self._read() as conn:
            return queries.count(conn, filters)

    def iter_records(
        self, since: date | None = None, filters: LedgerFilter | None = None
    ) -> Iterator[RequestRecord]:
        """Every record matching ``filters`` (from local date ``since``), oldest first,
        read in batches."""
        if since is not None:
            filters = replace(filters or LedgerFilter(), since=since)
        after: tuple[float, int] | None = None
        while True:
            with self._read() as conn:
                batch = queries.keyset_batch(conn, filters, after, _ITER_BATCH)
            for mark, rec in batch:
                after = mark
                yield rec
            if len(batch) < _ITER_BATCH:
                return

    def export(
        self,
        fmt: ExportFormat,
        out: TextIO,
        since: date | None = None,
        filters: LedgerFilter | None = None,
    ) -> int:
        """Write matching records as ``csv`` or ``jsonl`` to ``out``; returns rows written."""
        return write_export(fmt, out, self.iter_records(since, filters))

    def existing_ids(self, request_ids: Sequence[str]) -> set[str]:
        """Which of ``request_ids`` are already recorded (resumable copies)."""
        found: set[str] = set()
        ids = list(request_ids)
        for at in range(0, len(ids), 500):
            part = ids[at : at + 500]
            with self._read() as conn:
                rows = conn.execute(
                    f"SELECT request_id FROM requests WHERE request_id IN"
                    f" ({', '.join('?' * len(part))})",
                    part,
                ).fetchall()
            found.update(r[0] for r in rows)
        return found

    def latest_rowid(self) -> int:
        """The newest row number, for polling with :meth:`changes_since`."""
        with self._read() as conn:
            return queries.latest_rowid(conn)

    def changes_since(
        self, rowid: int, upto: int | None = None, limit: int | None = None
    ) -> list[RequestRecord]:
        """Records any process wrote after ``rowid`` (through ``upto``), in write order.

        Poll with ``mark = latest_rowid(); new = changes_since(last, upto=mark);
        last = mark`` so no row is missed or seen twice.
        """
        with self._read() as conn:
            return queries.changes_since(conn, rowid, upto, limit)
