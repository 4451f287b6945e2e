"""The ledger on a shared PostgreSQL database (team mode): :class:`PgLedger`.

It is the SQLite :class:`~core.ledger.store.Ledger` with another connection: the same
methods, and the same SQL for rows, rollups, aggregates, holds, alerts and gateway
keys (:mod:`core.ledger.aggregates`, :mod:`~core.ledger.queries`,
:mod:`~core.ledger.rollup`), run through :class:`SqlConnection`, which turns SQLite's
``?`` placeholders into psycopg's. What differs is here:

* connections come from a psycopg-pool :class:`~psycopg_pool.ConnectionPool`, checked
  when taken, so a server restart costs the requests in flight and nothing after;
* budget holds take a transaction-scoped advisory lock (every holder, on every machine,
  waits for it), then read spent and held and insert the hold, as SQLite's write lock;
* records take another advisory lock around their insert, so row numbers commit in
  order (a follower reading "rows after N" never misses one that commits late), and
  each commit sends ``NOTIFY centwise_ledger`` so other machines' apps update at once;
* errors name the server: an unreachable one raises
  :class:`~core.errors.StorageUnavailableError` (the gateway answers 503), a wrong
  password or a missing database a :class:`~core.errors.LedgerError` saying which.
"""

from __future__ import annotations

import functools
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg
import psycopg.errors
from psycopg.adapt import Loader
from psycopg_pool import ConnectionPool, PoolTimeout

from core.errors import LedgerError, StorageUnavailableError
from core.events import EventHub
from core.ledger.aggregates import PERIOD_SPEND_SQL, period_spend_params
from core.ledger.codec import COLUMNS, record_to_row
from core.ledger.models import PeriodSpend
from core.ledger.pg_schema import BASE_VERSION, PG_MIGRATIONS, create_current
from core.ledger.rollup import add_to_rollups
from core.ledger.schema import MARKER_TABLE, SCHEMA_VERSION
from core.ledger.store import Ledger
from core.types import RequestRecord

__all__ = ["CHANNEL", "PgLedger", "SqlConnection", "describe_url", "redact_url"]

#: The channel every recorded request is announced on (payload: its row number).
CHANNEL = "centwise_ledger"
_BUDGET_LOCK = 0x43574C4742  # "CWLGB": budget holds
_RECORD_LOCK = 0x43574C4752  # "CWLGR": row numbers in commit order
_SCHEMA_LOCK = 0x43574C4753  # "CWLGS": one migrator at a time
_DOWN_WINDOW_S = 5.0
_DOWN_TIMEOUT_S = 0.25
_IDLE_CHECK_S = 2.0

_INSERT = f"INSERT INTO requests ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
_PLACEHOLDER = re.compile(r"'(?:[^']|'')*'|\?|%")


@functools.lru_cache(maxsize=512)
def _translate(sql: str) -> str:
    """SQLite's SQL as psycopg takes it: ``?`` → ``%s``, a literal ``%`` doubled, and
    ``LIKE`` as ``ILIKE`` (SQLite's LIKE ignores ASCII case; PostgreSQL's does not).
    Quoted literals are left as they are."""

    def swap(m: re.Match[str]) -> str:
        token = m.group(0)
        return "%s" if token == "?" else "%%" if token == "%" else token

    return _PLACEHOLDER.sub(swap, sql).replace(" LIKE ", " ILIKE ")


class SqlConnection:
    """A psycopg connection that takes the ledger's SQLite-style SQL (see
    :func:`_translate`); ``raw`` is the connection itself."""

    __slots__ = ("raw",)

    def __init__(self, raw: psycopg.Connection[Any]) -> None:
        self.raw = raw

    def execute(self, sql: str, params: Sequence[Any] = ()) -> psycopg.Cursor[Any]:
        return self.raw.execute(_translate(sql), tuple(params))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = list(rows)
        if rows:
            with self.raw.cursor() as cur:
                cur.executemany(_translate(sql), rows)


