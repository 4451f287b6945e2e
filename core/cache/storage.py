"""What :class:`~core.cache.store.SemanticCache` needs from the place its entries live.

Two implementations: :class:`~core.cache.sqlite_storage.SqliteCacheStorage` (one file
on this machine, the default) and :class:`~core.cache.pg.PgCacheStorage` (a shared
PostgreSQL database, team mode). The cache's logic (candidate filtering, the guard,
the pair verifier, thresholds) stays in the store and never sees SQL.

Every method may raise one of the storage's :attr:`CacheStorage.errors`; the store
turns those into warnings where a cache problem must not fail a request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from core.cache.entries import CacheEntry, NamespaceStats
from core.cache.evidence import Evidence

__all__ = ["CacheStorage", "NewEntry"]


@dataclass(frozen=True, slots=True)
class NewEntry:
    """An answer about to be filed (the store has checked it may be cached)."""

    namespace: str
    normalized_prompt: str
    prompt: str
    embedding: np.ndarray  # float32, the embedder's dim
    embedder: str
    response: str
    model: str | None
    tier: str | None
    tier_rank: int
    request_id: str | None
    input_tokens: int
    output_tokens: int
    cost_pusd: int | None
    created_at: float
    ttl_seconds: int | None
    finish_reason: str | None


class CacheStorage(Protocol):
    """Entries, their vectors and their evidence; thread-safe."""

    #: Problems reported here that the store may turn into warnings.
    errors: tuple[type[Exception], ...]
    #: Problems met while opening (a damaged file kept aside, a missing extension).
    warnings: list[str]

    def close(self) -> None: ...

    def exact(
        self, namespace: str, normalized: str, tier_rank: int, limit: int, now: float
    ) -> CacheEntry | None:
        """The best live entry with this normalised prompt (highest tier, newest)."""
        ...

    def has_vectors(self, namespace: str) -> bool:
        """Whether ``namespace`` holds any searchable vector (else: skip embedding)."""
        ...

    def nearest(
        self, namespace: str | None, vec: np.ndarray, k: int
    ) -> list[tuple[CacheEntry, float]]:
        """Up to ``k`` non-bad entries nearest ``vec`` by cosine, best first, in one
        namespace or all (``None``). Expiry and tier are the caller's to check."""
        ...

    def insert(self, entry: NewEntry) -> int:
        """File ``entry``; it replaces the same prompt's answers at its tier or below.
        Filing the same request's answer twice keeps one row. Returns the entry id."""
        ...

    def evict_over_limit(self, max_entries: int, now: float) -> None: ...

    def record_hit(self, entry_id: int, now: float, evidence: Evidence | None) -> None: ...

    def add_saving(self, entry_id: int, pusd: int) -> None: ...

    def evidence_for(self, ids: Sequence[int]) -> dict[int, list[Evidence]]: ...

    def add_evidence(self, evidence: Evidence) -> None: ...

    def judge(self, request_id: str, correct: bool, source: str) -> int: ...

    def mark_bad(self, request_id: str) -> int: ...

    def evict(self, entry_id: int) -> bool: ...

    def clear(self, namespace: str | None) -> int: ...

    def stats(self) -> list[NamespaceStats]: ...

    def count(self, namespace: str | None) -> int: ...

    def entries(self, offset: int, limit: int, namespace: str | None) -> list[CacheEntry]: ...
