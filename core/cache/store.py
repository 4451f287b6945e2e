"""The semantic cache: answers filed in SQLite or PostgreSQL, looked up by meaning.

A lookup tries, in order:

1. an exact match of the normalised prompt inside the namespace;
2. the nearest cached prompts of the namespace by cosine similarity (SQLite: an
   in-memory :class:`~core.cache.index.VectorIndex` per namespace mirrors the table;
   PostgreSQL: searched in the database, see :mod:`core.cache.pg`);
3. the learned pair verifier (:mod:`core.cache.verifier`) on the best few candidates
   above the cosine floor: a candidate is served when its score reaches its entry's
   threshold (:mod:`core.cache.evidence`); rejections are kept with their reasons.
   Without a pair verifier, the rule guard (:mod:`core.cache.guard`) decides alone;
4. optionally, for the best candidate in the verifier's grey zone, a yes/no question
   to a cheap model, whose cost is reported back in the
   :class:`~core.cache.entries.LookupResult` and whose answer becomes evidence.

Only entries at or above the request's tier rank are served (a premium request never
gets a fast-tier answer); expired and ``bad`` entries never are. Several processes
may share one SQLite file (:mod:`core.cache.sqlite_storage`), or several machines one
PostgreSQL database (:mod:`core.cache.pg`): an entry one of them files is found by the
others' next lookup.
"""

from __future__ import annotations

import asyncio
import logging
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
from core.cache.evidence import EntryThreshold, Evidence, entry_threshold
from core.cache.guard import check
from core.cache.mirror import IndexMirror
from core.cache.sqlite_storage import SqliteCacheStorage
from core.cache.storage import CacheStorage, NewEntry
from core.cache.verifier import PairVerifier
from core.money import to_pusd
from core.types import Usage

__all__ = ["SemanticCache"]

log = logging.getLogger(__name__)


_NO_LIMIT = 2**62


