"""The cache's tables in a shared PostgreSQL database: connecting, errors, schema.

Tables ``cache_entries``, ``cache_evidence`` and ``cache_meta`` (schema version and the
vector size the table was made for). Each entry keeps its float32 vector
(``embedding bytea``), its sign bits (``code bit(D)``) and, where the server has
pgvector, a ``vec vector(D)`` column with an HNSW index. Creating or upgrading the
schema runs under an advisory lock, so processes that start together do not race.

Connection problems become :mod:`core.errors` types naming the server:
:class:`~core.errors.StorageUnavailableError` when it cannot be reached, a
:class:`~core.errors.LedgerError` for a wrong password, a missing database, or any
other database error.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import psycopg
import psycopg_pool
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from core.errors import LedgerError, StorageUnavailableError

__all__ = [
    "SCHEMA_VERSION",
    "Server",
    "VectorSupport",
    "create_schema",
    "translated",
]

SCHEMA_VERSION = 1
_LOCK_KEY = 0x43574348  # "CWCH", as the SQLite file's application_id

# Sqlstates of a wrong password / unknown role, and of a missing database.
_AUTH = frozenset({"28P01", "28000"})
_NO_DATABASE = "3D000"


@dataclass(frozen=True, slots=True)
class Server:
    """Where the cache database is, for messages (never the password)."""

    conninfo: str
    host: str
    port: str
    dbname: str
    user: str

    @classmethod
    def parse(cls, url: str, password: str | None) -> Server:
        extra: dict[str, str] = {"application_name": "centwise-cache"}
        if password is not None:
            extra["password"] = password
        params = conninfo_to_dict(url)
        if "connect_timeout" not in params:
            extra["connect_timeout"] = "10"
        conninfo = make_conninfo(url, **extra)
        host = str(params.get("host") or "localhost")
        port = str(params.get("port") or "5432")
        dbname = str(params.get("dbname") or params.get("user") or "")
        return cls(conninfo, host, port, dbname, str(params.get("user") or ""))

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


def _describe(server: Server, e: psycopg.Error) -> LedgerError:
    detail = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    text = str(e)
    if e.sqlstate in _AUTH or "password authentication failed" in text:
        return LedgerError(
            f"the cache database at {server.where} refused user {server.user!r}: "
            f"wrong password or unknown user ({detail})"
        )
    if e.sqlstate == _NO_DATABASE or ("does not exist" in text and "database" in text):
        return LedgerError(
            f"the cache database {server.dbname!r} does not exist on {server.where} "
            "(create it, or fix [storage] url)"
        )
    if isinstance(e, psycopg.OperationalError | psycopg_pool.PoolTimeout):
        return StorageUnavailableError(
            f"cannot reach the cache database at {server.where}: {detail}"
        )
    return LedgerError(f"the cache database at {server.where} failed: {detail}")


@contextlib.contextmanager
def translated(server: Server) -> Iterator[None]:
    """Turn driver errors into :mod:`core.errors` types that name the server."""
    try:
        yield
    except psycopg.Error as e:
        raise _describe(server, e) from e


def probe(server: Server) -> None:
    """Connect once, so a down server, a wrong password or a missing database is
    reported as such (a pool would only time out)."""
    with translated(server), psycopg.connect(server.conninfo, autocommit=True):
        pass


@dataclass(frozen=True, slots=True)
class VectorSupport:
    """What the schema offers for this embedder's vectors."""

    dim: int  # the size the table was made for
    pgvector: bool  # the ``vec`` column and its HNSW index exist
    warnings: list[str]


def _has_pgvector(conn: psycopg.Connection[tuple[object, ...]]) -> bool:
    row = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'").fetchone()
    return row is not None


