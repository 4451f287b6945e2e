"""The cache's entries in one SQLite file on this machine (the default storage).

An in-memory :class:`~core.cache.mirror.IndexMirror` (a vector index per namespace)
mirrors the table. Several processes may share one file: each notices the others'
writes through ``PRAGMA data_version`` and loads the new rows into its mirror before
the next lookup. A file that is damaged is kept aside and the cache starts empty.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core.cache.db import (
    COLUMNS,
    delete_ids,
    entry_from_row,
    evict_over_limit,
    keep_aside,
    namespace_stats,
    open_cache_db,
    select_entries,
    select_ids,
    transaction,
)
from core.cache.embedder import Embedder
from core.cache.entries import CacheEntry, NamespaceStats
from core.cache.evidence import Evidence, add_evidence, evidence_for, judge_served
from core.cache.mirror import IndexMirror
from core.cache.storage import NewEntry

__all__ = ["SqliteCacheStorage"]

_LIVE = "bad = 0 AND (ttl_seconds IS NULL OR created_at + ttl_seconds > ?)"
_INSERT = (
    "INSERT INTO cache_entries (namespace, normalized_prompt, prompt, embedding, embedder,"
    " response, model, tier, tier_rank, request_id, input_tokens, output_tokens, cost_pusd,"
    " created_at, ttl_seconds, finish_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _where_namespace(namespace: str | None) -> tuple[str, tuple[object, ...]]:
    return ("namespace = ?", (namespace,)) if namespace is not None else ("1", ())


class SqliteCacheStorage:
    """Cache entries in the SQLite file ``path``; every method locks."""

    errors: tuple[type[Exception], ...] = (sqlite3.Error,)

    def __init__(self, path: Path, embedder: Embedder, now: float) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._conn, self.warnings = open_cache_db(path, now)
        self.mirror = IndexMirror(self._conn, embedder)
        try:
            self.mirror.rebuild()
        except sqlite3.DatabaseError as e:  # damaged beyond what quick_check saw
            self._conn.close()
            aside = keep_aside(path, now)
            self.warnings.append(f"cache database {path} is damaged ({e}); kept it as {aside.name}")
            self._conn, more = open_cache_db(path, now)
            self.warnings += more
            self.mirror = IndexMirror(self._conn, embedder)
            self.mirror.rebuild()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- lookup --------------------------------------------------------------------

    def exact(
        self, namespace: str, normalized: str, tier_rank: int, limit: int, now: float
    ) -> CacheEntry | None:
        with self._lock:
            self.mirror.sync()
            row = self._conn.execute(
                f"SELECT {COLUMNS} FROM cache_entries WHERE namespace = ? AND normalized_prompt = ?"
                f" AND tier_rank >= ? AND output_tokens <= ? AND {_LIVE}"
                " ORDER BY tier_rank DESC, id DESC LIMIT 1",
                (namespace, normalized, tier_rank, limit, now),
            ).fetchone()
        return None if row is None else entry_from_row(row)

    def has_vectors(self, namespace: str) -> bool:
        with self._lock:
            return namespace in self.mirror

    def nearest(
        self, namespace: str | None, vec: np.ndarray, k: int
    ) -> list[tuple[CacheEntry, float]]:
        with self._lock:
            self.mirror.sync()
            found = self.mirror.search(namespace, vec, k)
            rows = select_entries(self._conn, [eid for eid, _ in found])
            gone = [eid for eid, _ in found if eid not in rows or rows[eid].bad]
            self.mirror.forget(gone)  # deleted or marked bad by another process
        return [(rows[eid], sim) for eid, sim in found if eid in rows and not rows[eid].bad]

    # -- writes --------------------------------------------------------------------

    def insert(self, entry: NewEntry) -> int:
        e = entry
        row: tuple[object, ...] = (
            e.namespace,
            e.normalized_prompt,
            e.prompt,
            e.embedding.tobytes(),
            e.embedder,
        )
        row += (e.response, e.model, e.tier, e.tier_rank, e.request_id, e.input_tokens)
        row += (e.output_tokens, e.cost_pusd, e.created_at, e.ttl_seconds, e.finish_reason)
        with self._lock:
            with transaction(self._conn):
                # The same prompt answered again at this tier or better replaces it.
                old = select_ids(
                    self._conn,
                    "namespace = ? AND normalized_prompt = ? AND tier_rank <= ?",
                    (e.namespace, e.normalized_prompt, e.tier_rank),
                )
                delete_ids(self._conn, old)
                new_id = int(self._conn.execute(_INSERT, row).lastrowid or 0)
            self.mirror.forget(old)
            self.mirror.added(e.namespace, new_id, e.embedding)
        return new_id

    def evict_over_limit(self, max_entries: int, now: float) -> None:
        with self._lock:
            with transaction(self._conn):
                gone = evict_over_limit(self._conn, max_entries, now)
                if gone:
                    self.mirror.bump_generation()
            self.mirror.forget(gone)

    def record_hit(self, entry_id: int, now: float, evidence: Evidence | None) -> None:
        with self._lock, transaction(self._conn):
            self._conn.execute(
                "UPDATE cache_entries SET hits = hits + 1, last_hit_at = ? WHERE id = ?",
                (now, entry_id),
            )
            if evidence is not None:
                add_evidence(self._conn, evidence)

    def add_saving(self, entry_id: int, pusd: int) -> None:
        with self._lock, transaction(self._conn):
            self._conn.execute(
                "UPDATE cache_entries SET saved_pusd = saved_pusd + ? WHERE id = ?",
                (pusd, entry_id),
            )

    def evidence_for(self, ids: Sequence[int]) -> dict[int, list[Evidence]]:
        with self._lock:
            return evidence_for(self._conn, ids)

    def add_evidence(self, evidence: Evidence) -> None:
        with self._lock, transaction(self._conn):
            add_evidence(self._conn, evidence)

    def judge(self, request_id: str, correct: bool, source: str) -> int:
        with self._lock, transaction(self._conn):
            return judge_served(self._conn, request_id, correct, source)

    def mark_bad(self, request_id: str) -> int:
        with self._lock:
            with transaction(self._conn):
                ids = select_ids(self._conn, "request_id = ? AND bad = 0", (request_id,))
                self._conn.execute(
                    "UPDATE cache_entries SET bad = 1 WHERE request_id = ?", (request_id,)
                )
            self.mirror.forget(ids)
        return len(ids)

    def evict(self, entry_id: int) -> bool:
        with self._lock:
            with transaction(self._conn):
                gone = delete_ids(self._conn, [entry_id])
            self.mirror.forget([entry_id])
        return gone > 0

    def clear(self, namespace: str | None) -> int:
        where, args = _where_namespace(namespace)
        with self._lock, transaction(self._conn):
            cur = self._conn.execute(f"DELETE FROM cache_entries WHERE {where}", args)
            self.mirror.bump_generation()
            self.mirror.forget_namespace(namespace)
        return int(cur.rowcount)

    # -- reading -------------------------------------------------------------------

    def stats(self) -> list[NamespaceStats]:
        with self._lock:
            return namespace_stats(self._conn)

    def count(self, namespace: str | None) -> int:
        where, args = _where_namespace(namespace)
        with self._lock:
            sql = f"SELECT count(*) FROM cache_entries WHERE {where}"
            return int(self._conn.execute(sql, args).fetchone()[0])

    def entries(self, offset: int, limit: int, namespace: str | None) -> list[CacheEntry]:
        where, args = _where_namespace(namespace)
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {COLUMNS} FROM cache_entries WHERE {where}"
                " ORDER BY id DESC LIMIT ? OFFSET ?",
                (*args, limit, offset),
            ).fetchall()
        return [entry_from_row(r) for r in rows]