class _WholeNumberLoader(Loader):
    """``numeric`` results (PostgreSQL's SUM of bigint) as ``int`` when whole, as
    SQLite returns them; a fraction stays a ``Decimal``."""

    def load(self, data: Any) -> int | Decimal:
        value = Decimal(bytes(data).decode())
        exponent = value.as_tuple().exponent
        return int(value) if isinstance(exponent, int) and exponent >= 0 else value


def _configure(conn: psycopg.Connection[Any]) -> None:
    conn.adapters.register_loader("numeric", _WholeNumberLoader)


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = (parts.username or "") + ":***"
    return parts._replace(netloc=f"{user}@{netloc[-1]}").geturl()


def describe_url(url: str) -> tuple[str, str, str]:
    """``(host:port, database, user)`` of a ``postgresql://`` URL, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    where = f"{host}:{parts.port or 5432}"
    database = unquote(parts.path.lstrip("/")) or (parts.username or "")
    return where, database, unquote(parts.username or "")


def _connect_error(exc: psycopg.OperationalError, url: str) -> LedgerError:
    where, database, user = describe_url(url)
    text = str(exc)
    lines = text.strip().splitlines()
    first = lines[0].rsplit("failed: ", 1)[-1] if lines else type(exc).__name__
    if "password authentication failed" in text:
        return LedgerError(
            f"PostgreSQL at {where} refused the password for user {user!r}: set the right "
            "one with `centwise keys set database` (or in ~/.pgpass / PGPASSWORD)"
        )
    if "no password supplied" in text or "fe_sendauth" in text:
        return LedgerError(
            f"PostgreSQL at {where} asks user {user!r} for a password and none was found: "
            "set it with `centwise keys set database` (or in ~/.pgpass / PGPASSWORD)"
        )
    if re.search(r'database ".*" does not exist', text):
        return LedgerError(
            f"the database {database!r} does not exist on PostgreSQL at {where}; "
            f"create it (createdb {database}) or correct [storage] url"
        )
    if re.search(r'role ".*" does not exist', text):
        return LedgerError(f"PostgreSQL at {where} has no user {user!r}; correct [storage] url")
    return StorageUnavailableError(f"cannot reach PostgreSQL at {where}: {first}")


class PgLedger(Ledger):
    """The ledger on PostgreSQL; see the module docstring. Build with :meth:`connect`."""

    backend = "postgresql"

    def __init__(
        self,
        url: str,
        *,
        password: str | None = None,
        events: EventHub | None = None,
        max_connections: int = 10,
        timeout_s: float = 4.0,
    ) -> None:
        # Not Ledger.__init__: no file. The attributes Ledger's methods use are set here.
        self.url = redact_url(url)
        self.host, self.database, self.user = describe_url(url)
        self.events = events
        self.recovered_from = None
        self.checkpointer = None
        self._timeout = timeout_s
        self._failed_at = -1e9  # monotonic time of the last failure to get a connection
        self._used_at: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()
        kwargs: dict[str, Any] = {"connect_timeout": max(1, round(timeout_s))}
        kwargs["autocommit"] = True  # transactions are explicit (conn.transaction())
        kwargs["application_name"] = "centwise"
        if password is not None:
            kwargs["password"] = password
        self._conninfo, self._kwargs = url, kwargs
        try:  # one direct connection first: a clear error now, not a pool retrying
            with psycopg.connect(url, **kwargs) as conn:
                #: The schema version found (0: a new database), see ``centwise db upgrade``.
                self.upgraded_from = self._migrate(conn)
        except psycopg.OperationalError as exc:
            raise _connect_error(exc, url) from None
        self._pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            url,
            kwargs=kwargs,
            min_size=1,
            max_size=max_connections,
            configure=_configure,
            check=self._check_if_idle,
            timeout=timeout_s,
            reconnect_timeout=24 * 3600.0,  # keep trying while the server is down
            name="centwise-ledger",
            open=True,
        )
        self._listeners: list[_Listener] = []

    @classmethod
    def connect(
        cls, url: str, *, password: str | None = None, events: EventHub | None = None
    ) -> PgLedger:
        """Open the ledger in the database at ``url``, creating or upgrading its schema."""
        return cls(url, password=password, events=events)

    @property
    def where(self) -> str:
        return f"PostgreSQL {self.host}/{self.database}"

    @property
    def path(self) -> Any:  # type: ignore[override]
        """No file: stores that used to open the SQLite file use :meth:`reading`."""
        raise LedgerError(f"the ledger is in {self.where}, not in a file")

    # -- schema ----------------------------------------------------------------

    def _migrate(self, conn: psycopg.Connection[Any]) -> int:
        """Create or upgrade the schema under an advisory lock; returns the old version."""
        with conn.transaction():
            sql = SqlConnection(conn)
            sql.execute("SELECT pg_advisory_xact_lock(?)", (_SCHEMA_LOCK,))
            current = self._version(sql)
            if current is None:
                foreign = sql.execute(
                    "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()"
                    " AND tablename IN ('requests', 'reservations', 'alerts')"
                ).fetchone()
                if foreign and foreign[0]:
                    raise LedgerError(
                        f"the database {self.database!r} on {self.host} has Centwise's table "
                        "names but no Centwise marker; it was left untouched"
                    )
                create_current(sql.execute)
                current = 0
                version = BASE_VERSION
            else:
                version = current
            if version > SCHEMA_VERSION:
                raise LedgerError(
                    f"the database {self.database!r} on {self.host} is a ledger of a newer "
                    f"Centwise (schema {version}; this version reads up to {SCHEMA_VERSION})"
                )
            for v in range(version + 1, SCHEMA_VERSION + 1):
                PG_MIGRATIONS[v](sql.execute)
            sql.execute(
                f"INSERT INTO {MARKER_TABLE} (key, value) VALUES ('schema_version', ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(SCHEMA_VERSION),),
            )
        return current

    @staticmethod
    def _version(sql: SqlConnection) -> int | None:
        found = sql.execute("SELECT to_regclass(?)", (MARKER_TABLE,)).fetchone()
        if found is None or found[0] is None:
            return None
        row = sql.execute(
            f"SELECT value FROM {MARKER_TABLE} WHERE key = 'schema_version'"
        ).fetchone()
        return int(row[0]) if row else BASE_VERSION

    @property
    def schema_version(self) -> int:
        with self._read() as conn:
            return self._version(conn) or 0

    # -- connections -------------------------------------------------------------

    def close(self) -> None:
        for listener in self._listeners:
            listener.stop()
        self._listeners.clear()
        self._pool.close()

    def checkpoint_in_background(self, interval_s: float = 1.0) -> Any:
        """No WAL file to checkpoint: the server does its own."""
        return None

    @contextmanager
    def _read(self) -> Iterator[Any]:
        # While the server was just found away, wait only briefly for a connection: the
        # requests fail fast, and the first one after it is back still gets through.
        recently_down = time.monotonic() - self._failed_at < _DOWN_WINDOW_S
        timeout = _DOWN_TIMEOUT_S if recently_down else self._timeout
        try:
            with self._pool.connection(timeout=timeout) as conn:
                yield SqlConnection(conn)
                self._used_at[conn] = time.monotonic()
        except PoolTimeout:
            self._failed_at = time.monotonic()
            raise StorageUnavailableError(
                f"cannot reach PostgreSQL at {self.host} (ledger {self.database!r}): no "
                f"connection within {timeout:g} s; requests fail until it is back"
            ) from None
        except psycopg.OperationalError as exc:
            self._failed_at = time.monotonic()
            raise StorageUnavailableError(
                f"lost PostgreSQL at {self.host} (ledger {self.database!r}): "
                f"{str(exc).strip().splitlines()[-1] if str(exc).strip() else exc!r}"
            ) from None
        except psycopg.Error as exc:
            raise LedgerError(f"ledger {self.database!r} on {self.host}: {exc}") from exc

    @contextmanager
    def _write(self, *, pipelined: bool = False) -> Iterator[Any]:
        with self._read() as conn:
            if pipelined:  # BEGIN, the statements and COMMIT go out together
                with conn.raw.pipeline(), conn.raw.transaction():
                    yield conn
            else:
                with conn.raw.transaction():
                    yield conn

    def vacuum_analyze(self) -> None:
        """``VACUUM ANALYZE`` the ledger's tables (after a bulk load, so the planner
        knows their sizes; autovacuum does it later otherwise)."""
        with self._pool.connection(timeout=self._timeout) as conn:
            conn.execute("VACUUM ANALYZE")

    def check_available(self) -> None:
        """While the server was found away in the last few seconds, try for a connection
        (briefly) before a request goes on to its provider; otherwise nothing to do."""
        if time.monotonic() - self._failed_at < _DOWN_WINDOW_S:
            with self._read():
                pass

    def _check_if_idle(self, conn: psycopg.Connection[Any]) -> None:
        """The pool's check when handing out a connection: a round trip to the server,
        but only for a connection unused for a while (one in steady use has just
        proved itself, and a check per request would cost a fifth of its time)."""
        if time.monotonic() - self._used_at.get(conn, -1e9) > _IDLE_CHECK_S:
            ConnectionPool.check_connection(conn)

    def _lock_budgets(self, conn: Any) -> None:
        conn.execute("SELECT pg_advisory_xact_lock(?)", (_BUDGET_LOCK,))

    # -- writing -----------------------------------------------------------------

    def record(self, rec: RequestRecord, reservation_id: str | None = None) -> PeriodSpend:
        row = record_to_row(rec)
        day, month = str(row[3]), str(row[4])
        found = self._insert([row], reservation_id, rec.request_id, (day, month, rec.finished_at))
        assert found is not None
        a, b, c, d, holds = map(int, found)
        return PeriodSpend(day, month, a, b, c, d, holds=holds)

    def record_many(self, records: Iterable[RequestRecord]) -> int:
        rows = [record_to_row(r) for r in records]
        if rows:
            self._insert(rows, None, None)
        return len(rows)

    def _insert(
        self,
        rows: list[tuple[object, ...]],
        reservation_id: str | None,
        request_id: str | None,
        spend_at: tuple[str, str, float] | None = None,
    ) -> tuple[Any, ...] | None:
        """Rows, rollups, the hold dropped, the announcement and (with ``spend_at``)
        the period spend after them, in one transaction sent as one pipeline: one
        round trip to the server, not eight."""
        try:
            with self._write(pipelined=True) as conn:
                conn.execute("SELECT pg_advisory_xact_lock(?)", (_RECORD_LOCK,))
                conn.executemany(_INSERT, rows)
                add_to_rollups(conn, rows)
                if reservation_id is not None:
                    conn.execute("DELETE FROM reservations WHERE id = ?", (reservation_id,))
                conn.execute("SELECT pg_notify(?, '')", (CHANNEL,))
                spend = None
                if spend_at is not None:  # fetched after the pipeline's one sync
                    spend = conn.execute(PERIOD_SPEND_SQL, period_spend_params(*spend_at))
            return spend.fetchone() if spend is not None else None
        except LedgerError as exc:
            if request_id is not None and isinstance(exc.__cause__, psycopg.errors.UniqueViolation):
                raise LedgerError(
                    f"request {request_id} is already in the ledger", request_id=request_id
                ) from None
            raise

    # -- following ---------------------------------------------------------------

    def listen(self, on_change: Callable[[], None]) -> Callable[[], None]:
        """Call ``on_change()`` (from a background thread) whenever any process records
        a request; returns a function that stops listening. Reconnects by itself."""
        listener = _Listener(self._conninfo, self._kwargs, on_change)
        listener.start()
        self._listeners.append(listener)
        return listener.stop


class _Listener:
    """``LISTEN centwise_ledger`` on a connection of its own, in a daemon thread."""

    def __init__(
        self, conninfo: str, kwargs: dict[str, Any], on_change: Callable[[], None]
    ) -> None:
        self._conninfo, self._kwargs, self._on_change = conninfo, kwargs, on_change
        self._stop = threading.Event()
        self._conn: psycopg.Connection[Any] | None = None
        self._thread = threading.Thread(target=self._run, name="centwise-listen", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=3)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._conninfo, **self._kwargs) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._on_change()  # anything written while we were not listening
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=0.5, stop_after=1):
                            self._on_change()
            except psycopg.Error:
                self._stop.wait(1.0)  # the server is away: try again shortly
