"""A compact in-memory vector index for the semantic cache, in numpy.

Every entry is kept twice:

* a **1-bit sign code** - one bit per dimension of the (centred) unit vector, packed
  into ``uint64`` words (48 bytes for 384 dims) and stored word-major, so a lookup
  streams each word column once: XOR with the query's code, ``np.bitwise_count``,
  add. The Hamming distance between codes tracks the angle between vectors.
* the **float32 unit vector**, read only for the few hundred entries whose codes are
  nearest (the shortlist), whose exact cosine decides the answer.

So a lookup reads ``48 * n`` bytes of codes plus ``1536 * shortlist`` bytes of
vectors, instead of ``1536 * n`` for a brute-force scan. Rows are swap-removed and
storage doubles (or halves) as needed, so ``add`` and ``remove`` are amortised O(1)
per entry.

Not thread-safe: one writer, and no search while a write is in progress (the cache
store serialises access).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

from core.cache.embedder import l2_normalise

__all__ = ["VectorIndex"]

F32 = npt.NDArray[np.float32]
U64 = npt.NDArray[np.uint64]
U16 = npt.NDArray[np.uint16]
I64 = npt.NDArray[np.int64]

_MIN_CAPACITY = 64
_CHUNK = 32_768  # rows per pass: the XOR/count scratch stays in L2 cache


class VectorIndex:
    """Cosine top-k over unit vectors, keyed by integer ids.

    ``shortlist`` is how many code-nearest entries get an exact cosine; more costs a
    little time and buys recall. ``center`` (optional, e.g. the mean of typical
    embeddings) is subtracted before taking signs: sentence embeddings share a common
    direction, and without centring many bits would be the same for every entry.
    Indexes below ``exact_below`` entries are simply scanned exactly.
    """

    def __init__(
        self,
        dim: int,
        *,
        shortlist: int = 256,
        center: npt.ArrayLike | None = None,
        exact_below: int = 4096,
    ) -> None:
        if dim <= 0:
            raise ValueError("dim must be positive")
        self.dim = dim
        self.shortlist = max(1, shortlist)
        self.exact_below = exact_below
        self._words = (dim + 63) // 64
        self._center = np.zeros(dim, np.float32)
        if center is not None:
            self._center[:] = np.asarray(center, dtype=np.float32).reshape(dim)
        self._n = 0
        self._rows: dict[int, int] = {}
        self._vecs: F32 = np.zeros((0, dim), np.float32)
        self._codes: U64 = np.zeros((self._words, 0), np.uint64)
        self._ids: I64 = np.zeros(0, np.int64)
        self._alloc(_MIN_CAPACITY)

    # -- storage -------------------------------------------------------------------

    def _alloc(self, capacity: int) -> None:
        """(Re)allocate storage for ``capacity`` rows, keeping the first ``_n``."""
        vecs = np.zeros((capacity, self.dim), np.float32)
        codes = np.zeros((self._words, capacity), np.uint64)
        ids = np.zeros(capacity, np.int64)
        if self._n:
            vecs[: self._n] = self._vecs[: self._n]
            codes[:, : self._n] = self._codes[:, : self._n]
            ids[: self._n] = self._ids[: self._n]
        self._vecs, self._codes, self._ids = vecs, codes, ids

    @property
    def capacity(self) -> int:
        return int(self._ids.shape[0])

    def reserve(self, capacity: int) -> None:
        """Make room for ``capacity`` entries now (avoids regrowth, and its slack)."""
        if capacity > self.capacity:
            self._alloc(capacity)

    def __len__(self) -> int:
        return self._n

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._rows

    @property
    def nbytes(self) -> int:
        """Bytes held by the vector, code and id arrays (at current capacity)."""
        return int(self._vecs.nbytes + self._codes.nbytes + self._ids.nbytes)

    def ids(self) -> I64:
        """The ids present, in storage order."""
        return self._ids[: self._n].copy()

    def encode(self, vecs: npt.ArrayLike) -> U64:
        """Sign codes of unit ``vecs`` as ``(n, words)`` ``uint64`` (little-endian bits)."""
        arr = np.asarray(vecs, dtype=np.float32).reshape(-1, self.dim)
        bits = (arr - self._center) > 0
        pad = self._words * 64 - self.dim
        if pad:
            bits = np.pad(bits, ((0, 0), (0, pad)))
        packed = np.packbits(bits, axis=1, bitorder="little")
        return np.ascontiguousarray(packed).view("<u8").astype(np.uint64, copy=False)

    # -- writes --------------------------------------------------------------------

    def add(self, ids: Sequence[int], vecs: npt.ArrayLike) -> None:
        """Add entries (vectors are L2-normalised here); an existing id is replaced."""
        id_list = [int(i) for i in ids]
        arr = np.asarray(vecs, dtype=np.float32).reshape(-1, self.dim) if id_list else None
        if arr is None:
            return
        if arr.shape[0] != len(id_list):
            raise ValueError(f"{len(id_list)} ids for {arr.shape[0]} vectors")
        if len(set(id_list)) != len(id_list):
            raise ValueError("duplicate ids in one add()")
        if not np.isfinite(arr).all():
            raise ValueError("vectors must be finite")
        replaced = [i for i in id_list if i in self._rows]
        if replaced:
            self.remove(replaced)
        unit = l2_normalise(arr)
        start, end = self._n, self._n + len(id_list)
        if end > self.capacity:
            self._alloc(max(end, 2 * self.capacity))
        self._vecs[start:end] = unit
        self._codes[:, start:end] = self.encode(unit).T
        self._ids[start:end] = id_list
        self._rows.update(zip(id_list, range(start, end), strict=True))
        self._n = end

    def remove(self, ids: Iterable[int]) -> int:
        """Remove entries by id (unknown ids are ignored); return how many went."""
        removed = 0
        for entry_id in list(ids):
            row = self._rows.pop(int(entry_id), None)
            if row is None:
                continue
            last = self._n - 1
            if row != last:  # move the last row into the hole
                self._vecs[row] = self._vecs[last]
                self._codes[:, row] = self._codes[:, last]
                moved = int(self._ids[last])
                self._ids[row] = moved
                self._rows[moved] = row
            self._n = last
            removed += 1
        capacity = self.capacity
        while removed and capacity > _MIN_CAPACITY and self._n < capacity // 4:
            capacity //= 2
        if capacity != self.capacity:
            self._alloc(capacity)
        return removed

    # -- reads ---------------------------------------------------------------------

    def search(self, query: npt.ArrayLike, k: int = 5) -> list[tuple[int, float]]:
        """The ``k`` entries most cosine-similar to ``query``, best first, as (id, cosine)."""
        q = np.asarray(query, dtype=np.float32).reshape(self.dim)
        if self._n == 0 or k <= 0:
            return []
        q = l2_normalise(q)[0]
        if self._n <= max(self.exact_below, self.shortlist):
            rows = np.arange(self._n)
        else:
            rows = self.candidates(q)
        sims = self._vecs[rows] @ q
        k = min(k, sims.shape[0])
        top = np.argpartition(-sims, k - 1)[:k] if k < sims.shape[0] else np.arange(k)
        top = top[np.argsort(-sims[top], kind="stable")]
        return [(int(self._ids[rows[i]]), float(sims[i])) for i in top]

    def candidates(self, query: npt.ArrayLike) -> I64:
        """Rows of the ~``shortlist`` entries whose codes are nearest ``query``'s."""
        dist = self.hamming(self.encode(query)[0])
        want = min(self.shortlist, self._n)
        # Guess the cut-off distance from a strided sample (a full sort or histogram
        # of every distance costs more than the scan), then widen it until enough
        # rows fall within it.
        step = max(1, self._n // (64 * want))
        sample = dist[::step]
        kth = min(sample.shape[0] - 1, (2 * want) // step)
        cut = int(np.partition(sample, kth)[kth])
        rows = np.flatnonzero(dist <= cut)
        while rows.shape[0] < want:
            cut += 8
            rows = np.flatnonzero(dist <= cut)
        if rows.shape[0] > want:  # keep the nearest ``want`` (ties broken arbitrarily)
            rows = rows[np.argpartition(dist[rows], want - 1)[:want]]
        return rows

    def hamming(self, code: U64) -> U16:
        """Hamming distance from ``code`` to every stored code (``uint16``, row order)."""
        n = self._n
        dist = np.empty(n, np.uint16)
        width = min(n, _CHUNK)
        xor = np.empty((self._words, width), np.uint64)
        count = np.empty((self._words, width), np.uint8)
        column = code.reshape(self._words, 1)
        for start in range(0, n, _CHUNK):
            end = min(n, start + _CHUNK)
            m = end - start
            np.bitwise_xor(self._codes[:, start:end], column, out=xor[:, :m])
            np.bitwise_count(xor[:, :m], out=count[:, :m])
            np.add.reduce(count[:, :m], axis=0, dtype=np.uint16, out=dist[start:end])
        return dist