def _tables(dim: int) -> list[str]:
    return [
        "CREATE TABLE IF NOT EXISTS cache_meta (key text PRIMARY KEY, value text NOT NULL)",
        f"""CREATE TABLE IF NOT EXISTS cache_entries (
            id bigserial PRIMARY KEY,
            namespace text NOT NULL,
            normalized_prompt text NOT NULL,
            prompt text NOT NULL,
            embedding bytea,
            embedder text,
            code bit({dim}),
            response text NOT NULL,
            model text,
            tier text,
            tier_rank integer NOT NULL DEFAULT 0,
            request_id text,
            input_tokens bigint NOT NULL DEFAULT 0,
            output_tokens bigint NOT NULL DEFAULT 0,
            cost_pusd bigint,
            created_at double precision NOT NULL,
            last_hit_at double precision,
            hits bigint NOT NULL DEFAULT 0,
            ttl_seconds bigint,
            bad boolean NOT NULL DEFAULT false,
            finish_reason text,
            saved_pusd bigint NOT NULL DEFAULT 0,
            CONSTRAINT cache_entries_identity UNIQUE (namespace, normalized_prompt, tier_rank)
        )""",
        "CREATE INDEX IF NOT EXISTS cache_entries_ns ON cache_entries (namespace, embedder)",
        "CREATE INDEX IF NOT EXISTS cache_entries_request ON cache_entries (request_id)",
        "CREATE INDEX IF NOT EXISTS cache_entries_lru"
        " ON cache_entries ((coalesce(last_hit_at, created_at)), id)",
        """CREATE TABLE IF NOT EXISTS cache_evidence (
            id bigserial PRIMARY KEY,
            entry_id bigint NOT NULL,
            request_id text,
            at double precision NOT NULL,
            score double precision NOT NULL,
            correct boolean,
            source text NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS cache_evidence_entry ON cache_evidence (entry_id)",
        "CREATE INDEX IF NOT EXISTS cache_evidence_request ON cache_evidence (request_id)",
    ]


def _add_pgvector(conn: psycopg.Connection[tuple[object, ...]], dim: int) -> None:
    conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    conn.execute(f"ALTER TABLE cache_entries ADD COLUMN IF NOT EXISTS vec vector({dim})")
    conn.execute(
        "CREATE INDEX IF NOT EXISTS cache_entries_hnsw ON cache_entries"
        " USING hnsw (vec vector_cosine_ops)"
    )


def create_schema(
    conn: psycopg.Connection[tuple[object, ...]], dim: int, want_pgvector: bool
) -> VectorSupport:
    """Create (or check) the cache tables in one transaction on ``conn``."""
    warnings: list[str] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        for statement in _tables(dim):
            conn.execute(statement)
        conn.execute(
            "INSERT INTO cache_meta (key, value) VALUES ('schema_version', %s), ('dim', %s)"
            " ON CONFLICT (key) DO NOTHING",
            (str(SCHEMA_VERSION), str(dim)),
        )
        meta = {str(k): str(v) for k, v in conn.execute("SELECT key, value FROM cache_meta")}
        version, table_dim = int(meta["schema_version"]), int(meta["dim"])
        if version > SCHEMA_VERSION:
            raise LedgerError(
                f"the cache tables have schema version {version}, newer than this Centwise"
            )
        if table_dim != dim:
            warnings.append(
                f"the shared cache holds {table_dim}-dim vectors; this embedder makes {dim}:"
                " its entries match exactly only, never by meaning"
            )
        has_vec = conn.execute(
            "SELECT 1 FROM information_schema.columns WHERE table_name = 'cache_entries'"
            " AND column_name = 'vec' AND table_schema = current_schema()"
        ).fetchone()
        pgvector = has_vec is not None
        if want_pgvector and not pgvector and _has_pgvector(conn):
            try:
                with conn.transaction():  # a savepoint: no privilege must not undo the rest
                    _add_pgvector(conn, table_dim)
                pgvector = True
            except psycopg.errors.InsufficientPrivilege as e:
                warnings.append(f"pgvector is installed but not enabled ({e}); using bit codes")
    return VectorSupport(table_dim, pgvector, warnings)


Conn = psycopg.Connection[tuple[object, ...]]


def open_pool(
    server: Server, configure: Callable[[Conn], None]
) -> psycopg_pool.ConnectionPool[Conn]:
    """A small pool of autocommit connections (opened and checked here)."""
    pool = psycopg_pool.ConnectionPool(
        server.conninfo,
        min_size=1,
        max_size=8,
        kwargs={"autocommit": True},
        configure=configure,
        open=False,
        timeout=2,  # a lookup waiting longer for a connection is better off a miss
        name="centwise-cache",
    )
    with translated(server):
        pool.open(wait=True, timeout=15)
    return pool


__all__ += ["Conn", "open_pool", "probe"]
