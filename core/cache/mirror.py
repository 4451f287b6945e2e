"""The in-memory mirror of the cache table: one vector index per namespace.

Loaded from SQLite when the cache opens. Other processes' inserts are noticed with
``PRAGMA data_version`` (it changes only when *another* connection commits) and
loaded incrementally by id. Single deletes by others (``evict``, ``mark_bad``) are
not announced: their stale vectors are dropped when a lookup finds the row missing
or bad. Bulk deletes (``clear``, LRU eviction) bump a ``generation`` counter in
``cache_meta``, and every other process rebuilds its mirror on its next lookup.

Not thread-safe by itself: :class:`~core.cache.store.SemanticCache` holds the lock.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

from core.cache.db import vector_from_blob
from core.cache.embedder import Embedder
from core.cache.index import VectorIndex

__all__ = ["IndexMirror"]

_BATCH = 2048


class IndexMirror:
    """Vector indexes of the live entries made by this process's embedder."""

    def __init__(self, conn: sqlite3.Connection, embedder: Embedder) -> None:
        self._conn = conn
        self._embedder = embedder
        self._indexes: dict[str, VectorIndex] = {}
        self._where: dict[int, str] = {}  # indexed entry id -> namespace
        self._synced_id = 0
        self._data_version = -1
        self._generation = ""

    def __contains__(self, namespace: object) -> bool:
        return namespace in self._indexes

    def __len__(self) -> int:
        return len(self._where)

    def search(self, namespace: str | None, vec: npt.ArrayLike, k: int) -> list[tuple[int, float]]:
        """Best ``k`` (id, cosine) in one namespace, or across all when ``None``."""
        if namespace is not None:
            index = self._indexes.get(namespace)
            return [] if index is None else index.search(vec, k)
        found = [hit for index in self._indexes.values() for hit in index.search(vec, k)]
        found.sort(key=lambda h: -h[1])
        return found[:k]

    def sync(self) -> None:
        """Catch up with other processes' writes (one cheap PRAGMA when there were none)."""
        version = int(self._conn.execute("PRAGMA data_version").fetchone()[0])
        if version == self._data_version:
            return
        if self._read_generation() != self._generation:
            self.rebuild()
            return
        self._load_after(self._synced_id)
        self._data_version = version  # only once loaded: a failed load is retried

    def rebuild(self) -> None:
        """Drop everything and load every live entry again."""
        self._indexes.clear()
        self._where.clear()
        self._synced_id = 0
        version = int(self._conn.execute("PRAGMA data_version").fetchone()[0])
        self._generation = self._read_generation()
        self._data_version = -1
        self._load_after(0)
        self._data_version = version

    def added(self, namespace: str, entry_id: int, vec: np.ndarray) -> None:
        """This process inserted ``entry_id`` (already committed)."""
        self._add(namespace, [entry_id], vec.reshape(1, -1))
        if self._synced_id == entry_id - 1:
            self._synced_id = entry_id

    def forget(self, ids: Iterable[int]) -> None:
        for eid in ids:
            ns = self._where.pop(eid, None)
            index = None if ns is None else self._indexes.get(ns)
            if index is not None and ns is not None:
                index.remove([eid])
                if len(index) == 0:
                    del self._indexes[ns]

    def forget_namespace(self, namespace: str | None) -> None:
        if namespace is None:
            self._indexes.clear()
            self._where.clear()
        else:
            self.forget([i for i, ns in self._where.items() if ns == namespace])

    def bump_generation(self) -> None:
        """Inside a write transaction: tell other processes to rebuild their mirror."""
        before = self._read_generation()
        self._conn.execute(
            "UPDATE cache_meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'"
        )
        if before == self._generation:
            self._generation = self._read_generation()
        else:  # someone else bulk-deleted since our last sync: rebuild on the next one
            self._generation, self._data_version = "", -1

    def _load_after(self, after_id: int) -> None:
        # One read snapshot: rows committed between the load and max(id) would
        # otherwise be skipped for good.
        self._conn.execute("BEGIN")
        try:
            self._load_rows_after(after_id)
        finally:
            self._conn.execute("COMMIT")

    def _load_rows_after(self, after_id: int) -> None:
        cur = self._conn.execute(
            "SELECT id, namespace, embedding FROM cache_entries WHERE id > ? AND bad = 0"
            " AND embedder = ? ORDER BY id",
            (after_id, self._embedder.name),
        )
        while batch := cur.fetchmany(_BATCH):
            grouped: dict[str, tuple[list[int], list[np.ndarray]]] = {}
            for eid, ns, blob in batch:
                vec = vector_from_blob(blob, self._embedder.dim)
                if vec is not None and eid not in self._where:
                    ids, vecs = grouped.setdefault(ns, ([], []))
                    ids.append(int(eid))
                    vecs.append(vec)
            for ns, (ids, vecs) in grouped.items():
                self._add(ns, ids, np.stack(vecs))
        top = self._conn.execute("SELECT max(id) FROM cache_entries").fetchone()[0]
        self._synced_id = max(self._synced_id, int(top or 0))

    def _add(self, namespace: str, ids: list[int], vecs: np.ndarray) -> None:
        index = self._indexes.get(namespace)
        if index is None:
            index = self._indexes[namespace] = VectorIndex(self._embedder.dim)
        index.add(ids, vecs)
        self._where.update(dict.fromkeys(ids, namespace))

    def _read_generation(self) -> str:
        row = self._conn.execute("SELECT value FROM cache_meta WHERE key = 'generation'").fetchone()
        return "" if row is None else str(row[0])
