"""The cache's entries in a shared PostgreSQL database (team mode).

An entry one process or machine files is found by any other's next lookup. Ways to
find the nearest cached prompts (``search=``):

* ``"index"``: a per-process in-memory :class:`~core.cache.index.VectorIndex` per
  namespace (1-bit codes scanned with ``np.bitwise_count``, the shortlist re-ranked
  exactly in float32), loaded from the table on a namespace's first search and caught
  up before each search with ``WHERE id > seen`` (one index probe when nothing is new);
* ``"pgvector"``: ``ORDER BY vec <=> query`` on a ``vector(D)`` column with an HNSW
  index (``hnsw.iterative_scan`` keeps filtered scans from coming back short). Nothing
  is held in memory;
* ``"bits"``: the sign bits of each vector in a ``bit(D)`` column, ranked in SQL by
  ``bit_count(code # query)`` (PostgreSQL 14+) over every row of the namespace, the
  best :data:`SHORTLIST` re-ranked by exact cosine. Nothing in memory, but slow.

``"auto"`` (the default) is ``"index"`` on every server, by measurement at 100k
entries in one namespace, loopback, 2 CPUs (``python -m tests.benchmarks.bench_cache_pg``,
``nearest`` with k=32): index p50 2.3 ms / p99 2.9 ms, recall@1 1.000 (PostgreSQL 15;
1.9 / 3.0 ms on the pgvector server); pgvector HNSW p50 2.4 ms / p99 5.2 ms, recall@1
0.965; bits p50 66 ms / p99 84 ms. The index costs 171 MiB for 100k entries of 384
dims (about 1.8 KB each) and one load of the namespace on its first search (1.1 to
2.1 s); a catch-up with nothing new is 0.1 to 0.2 ms. Choose ``"pgvector"`` where
that memory matters. Searches over all namespaces (``namespace=None``, the GUI's
search) never load every namespace: they use pgvector when the column exists, else
bits. Where pgvector is available its ``vec`` column is kept filled in every mode, so
each process may choose its own search.

Keeping the index right across processes and machines:

* **Ids become visible in order.** Every insert takes a transaction-scoped advisory
  lock (:data:`INSERT_LOCK`) before it draws its id, and holds it until it commits, so
  ids are drawn and committed in one order. A snapshot that sees id N therefore sees
  every id below N that will ever exist, and ``id > seen`` never skips an entry whose
  lower id committed late. (Inserts are rare next to lookups; the lock is held for
  one short transaction.) Each loaded namespace's index holds exactly the searchable
  entries with ``id <= seen`` that were alive when read.
* **Deleted or replaced entries are never served.** The shortlisted ids are re-read
  from the table before they are returned; ids found missing or bad are dropped from
  the index (and the search is run again). Replacing an answer gives its row a new
  id, so an old vector is never served under a new answer.
* **Dead entries do not pile up.** Every :data:`RESYNC_SECONDS` a namespace's index is
  checked with one ``count(*)`` of its entries up to ``seen``; if it holds more, the
  dead ids are pruned (if fewer, which only writers bypassing the lock could cause,
  it is reloaded). This process's own clear, evict, eviction and bad marks update the
  index directly.

Writes are idempotent: ``(namespace, normalized_prompt, tier_rank)`` is unique, and
filing an answer is ``INSERT ... ON CONFLICT DO UPDATE`` (a new id, as SQLite's
delete-and-insert gives), skipped when the row already holds that request's answer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

import numpy as np
import psycopg
from pgvector.psycopg import register_vector

from core.cache.db import COLUMNS, entry_from_row
from core.cache.embedder import Embedder
from core.cache.entries import CacheEntry, NamespaceStats
from core.cache.evidence import Evidence
from core.cache.pg_index import LocalIndexes, as_bytes
from core.cache.pg_schema import Conn, Server, create_schema, open_pool, probe, translated
from core.cache.storage import NewEntry
from core.errors import ConfigError, LedgerError
from core.money import from_pusd

__all__ = [
    "INSERT_LOCK",
    "RESYNC_SECONDS",
    "SEARCH_MODES",
    "SHORTLIST",
    "PgCacheStorage",
    "sign_bits",
]

SEARCH_MODES = ("auto", "index", "pgvector", "bits")
#: Code-nearest entries re-ranked by exact cosine in ``bits`` mode.
SHORTLIST = 64
#: Advisory lock key held by every insert until it commits ("CWHI"): ids commit in order.
INSERT_LOCK = 0x43574849
#: How often a namespace's in-memory index is checked for entries deleted elsewhere.
RESYNC_SECONDS = 60.0
_ENTRY_ID = "id = ANY(%s)"
_ATTEMPTS = 3  # searches of the index while shortlisted entries turn out deleted


_UPSERT = """
INSERT INTO cache_entries AS e (namespace, normalized_prompt, prompt, embedding, embedder,
    code, {vec_col}response, model, tier, tier_rank, request_id, input_tokens, output_tokens,
    cost_pusd, created_at, ttl_seconds, finish_reason)
