"""The semantic cache: answers filed in SQLite, looked up by meaning.

A lookup tries, in order:

1. an exact match of the normalised prompt inside the namespace;
2. the nearest cached prompts of the namespace by cosine similarity (an in-memory
   :class:`~core.cache.index.VectorIndex` per namespace mirrors the table);
3. the learned pair verifier (:mod:`core.cache.verifier`) on the best few candidates
   above the cosine floor: a candidate is served when its score reaches its entry's
   threshold (:mod:`core.cache.evidence`); rejections are kept with their reasons.
   Without a pair verifier, the rule guard (:mod:`core.cache.guard`) decides alone;
4. optionally, for the best candidate in the verifier's grey zone, a yes/no question
   to a cheap model, whose cost is reported back in the
   :class:`~core.cache.entries.LookupResult` and whose answer becomes evidence.

Only entries at or above the request's tier rank are served (a premium request never
gets a fast-tier answer); expired and ``bad`` entries never are. Several processes
may share one file: each notices the others' writes through ``PRAGMA data_version``
and loads the new rows into its index before the next lookup.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from types import TracebackType

import numpy as np
import numpy.typing as npt

from core.cache.candidates import (
    Candidate,
    Found,
    Guard,
    guard_candidates,
    verify_candidates,
)
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
from core.cache.entries import (
    CacheEntry,
    CacheHit,
    CacheStats,
    LookupResult,
    SearchResult,
    Verifier,
    ask_verifier,
    normalize_prompt,
    why_not_storable,
)
from core.cache.evidence import (
    EntryThreshold,
    Evidence,
    add_evidence,
    entry_threshold,
    evidence_for,
    judge_served,
)
from core.cache.guard import check
from core.cache.mirror import IndexMirror
from core.cache.verifier import PairVerifier
from core.money import to_pusd
from core.types import Usage

__all__ = ["SemanticCache"]

log = logging.getLogger(__name__)


_LIVE = "bad = 0 AND (ttl_seconds IS NULL OR created_at + ttl_seconds > ?)"
_NO_LIMIT = 2**62
_INSERT = (
    "INSERT INTO cache_entries (namespace, normalized_prompt, prompt, embedding, embedder,"
    " response, model, tier, tier_rank, request_id, input_tokens, output_tokens, cost_pusd,"
    " created_at, ttl_seconds, finish_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


class SemanticCache:
    """Cached answers in one SQLite file, shared safely between processes.

    ``path`` is the cache's own file (the engine passes ``<data_dir>/cache.sqlite``).
    Build one per process and share it between threads: every method locks. Embedding
    is the slow part; pass a precomputed vector (``embedding=``) to do it
    once, off the UI thread. Problems with the file never raise: they become
    ``warnings`` and the cache behaves as empty.
    """

    def __init__(
        self,
        path: Path | str,
        embedder: Embedder,
        *,
        max_entries: int = 50_000,
        ttl_seconds: int | None = 3600,
        guard: Guard = check,
        max_candidates: int = 3,
        clock: Callable[[], float] = time.time,
        verifier: PairVerifier | None = None,
        max_error_rate: float = 0.01,
        grey_floor: float = 0.5,
    ) -> None:
        self.path = Path(path)
        self.verifier = verifier
        self.max_error_rate = max_error_rate
        self.grey_floor = grey_floor
        #: The pair verifier's shared threshold for ``max_error_rate`` (its dev curve).
        self.serve_threshold = (
            verifier.model.threshold_for(max_error_rate) if verifier is not None else 0.0
        )
        self.embedder = embedder
        self.max_entries = max_entries
        self.ttl_seconds = ttl_seconds
        self.max_candidates = max_candidates
        self._guard = guard
        self._lock = threading.RLock()
        self._conn, self.warnings = open_cache_db(self.path, clock())
        self._mirror = IndexMirror(self._conn, embedder)
        try:
            self._mirror.rebuild()
        except sqlite3.DatabaseError as e:  # damaged beyond what quick_check saw
            self._conn.close()
            aside = keep_aside(self.path, clock())
            self.warnings.append(
                f"cache database {self.path} is damaged ({e}); kept it as {aside.name}"
            )
            self._conn, more = open_cache_db(self.path, clock())
            self.warnings += more
            self._mirror = IndexMirror(self._conn, embedder)
            self._mirror.rebuild()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> SemanticCache:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- lookup --------------------------------------------------------------------

    def lookup(
        self,
        prompt: str,
        namespace: str,
        tier_rank: int,
        now: float,
        threshold: float,
        *,
        max_output_tokens: int | None = None,
    ) -> CacheHit | None:
        """Exact, then semantic + verifier; a hit is recorded (``hits``, ``last_hit_at``)."""
        return self.lookup_detailed(
            prompt, namespace, tier_rank, now, threshold, max_output_tokens=max_output_tokens
        ).hit

    def lookup_detailed(
        self,
        prompt: str,
        namespace: str,
        tier_rank: int,
        now: float,
        threshold: float,
        *,
        embedding: npt.ArrayLike | None = None,
        max_output_tokens: int | None = None,
        request_id: str | None = None,
    ) -> LookupResult:
        """Like :meth:`lookup`, also telling which candidates were rejected and why.
        ``threshold`` is the cosine a candidate needs to be considered at all."""
        args = (prompt, namespace, tier_rank, now, threshold, embedding, max_output_tokens)
        result, found = self._find(*args)
        if result.hit is None and found.passing:
            result.hit = found.passing[0].hit("semantic")
        if result.hit is not None:
            self._record_hit(result.hit, now, request_id)
        return result

    async def alookup(
        self,
        prompt: str,
        namespace: str,
        tier_rank: int,
        now: float,
        threshold: float,
        *,
        embedding: npt.ArrayLike | None = None,
        max_output_tokens: int | None = None,
        verifier: Verifier | None = None,
        request_id: str | None = None,
    ) -> LookupResult:
        """The lookup for the async pipeline: SQLite, embedding and the pair verifier
        run in a worker thread. Without a candidate the pair verifier passes, the best
        one in its grey zone is put to ``verifier`` (a yes/no question to a cheap model;
        one call at most), whose cost comes back in the result and whose answer is kept
        as evidence for the entry's threshold."""
        args = (prompt, namespace, tier_rank, now, threshold, embedding, max_output_tokens)
        result, found = await asyncio.to_thread(self._find, *args)
        if self.verifier is None and verifier is not None:
            found.grey, found.passing = found.passing, []  # rules only: ask about the best
        if result.hit is None and found.passing:
            result.hit = found.passing[0].hit("semantic")
        elif result.hit is None and found.grey and verifier is not None:
            best = found.grey[0]
            same = await ask_verifier(result, verifier, prompt, best.entry, best.similarity)
            if best.score is not None:  # rules only: no score to learn a threshold from
                await asyncio.to_thread(self._file_verdict, best, same, now, request_id)
            if same:
                result.hit = best.hit("semantic")
                result.verified = True
        if result.hit is not None:
            served_by = None if result.verified else request_id  # verified: filed already
            await asyncio.to_thread(self._record_hit, result.hit, now, served_by)
        return result

    def _find(
        self,
        prompt: str,
        namespace: str,
        tier_rank: int,
        now: float,
        threshold: float,
        embedding: npt.ArrayLike | None,
        max_output_tokens: int | None,
    ) -> tuple[LookupResult, Found]:
        result = LookupResult()
        limit = _NO_LIMIT if max_output_tokens is None else max_output_tokens
        try:
            exact = self._exact(prompt, namespace, tier_rank, now, limit)
            if exact is not None:
                result.hit = CacheHit.from_entry(exact, 1.0, "exact")
                return result, Found()
            if namespace not in self._mirror:
                return result, Found()
            vec = self._query_vector(prompt, embedding)
            above = self._above(vec, namespace, threshold)
        except sqlite3.Error as e:
            self._warn(f"cache lookup failed, treated as a miss: {e}")
            return result, Found()
        eligible = [
            (entry, sim)
            for entry, sim in above
            if not entry.expired(now)
            and entry.tier_rank >= tier_rank
            and entry.usage.output_tokens <= limit
        ][: self.max_candidates]
        if self.verifier is None:
            return result, self._guarded(prompt, eligible, result)
        return result, self._verified(prompt, eligible, result)

    def _guarded(
        self, prompt: str, eligible: list[tuple[CacheEntry, float]], result: LookupResult
    ) -> Found:
        """Without the pair verifier: the rule guard alone decides."""
        return guard_candidates(prompt, eligible, self._guard, result)

    def _verified(
        self, prompt: str, eligible: list[tuple[CacheEntry, float]], result: LookupResult
    ) -> Found:
        """The pair verifier scores each candidate against its entry's threshold."""
        assert self.verifier is not None
        if not eligible:
            return Found()
        limits = self.entry_thresholds([e.id for e, _ in eligible])
        return verify_candidates(prompt, eligible, self.verifier, limits, self.grey_floor, result)

    def entry_thresholds(self, ids: Sequence[int]) -> dict[int, EntryThreshold]:
        """Each entry's serving threshold and the evidence behind it."""
        try:
            with self._lock:
                evidence = evidence_for(self._conn, ids)
        except sqlite3.Error as e:
            self._warn(f"could not read cache evidence: {e}")
            evidence = {i: [] for i in ids}
        return {
            i: entry_threshold(evidence.get(i, []), self.serve_threshold, self.max_error_rate)
            for i in ids
        }

    def add_saving(self, entry_id: int, amount: Decimal) -> None:
        """Credit ``entry_id`` with what serving it saved a request (net: it may be
        less than the original call's cost, or even negative)."""
        try:
            with self._lock, transaction(self._conn):
                self._conn.execute(
                    "UPDATE cache_entries SET saved_pusd = saved_pusd + ? WHERE id = ?",
                    (to_pusd(amount), entry_id),
                )
        except sqlite3.Error as e:
            self._warn(f"could not record a cache saving: {e}")

    def evidence(self, entry_id: int) -> list[Evidence]:
        """What has been seen of serving this entry's answer to other prompts."""
        with self._lock:
            return evidence_for(self._conn, [entry_id])[entry_id]

    def judge(self, request_id: str, correct: bool, source: str = "feedback") -> int:
        """A verdict on a request that was served from the cache: kept as evidence
        for the served entry's threshold. Returns how many observations it settled."""
        try:
            with self._lock, transaction(self._conn):
                return judge_served(self._conn, request_id, correct, source)
        except sqlite3.Error as e:
            self._warn(f"could not record a verdict on a cached answer: {e}")
            return 0

    def _file_verdict(
        self, candidate: Candidate, same: bool, now: float, request_id: str | None
    ) -> None:
        ev = Evidence(candidate.entry.id, request_id, now, candidate.score or 0.0, same, "verifier")
        try:
            with self._lock, transaction(self._conn):
                add_evidence(self._conn, ev)
        except sqlite3.Error as e:
            self._warn(f"could not record the verifier's answer: {e}")

    def _exact(
        self, prompt: str, namespace: str, tier_rank: int, now: float, limit: int
    ) -> CacheEntry | None:
        with self._lock:
            self._mirror.sync()
            row = self._conn.execute(
                f"SELECT {COLUMNS} FROM cache_entries WHERE namespace = ? AND normalized_prompt = ?"
                f" AND tier_rank >= ? AND output_tokens <= ? AND {_LIVE}"
                " ORDER BY tier_rank DESC, id DESC LIMIT 1",
                (namespace, normalize_prompt(prompt), tier_rank, limit, now),
            ).fetchone()
        return None if row is None else entry_from_row(row)

    def _above(
        self, vec: np.ndarray, namespace: str, threshold: float
    ) -> list[tuple[CacheEntry, float]]:
        """Entries of ``namespace`` with cosine >= ``threshold``, best first."""
        with self._lock:
            found = self._mirror.search(namespace, vec, 8 * self.max_candidates + 8)
            above = [(eid, sim) for eid, sim in found if sim >= threshold]
            rows = select_entries(self._conn, [eid for eid, _ in above])
            gone = [eid for eid, _ in above if eid not in rows or rows[eid].bad]
            self._mirror.forget(gone)  # deleted or marked bad by another process
        return [(rows[eid], sim) for eid, sim in above if eid in rows and not rows[eid].bad]

    def _query_vector(self, prompt: str, embedding: npt.ArrayLike | None) -> np.ndarray:
        if embedding is None:
            embedding = self.embedder.embed([prompt])[0]
        vec = np.asarray(embedding, dtype=np.float32).reshape(-1)
        if vec.shape[0] != self.embedder.dim:
            raise ValueError(f"embedding has {vec.shape[0]} dims, expected {self.embedder.dim}")
        return vec

    def _record_hit(self, hit: CacheHit, now: float, request_id: str | None = None) -> None:
        try:
            with self._lock, transaction(self._conn):
                self._conn.execute(
                    "UPDATE cache_entries SET hits = hits + 1, last_hit_at = ? WHERE id = ?",
                    (now, hit.entry_id),
                )
                if hit.score is not None and request_id is not None:
                    ev = Evidence(hit.entry_id, request_id, now, hit.score, None, "served")
                    add_evidence(self._conn, ev)
        except sqlite3.Error as e:
            self._warn(f"could not record a cache hit: {e}")

    # -- store ---------------------------------------------------------------------

    def store(
        self,
        prompt: str,
        namespace: str,
        embedding: npt.ArrayLike | None,
        response: str,
        model: str | None,
        tier: str | None,
        tier_rank: int,
        request_id: str | None,
        usage: Usage,
        cost: Decimal | None,
        finish_reason: str | None,
        now: float,
        *,
        status: str = "ok",
        ttl_seconds: int | None = -1,
    ) -> int | None:
        """File an answer; returns its entry id, or ``None`` when it must not be cached
        (error, cancelled, truncated, empty: see :func:`why_not_storable`).
        ``embedding=None`` embeds here. ``ttl_seconds=-1`` is the cache's default and
        ``None`` never expires."""
        if why_not_storable(status, finish_reason, response) is not None:
            return None
        vec = self._query_vector(prompt, embedding)
        ttl = self.ttl_seconds if ttl_seconds == -1 else ttl_seconds
        pusd = None if cost is None else to_pusd(cost)
        row: tuple[object, ...] = (namespace, normalize_prompt(prompt), prompt, vec.tobytes())
        row += (self.embedder.name,)
        row += (response, model, tier, tier_rank, request_id, usage.input_tokens)
        row += (usage.output_tokens, pusd, now, ttl, finish_reason)
        try:
            with self._lock:
                new_id = self._insert(row, vec)
                self._evict_over_limit(now)
        except sqlite3.Error as e:
            self._warn(f"could not store a cache entry: {e}")
            return None
        return new_id

    def _insert(self, row: tuple[object, ...], vec: np.ndarray) -> int:
        namespace, normalized, tier_rank = str(row[0]), row[1], row[8]
        with transaction(self._conn):
            # The same prompt answered again at this tier or better replaces it.
            old = select_ids(
                self._conn,
                "namespace = ? AND normalized_prompt = ? AND tier_rank <= ?",
                (namespace, normalized, tier_rank),
            )
            delete_ids(self._conn, old)
            new_id = int(self._conn.execute(_INSERT, row).lastrowid or 0)
        self._mirror.forget(old)
        self._mirror.added(namespace, new_id, vec)
        return new_id

    def _evict_over_limit(self, now: float) -> None:
        with transaction(self._conn):
            gone = evict_over_limit(self._conn, self.max_entries, now)
            if gone:
                self._mirror.bump_generation()
        self._mirror.forget(gone)

    # -- maintenance ---------------------------------------------------------------

    def mark_bad(self, request_id: str) -> int:
        """Never serve the answer(s) of ``request_id`` again; returns how many."""
        with self._lock, transaction(self._conn):
            ids = select_ids(self._conn, "request_id = ? AND bad = 0", (request_id,))
            self._conn.execute(
                "UPDATE cache_entries SET bad = 1 WHERE request_id = ?", (request_id,)
            )
        self._mirror.forget(ids)
        return len(ids)

    def evict(self, entry_id: int) -> bool:
        """Delete one entry; False when it was not there."""
        with self._lock, transaction(self._conn):
            gone = delete_ids(self._conn, [entry_id])
        self._mirror.forget([entry_id])
        return gone > 0

    def clear(self, namespace: str | None = None) -> int:
        """Delete every entry, or those of one namespace; returns how many went."""
        where, args = ("namespace = ?", (namespace,)) if namespace is not None else ("1", ())
        with self._lock, transaction(self._conn):
            cur = self._conn.execute(f"DELETE FROM cache_entries WHERE {where}", args)
            self._mirror.bump_generation()
            self._mirror.forget_namespace(namespace)
        return int(cur.rowcount)

    # -- reading -------------------------------------------------------------------

    def stats(self) -> CacheStats:
        """Per namespace: live entries, bad ones, hits, and what the hits saved."""
        with self._lock:
            return CacheStats(namespace_stats(self._conn))

    def count(self, namespace: str | None = None) -> int:
        where, args = ("namespace = ?", (namespace,)) if namespace is not None else ("1", ())
        with self._lock:
            sql = f"SELECT count(*) FROM cache_entries WHERE {where}"
            return int(self._conn.execute(sql, args).fetchone()[0])

    def entries(
        self, offset: int = 0, limit: int = 100, namespace: str | None = None
    ) -> list[CacheEntry]:
        """A page of entries, newest first (for the GUI's cache browser)."""
        where, args = ("namespace = ?", (namespace,)) if namespace is not None else ("1", ())
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {COLUMNS} FROM cache_entries WHERE {where}"
                " ORDER BY id DESC LIMIT ? OFFSET ?",
                (*args, limit, offset),
            ).fetchall()
        return [entry_from_row(r) for r in rows]

    def search(self, text: str, k: int = 10) -> list[SearchResult]:
        """The ``k`` cached prompts nearest to ``text`` in any namespace (``cache search``)."""
        vec = self._query_vector(text, None)
        with self._lock:
            self._mirror.sync()
            found = self._mirror.search(None, vec, k)
            rows = select_entries(self._conn, [eid for eid, _ in found])
        return [SearchResult(rows[eid], sim) for eid, sim in found if eid in rows]

    def _warn(self, message: str) -> None:
        log.warning("%s", message)
        if message not in self.warnings:
            self.warnings.append(message)
