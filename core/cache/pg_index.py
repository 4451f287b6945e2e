"""The per-process in-memory indexes of the PostgreSQL cache's entries, one per
namespace searched; how they stay right across processes is in :mod:`core.cache.pg`'s
docstring."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from core.cache.index import VectorIndex
from core.errors import LedgerError

__all__ = ["SEARCHABLE", "LocalIndexes", "Rows", "as_bytes"]

#: An entry the ``index`` search may hold: made by this embedder, with a code, not bad.
SEARCHABLE = "embedder = %s AND code IS NOT NULL AND NOT bad"

Rows = Callable[..., list[tuple[object, ...]]]


def as_bytes(value: object) -> bytes:
    """A stored vector's bytes; anything else is a damaged row."""
    if not isinstance(value, bytes | bytearray | memoryview):
        raise LedgerError(f"a cache vector is stored as {type(value).__name__}, not bytes")
    return bytes(value)


class LocalIndexes:
    """In-memory vector indexes of one embedder's entries, one per namespace searched.

    Invariant: each loaded namespace's index holds the searchable entries with
    ``id <= seen`` that were alive when read (see the module docstring for why none
    is missed). Not thread-safe: :class:`PgCacheStorage` holds a lock around it.
    """

    def __init__(
        self,
        rows: Rows,
        embedder: str,
        dim: int,
        resync_seconds: float,
        clock: Callable[[], float],
    ) -> None:
        self._rows = rows
        self._embedder = embedder
        self._dim = dim
        self.resync_seconds = resync_seconds
        self._clock = clock
        self._indexes: dict[str, VectorIndex] = {}
        self._checked: dict[str, float] = {}
        self.seen = 0

    def __contains__(self, namespace: object) -> bool:
        return namespace in self._indexes

    def __len__(self) -> int:
        return sum(len(i) for i in self._indexes.values())

    @property
    def nbytes(self) -> int:
        return sum(i.nbytes for i in self._indexes.values())

    def ids(self, namespace: str) -> list[int]:
        """The ids held for ``namespace``, ascending (tests)."""
        index = self._indexes.get(namespace)
        return [] if index is None else sorted(index.ids().tolist())

    def search(self, namespace: str, unit: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Catch up with every process's writes, then the ``k`` nearest (id, cosine)."""
        self.catch_up()
        index = self._indexes.get(namespace)
        if index is None:
            index = self._load(namespace)
        elif self._clock() - self._checked[namespace] >= self.resync_seconds:
            index = self._check(namespace, index)
        return index.search(unit, k)

    def catch_up(self) -> None:
        """Add the entries committed since the last call (ids are visible in order)."""
        if not self._indexes:
            return  # nothing to keep current; a load starts from max(id)
        rows = self._rows(
            "SELECT id, namespace, CASE WHEN namespace = ANY(%s) AND"
            f" {SEARCHABLE} THEN embedding END FROM cache_entries WHERE id > %s ORDER BY id",
            (list(self._indexes), self._embedder, self.seen),
            binary=True,
        )
        if not rows:
            return
        grouped: dict[str, tuple[list[int], list[bytes]]] = {}
        for eid, namespace, blob in rows:
            if blob is not None and len(as_bytes(blob)) == 4 * self._dim:
                ids, blobs = grouped.setdefault(str(namespace), ([], []))
                ids.append(int(str(eid)))
                blobs.append(as_bytes(blob))
        for namespace, (ids, blobs) in grouped.items():
            self._add(self._indexes[namespace], ids, blobs)
        self.seen = int(str(rows[-1][0]))

    def _load(self, namespace: str) -> VectorIndex:
        if not self._indexes:
            [(top,)] = self._rows("SELECT coalesce(max(id), 0) FROM cache_entries")
            self.seen = int(str(top))
        rows = self._rows(
            f"SELECT id, embedding FROM cache_entries WHERE namespace = %s AND {SEARCHABLE}"
            " AND id <= %s",
            (namespace, self._embedder, self.seen),
            binary=True,
        )
        index = VectorIndex(self._dim)
        index.reserve(len(rows) + len(rows) // 8 + 64)  # room to grow before it doubles
        fit = [(int(str(i)), as_bytes(b)) for i, b in rows if len(as_bytes(b)) == 4 * self._dim]
        self._add(index, [i for i, _ in fit], [b for _, b in fit])
        self._indexes[namespace] = index
        self._checked[namespace] = self._clock()
        return index

    def _check(self, namespace: str, index: VectorIndex) -> VectorIndex:
        """Prune entries other processes deleted (one count when there are none)."""
        where = f"namespace = %s AND {SEARCHABLE} AND id <= %s"
        args = (namespace, self._embedder, self.seen)
        self._checked[namespace] = self._clock()
        [(alive,)] = self._rows(f"SELECT count(*) FROM cache_entries WHERE {where}", args)
        if int(str(alive)) == len(index):
            return index
        live = {
            int(str(r[0])) for r in self._rows(f"SELECT id FROM cache_entries WHERE {where}", args)
        }
        index.remove([i for i in index.ids().tolist() if i not in live])
        if len(index) < len(live):  # an entry committed out of order: start again
            return self._load(namespace)
        return index

    def _add(self, index: VectorIndex, ids: list[int], blobs: list[bytes]) -> None:
        new = [n for n, i in enumerate(ids) if i not in index]
        if new:
            vecs = np.frombuffer(b"".join(blobs[n] for n in new), np.float32)
            index.add([ids[n] for n in new], vecs.reshape(len(new), self._dim))

    def forget(self, ids: Iterable[int]) -> None:
        gone = list(ids)
        for index in self._indexes.values():
            index.remove(gone)

    def drop(self, namespace: str | None) -> None:
        """Forget one namespace's index (or all); the next search loads it again."""
        for name in list(self._indexes) if namespace is None else [namespace]:
            self._indexes.pop(name, None)
            self._checked.pop(name, None)