VALUES (%s, %s, %s, %s, %s, %s::bit({dim}), {vec_val}%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT ON CONSTRAINT cache_entries_identity DO UPDATE SET
    id = excluded.id, prompt = excluded.prompt, embedding = excluded.embedding,
    embedder = excluded.embedder, code = excluded.code, {vec_set}response = excluded.response,
    model = excluded.model, tier = excluded.tier, request_id = excluded.request_id,
    input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens,
    cost_pusd = excluded.cost_pusd, created_at = excluded.created_at,
    ttl_seconds = excluded.ttl_seconds, finish_reason = excluded.finish_reason,
    last_hit_at = NULL, hits = 0, bad = false, saved_pusd = 0
WHERE e.request_id IS DISTINCT FROM excluded.request_id OR e.bad
RETURNING id
"""


def sign_bits(vec: np.ndarray) -> str:
    """A vector's sign bits as a ``bit(D)`` literal ('1' where a component is > 0)."""
    positive = np.asarray(vec).reshape(-1) > 0
    return np.where(positive, ord("1"), ord("0")).astype(np.uint8).tobytes().decode("ascii")


def _where_namespace(namespace: str | None) -> tuple[str, tuple[object, ...]]:
    return ("namespace = %s", (namespace,)) if namespace is not None else ("true", ())


class PgCacheStorage:
    """Cache entries in the PostgreSQL database at ``url``; thread-safe (a pool).

    Raises :class:`~core.errors.StorageUnavailableError` (naming host and port) when
    the server cannot be reached, and :class:`~core.errors.LedgerError` for a wrong
    password or a missing database; later failures raise those too, and the cache
    turns them into warnings where a request must not fail.
    """

    errors: tuple[type[Exception], ...] = (LedgerError,)

    def __init__(
        self,
        url: str,
        embedder: Embedder,
        *,
        password: str | None = None,
        search: str = "auto",
        resync_seconds: float = RESYNC_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if search not in SEARCH_MODES:
            raise ConfigError(f"cache search {search!r}: expected one of {SEARCH_MODES}")
        self.server = Server.parse(url, password)
        self.embedder_name = embedder.name
        probe(self.server)
        with (
            translated(self.server),
            psycopg.connect(self.server.conninfo, autocommit=True) as conn,
        ):
            support = create_schema(conn, embedder.dim, search != "bits")
            version = int(str(conn.execute("SHOW server_version_num").fetchone()[0]))  # type: ignore[index]
        self.warnings = list(support.warnings)
        self.dim = support.dim
        #: This embedder's vectors fit the table: they get codes (and ``vec``).
        self.searchable = support.dim == embedder.dim
        if search == "pgvector" and not support.pgvector:
            raise ConfigError(
                f"cache search 'pgvector': the server at {self.server.where} has no pgvector"
            )
        self.search = "index" if search == "auto" else search
        self.has_vec = support.pgvector
        if not self.has_vec and version < 140000:
            raise LedgerError(
                f"the cache database at {self.server.where} runs PostgreSQL {version // 10000};"
                " without pgvector the cache needs 14 or newer (bit_count)"
            )
        self._pool = open_pool(self.server, self._configure)
        self._index_lock = threading.Lock()
        #: The ``index`` search's vectors (white-box tests and the benchmark read it).
        self.local = LocalIndexes(self._rows, embedder.name, self.dim, resync_seconds, clock)

    def _configure(self, conn: Conn) -> None:
        if self.has_vec:
            register_vector(conn)
            conn.execute("SET hnsw.iterative_scan = relaxed_order")

    def close(self) -> None:
        self._pool.close()

    def _rows(
        self, sql: str, args: Sequence[object] = (), *, binary: bool = False
    ) -> list[tuple[object, ...]]:
        with translated(self.server), self._pool.connection() as conn:
            return conn.cursor(binary=binary).execute(sql, args).fetchall()  # type: ignore[arg-type]

    def _forget(self, rows: list[tuple[object, ...]]) -> None:
        """Drop entries this process deleted or marked bad (``RETURNING id``) from the index."""
        with self._index_lock:
            self.local.forget(int(str(r[0])) for r in rows)

    def _rowcount(self, sql: str, args: Sequence[object] = ()) -> int:
        with translated(self.server), self._pool.connection() as conn:
            return conn.execute(sql, args).rowcount  # type: ignore[arg-type]

    # -- lookup --------------------------------------------------------------------

    def exact(
        self, namespace: str, normalized: str, tier_rank: int, limit: int, now: float
    ) -> CacheEntry | None:
        rows = self._rows(
            f"SELECT {COLUMNS} FROM cache_entries WHERE namespace = %s"
            " AND normalized_prompt = %s AND tier_rank >= %s AND output_tokens <= %s"
            " AND NOT bad AND (ttl_seconds IS NULL OR created_at + ttl_seconds > %s)"
            " ORDER BY tier_rank DESC, id DESC LIMIT 1",
            (namespace, normalized, tier_rank, limit, now),
        )
        return entry_from_row(rows[0]) if rows else None

    def has_vectors(self, namespace: str) -> bool:
        if not self.searchable:
            return False
        rows = self._rows(
            "SELECT EXISTS (SELECT 1 FROM cache_entries WHERE namespace = %s"
            " AND embedder = %s AND NOT bad AND code IS NOT NULL)",
            (namespace, self.embedder_name),
        )
        return bool(rows[0][0])

    def nearest(
        self, namespace: str | None, vec: np.ndarray, k: int
    ) -> list[tuple[CacheEntry, float]]:
        if not self.searchable or k <= 0:
            return []
        unit = vec.astype(np.float32) / max(float(np.linalg.norm(vec)), 1e-12)
        if self.search == "index" and namespace is not None:
            return self._nearest_index(namespace, unit, k)
        if self.search == "pgvector" or (self.search == "index" and self.has_vec):
            return self._nearest_pgvector(namespace, unit, k)
        return self._nearest_bits(namespace, unit, k)

    def _nearest_index(
        self, namespace: str, unit: np.ndarray, k: int
    ) -> list[tuple[CacheEntry, float]]:
        served: list[tuple[CacheEntry, float]] = []
        for _ in range(_ATTEMPTS):
            with self._index_lock:
                found = self.local.search(namespace, unit, k)
            # Re-read before serving: another process may have deleted, replaced or
            # marked bad what the index still holds.
            entries = self._select([eid for eid, _ in found])
            served = [(entries[i], sim) for i, sim in found if i in entries and not entries[i].bad]
            if len(served) == len(found):
                break
            with self._index_lock:
                self.local.forget(i for i, _ in found if i not in entries or entries[i].bad)
            if len(found) < k:  # the index had no more to offer
                break
        return served

    def _nearest_pgvector(
        self, namespace: str | None, unit: np.ndarray, k: int
    ) -> list[tuple[CacheEntry, float]]:
        where, args = _where_namespace(namespace)
        rows = self._rows(
            f"SELECT {COLUMNS}, 1 - (vec <=> %s) FROM cache_entries WHERE {where}"
            " AND embedder = %s AND NOT bad AND vec IS NOT NULL ORDER BY vec <=> %s LIMIT %s",
            (unit, *args, self.embedder_name, unit, k),
        )
        found = [(entry_from_row(r[:-1]), float(str(r[-1]))) for r in rows]
        found.sort(key=lambda f: -f[1])  # relaxed_order: nearly, not strictly, sorted
        return found

    def _nearest_bits(
        self, namespace: str | None, unit: np.ndarray, k: int
    ) -> list[tuple[CacheEntry, float]]:
        where, args = _where_namespace(namespace)
        short = self._rows(
            f"SELECT id, embedding FROM cache_entries WHERE {where} AND embedder = %s"
            " AND NOT bad AND code IS NOT NULL"
            f" ORDER BY bit_count(code # %s::bit({self.dim})) LIMIT %s",
            (*args, self.embedder_name, sign_bits(unit), max(SHORTLIST, k)),
        )
        if not short:
            return []
        ids = np.array([int(str(r[0])) for r in short])
        blobs = b"".join(as_bytes(r[1]) for r in short)
        vecs = np.frombuffer(blobs, np.float32).reshape(len(short), -1)
        norms = np.maximum(np.linalg.norm(vecs, axis=1), 1e-12)
        sims = (vecs @ unit) / norms
        top = np.argsort(-sims, kind="stable")[:k]
        entries = self._select([int(ids[i]) for i in top])
        return [
            (entries[int(ids[i])], float(sims[i]))
            for i in top
            if int(ids[i]) in entries and not entries[int(ids[i])].bad
        ]

    def _select(self, ids: Sequence[int]) -> dict[int, CacheEntry]:
        rows = self._rows(f"SELECT {COLUMNS} FROM cache_entries WHERE {_ENTRY_ID}", (list(ids),))
        return {e.id: e for e in (entry_from_row(r) for r in rows)}

    # -- writes --------------------------------------------------------------------

    def insert(self, entry: NewEntry) -> int:
        with translated(self.server), self._pool.connection() as conn, conn.transaction():
            entry_id, replaced = self._file(conn, entry)
        self._forget(replaced)
        return entry_id

    def _file(self, conn: Conn, entry: NewEntry) -> tuple[int, list[tuple[object, ...]]]:
        """Insert ``entry`` in ``conn``'s open transaction: (its id, rows it replaced)."""
        e = entry
        vec = np.asarray(e.embedding, np.float32).reshape(-1)
        fits = self.searchable and vec.shape[0] == self.dim
        with_vec = self.has_vec
        sql = _UPSERT.format(
            dim=self.dim,
            vec_col="vec, " if with_vec else "",
            vec_val="%s, " if with_vec else "",
            vec_set="vec = excluded.vec, " if with_vec else "",
        )
        args: list[object] = [e.namespace, e.normalized_prompt, e.prompt, vec.tobytes()]
        args += [e.embedder, sign_bits(vec) if fits else None]
        if with_vec:
            args.append(vec if fits else None)
        args += [e.response, e.model, e.tier, e.tier_rank, e.request_id, e.input_tokens]
        args += [e.output_tokens, e.cost_pusd, e.created_at, e.ttl_seconds, e.finish_reason]
        key = (e.namespace, e.normalized_prompt, e.tier_rank)
        # Held until commit, taken before the id is drawn: ids commit in order.
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (INSERT_LOCK,))
        # The same prompt answered again at this tier or better replaces it.
        replaced = conn.execute(
            "DELETE FROM cache_entries WHERE namespace = %s AND normalized_prompt = %s"
            " AND tier_rank < %s RETURNING id",
            key,
        ).fetchall()
        row = conn.execute(sql, args).fetchone()  # type: ignore[arg-type]
        if row is None:  # this request's answer is filed already: keep it
            row = conn.execute(
                "SELECT id FROM cache_entries WHERE namespace = %s"
                " AND normalized_prompt = %s AND tier_rank = %s",
                key,
            ).fetchone()
        assert row is not None
        return int(str(row[0])), replaced

    def evict_over_limit(self, max_entries: int, now: float) -> None:
        """When over ``max_entries``: delete bad and expired entries, then the least
        recently used, down to 90% of the limit (one process at a time)."""
        [(count,)] = self._rows("SELECT count(*) FROM cache_entries")
        if int(str(count)) <= max_entries:
            return
        target = max_entries - max_entries // 10
        with translated(self.server), self._pool.connection() as conn, conn.transaction():
            locked = conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (0x43574845,))
            if not locked.fetchone()[0]:  # type: ignore[index]
                return  # another process is evicting right now
            gone = conn.execute(
                "DELETE FROM cache_entries WHERE bad"
                " OR (ttl_seconds IS NOT NULL AND created_at + ttl_seconds <= %s) RETURNING id",
                (now,),
            ).fetchall()
            left = int(str(conn.execute("SELECT count(*) FROM cache_entries").fetchone()[0]))  # type: ignore[index]
            if left > target:
                gone += conn.execute(
                    "DELETE FROM cache_entries WHERE id IN (SELECT id FROM cache_entries"
                    " ORDER BY coalesce(last_hit_at, created_at), id LIMIT %s) RETURNING id",
                    (left - target,),
                ).fetchall()
        self._forget(gone)

    def record_hit(self, entry_id: int, now: float, evidence: Evidence | None) -> None:
        with translated(self.server), self._pool.connection() as conn, conn.transaction():
            conn.execute(
                "UPDATE cache_entries SET hits = hits + 1, last_hit_at = %s WHERE id = %s",
                (now, entry_id),
            )
            if evidence is not None:
                _add_evidence(conn, evidence)

    def add_saving(self, entry_id: int, pusd: int) -> None:
        self._rowcount(
            "UPDATE cache_entries SET saved_pusd = saved_pusd + %s WHERE id = %s",
            (pusd, entry_id),
        )

    def evidence_for(self, ids: Sequence[int]) -> dict[int, list[Evidence]]:
        wanted = [int(i) for i in ids]
        out: dict[int, list[Evidence]] = {i: [] for i in wanted}
        if not wanted:
            return out
        rows = self._rows(
            "SELECT entry_id, request_id, at, score, correct, source FROM cache_evidence"
            " WHERE entry_id = ANY(%s) ORDER BY at, id",
            (wanted,),
        )
        for eid, rid, at, score, correct, source in rows:
            out[int(str(eid))].append(
                Evidence(
                    int(str(eid)),
                    None if rid is None else str(rid),
                    float(str(at)),
                    float(str(score)),
                    None if correct is None else bool(correct),
                    str(source),
                )
            )
        return out

    def add_evidence(self, evidence: Evidence) -> None:
        with translated(self.server), self._pool.connection() as conn:
            _add_evidence(conn, evidence)

    def judge(self, request_id: str, correct: bool, source: str) -> int:
        return self._rowcount(
            "UPDATE cache_evidence SET correct = %s, source = %s WHERE request_id = %s"
            " AND source IN ('served', 'verifier', 'feedback', 'judge')",
            (correct, source, request_id),
        )

    def mark_bad(self, request_id: str) -> int:
        marked = self._rows(
            "UPDATE cache_entries SET bad = true WHERE request_id = %s AND NOT bad RETURNING id",
            (request_id,),
        )
        self._forget(marked)
        return len(marked)

    def evict(self, entry_id: int) -> bool:
        gone = self._rows("DELETE FROM cache_entries WHERE id = %s RETURNING id", (entry_id,))
        self._forget(gone)
        return bool(gone)

    def clear(self, namespace: str | None) -> int:
        where, args = _where_namespace(namespace)
        cleared = self._rowcount(f"DELETE FROM cache_entries WHERE {where}", args)
        with self._index_lock:
            self.local.drop(namespace)
        return cleared

    # -- reading -------------------------------------------------------------------

    def stats(self) -> list[NamespaceStats]:
        rows = self._rows(
            "SELECT namespace, count(*) FILTER (WHERE NOT bad), count(*) FILTER (WHERE bad),"
            " sum(hits), sum(saved_pusd), coalesce(sum(hits) FILTER (WHERE cost_pusd IS NULL), 0)"
            " FROM cache_entries GROUP BY namespace ORDER BY namespace"
        )
        return [
            NamespaceStats(
                str(ns),
                int(str(live)),
                int(str(bad)),
                int(str(hits)),
                from_pusd(int(str(saved))),
                int(str(unknown)),
            )
            for ns, live, bad, hits, saved, unknown in rows
        ]

    def count(self, namespace: str | None) -> int:
        where, args = _where_namespace(namespace)
        [(n,)] = self._rows(f"SELECT count(*) FROM cache_entries WHERE {where}", args)
        return int(str(n))

    def entries(self, offset: int, limit: int, namespace: str | None) -> list[CacheEntry]:
        where, args = _where_namespace(namespace)
        rows = self._rows(
            f"SELECT {COLUMNS} FROM cache_entries WHERE {where}"
            " ORDER BY id DESC LIMIT %s OFFSET %s",
            (*args, limit, offset),
        )
        return [entry_from_row(r) for r in rows]


def _add_evidence(conn: Conn, ev: Evidence) -> None:
    conn.execute(
        "INSERT INTO cache_evidence (entry_id, request_id, at, score, correct, source)"
        " VALUES (%s, %s, %s, %s, %s, %s)",
        (ev.entry_id, ev.request_id, ev.at, ev.score, ev.correct, ev.source),
    )