class SemanticCache:
    """Cached answers in one SQLite file, or in a shared PostgreSQL database.

    ``path`` is the cache's own file (the engine passes ``<data_dir>/cache.sqlite``).
    In team mode pass ``url="postgresql://user@host:port/db"`` instead (``path`` is
    then ``None``; ``password`` when it is not in the URL or libpq's own sources;
    ``pg_search`` picks the search, see :mod:`core.cache.pg`). Build one per process
    and share it between threads. Embedding is the slow part; pass a precomputed
    vector (``embedding=``) to do it once, off the UI thread. Problems with the file
    never raise: they become ``warnings`` and the cache behaves as empty. A database
    that cannot be reached when the cache opens raises
    :class:`~core.errors.StorageUnavailableError` naming its host and port; later,
    lookups and stores that fail are warnings and misses, like SQLite's.
    """

    def __init__(
        self,
        path: Path | str | None,
        embedder: Embedder,
        *,
        url: str | None = None,
        password: str | None = None,
        pg_search: str = "auto",
        max_entries: int = 50_000,
        ttl_seconds: int | None = 3600,
        guard: Guard = check,
        max_candidates: int = 3,
        clock: Callable[[], float] = time.time,
        verifier: PairVerifier | None = None,
        max_error_rate: float = 0.01,
        grey_floor: float = 0.5,
    ) -> None:
        self.path = None if path is None else Path(path)
        self.url = url
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
        self._storage = self._open_storage(embedder, clock(), password, pg_search)
        self._errors = self._storage.errors
        self.warnings: list[str] = list(self._storage.warnings)

    def _open_storage(
        self, embedder: Embedder, now: float, password: str | None, pg_search: str
    ) -> CacheStorage:
        if self.url is not None:
            from core.cache.pg import PgCacheStorage  # psycopg only loads in team mode

            return PgCacheStorage(self.url, embedder, password=password, search=pg_search)
        if self.path is None:
            raise ValueError("SemanticCache needs a path or a url")
        return SqliteCacheStorage(self.path, embedder, now)

    @property
    def _mirror(self) -> IndexMirror:
        """The SQLite storage's in-memory index (white-box tests only)."""
        assert isinstance(self._storage, SqliteCacheStorage)
        return self._storage.mirror

    def close(self) -> None:
        self._storage.close()

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
            if not self._storage.has_vectors(namespace):
                return result, Found()
            vec = self._query_vector(prompt, embedding)
            above = self._above(vec, namespace, threshold)
        except self._errors as e:
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
            evidence = self._storage.evidence_for(ids)
        except self._errors as e:
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
            self._storage.add_saving(entry_id, to_pusd(amount))
        except self._errors as e:
            self._warn(f"could not record a cache saving: {e}")

    def evidence(self, entry_id: int) -> list[Evidence]:
        """What has been seen of serving this entry's answer to other prompts."""
        return self._storage.evidence_for([entry_id])[entry_id]

    def judge(self, request_id: str, correct: bool, source: str = "feedback") -> int:
        """A verdict on a request that was served from the cache: kept as evidence
        for the served entry's threshold. Returns how many observations it settled."""
        try:
            return self._storage.judge(request_id, correct, source)
        except self._errors as e:
            self._warn(f"could not record a verdict on a cached answer: {e}")
            return 0

    def _file_verdict(
        self, candidate: Candidate, same: bool, now: float, request_id: str | None
    ) -> None:
        ev = Evidence(candidate.entry.id, request_id, now, candidate.score or 0.0, same, "verifier")
        try:
            self._storage.add_evidence(ev)
        except self._errors as e:
            self._warn(f"could not record the verifier's answer: {e}")

    def _exact(
        self, prompt: str, namespace: str, tier_rank: int, now: float, limit: int
    ) -> CacheEntry | None:
        return self._storage.exact(namespace, normalize_prompt(prompt), tier_rank, limit, now)

    def _above(
        self, vec: np.ndarray, namespace: str, threshold: float
    ) -> list[tuple[CacheEntry, float]]:
        """Entries of ``namespace`` with cosine >= ``threshold``, best first."""
        found = self._storage.nearest(namespace, vec, 8 * self.max_candidates + 8)
        return [(entry, sim) for entry, sim in found if sim >= threshold]

    def _query_vector(self, prompt: str, embedding: npt.ArrayLike | None) -> np.ndarray:
        if embedding is None:
            embedding = self.embedder.embed([prompt])[0]
        vec = np.asarray(embedding, dtype=np.float32).reshape(-1)
        if vec.shape[0] != self.embedder.dim:
            raise ValueError(f"embedding has {vec.shape[0]} dims, expected {self.embedder.dim}")
        return vec

    def _record_hit(self, hit: CacheHit, now: float, request_id: str | None = None) -> None:
        ev = None
        if hit.score is not None and request_id is not None:
            ev = Evidence(hit.entry_id, request_id, now, hit.score, None, "served")
        try:
            self._storage.record_hit(hit.entry_id, now, ev)
        except self._errors as e:
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
        entry = NewEntry(
            namespace=namespace,
            normalized_prompt=normalize_prompt(prompt),
            prompt=prompt,
            embedding=vec,
            embedder=self.embedder.name,
            response=response,
            model=model,
            tier=tier,
            tier_rank=tier_rank,
            request_id=request_id,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cost_pusd=None if cost is None else to_pusd(cost),
            created_at=now,
            ttl_seconds=ttl,
            finish_reason=finish_reason,
        )
        try:
            new_id = self._storage.insert(entry)
            self._storage.evict_over_limit(self.max_entries, now)
        except self._errors as e:
            self._warn(f"could not store a cache entry: {e}")
            return None
        return new_id

    # -- maintenance ---------------------------------------------------------------

    def mark_bad(self, request_id: str) -> int:
        """Never serve the answer(s) of ``request_id`` again; returns how many."""
        return self._storage.mark_bad(request_id)

    def evict(self, entry_id: int) -> bool:
        """Delete one entry; False when it was not there."""
        return self._storage.evict(entry_id)

    def clear(self, namespace: str | None = None) -> int:
        """Delete every entry, or those of one namespace; returns how many went."""
        return self._storage.clear(namespace)

    # -- reading -------------------------------------------------------------------

    def stats(self) -> CacheStats:
        """Per namespace: live entries, bad ones, hits, and what the hits saved."""
        return CacheStats(self._storage.stats())

    def count(self, namespace: str | None = None) -> int:
        return self._storage.count(namespace)

    def entries(
        self, offset: int = 0, limit: int = 100, namespace: str | None = None
    ) -> list[CacheEntry]:
        """A page of entries, newest first (for the GUI's cache browser)."""
        return self._storage.entries(offset, limit, namespace)

    def search(self, text: str, k: int = 10) -> list[SearchResult]:
        """The ``k`` cached prompts nearest to ``text`` in any namespace (``cache search``)."""
        vec = self._query_vector(text, None)
        return [SearchResult(entry, sim) for entry, sim in self._storage.nearest(None, vec, k)]

    def _warn(self, message: str) -> None:
        log.warning("%s", message)
        if message not in self.warnings:
            self.warnings.append(message)
