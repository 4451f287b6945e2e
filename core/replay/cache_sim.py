"""The semantic cache re-run in time order under another ``[cache]`` section.

It follows :class:`core.cache.store.SemanticCache` decision for decision, in memory:
exact normalised text first, then cosine similarity within the namespace at or above
the threshold, the hard-negative guard on the best few candidates, the tier floor (an
entry serves only requests of its tier or lower), the TTL, ``max_entries`` (least
recently used out first), and the same prompt answered again replacing its entry.

Entries live in creation order per namespace, so with a TTL only the live tail is
scanned (one float32 matrix-vector product per request). What it cannot know is said
in the report: the temperature of past requests (all are taken as cacheable) and the
earlier turns of a conversation (a turn after the first has a namespace of its own,
so it neither hits nor serves).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np

from core.cache.entries import normalize_prompt, why_not_storable
from core.cache.guard import GuardVerdict, check
from core.config import CacheConfig
from core.replay.reprice import Line

__all__ = ["CacheSimulation", "simulate_cache"]

Guard = Callable[[str, str], GuardVerdict]
_MAX_CANDIDATES = 3  # as SemanticCache
_SHORTLIST = 8 * _MAX_CANDIDATES + 8


@dataclass(slots=True)
class _Entry:
    row: int
    prompt: str
    created: float
    tier_rank: int
    alive: bool = True


@dataclass(slots=True)
class _Space:
    """One namespace: entries and their vectors in creation order."""

    entries: list[_Entry] = field(default_factory=list)
    matrix: np.ndarray | None = None
    alive: np.ndarray | None = None
    start: int = 0  # every entry before this has expired
    exact: dict[str, list[_Entry]] = field(default_factory=dict)

    def add(self, entry: _Entry, vec: np.ndarray) -> None:
        n = len(self.entries)
        if self.matrix is None or n == self.matrix.shape[0]:
            cap = max(64, 2 * n)
            grown = np.zeros((cap, vec.shape[0]), dtype=np.float32)
            alive = np.zeros(cap, dtype=bool)
            if self.matrix is not None and self.alive is not None:
                grown[:n], alive[:n] = self.matrix[:n], self.alive[:n]
            self.matrix, self.alive = grown, alive
        assert self.alive is not None
        self.matrix[n] = vec
        self.alive[n] = True
        self.entries.append(entry)

    def kill(self, entry: _Entry) -> None:
        entry.alive = False
        if self.alive is not None:
            self.alive[entry.row] = False


@dataclass(slots=True)
class CacheSimulation:
    """What the re-run cache did."""

    exact_hits: int = 0
    semantic_hits: int = 0
    guard_rejections: int = 0
    stored: int = 0
    without_vector: int = 0


def simulate_cache(
    lines: list[Line],
    cfg: CacheConfig,
    vectors: Mapping[str, np.ndarray],
    guard: Guard = check,
) -> CacheSimulation:
    """Set each replayed line's ``cache_outcome`` and ``final`` cost, in time order."""
    sim = CacheSimulation()
    spaces: dict[str, _Space] = {}
    lru: OrderedDict[int, tuple[_Space, _Entry]] = OrderedDict()
    ttl = float(cfg.ttl_seconds)
    for line in lines:
        rec = line.record
        line.final, line.cache_outcome = line.after_context, rec.cache_outcome
        if not line.replayed:
            continue
        line.final, line.cache_outcome = line.miss_cost, "miss"
        if not cfg.enabled:
            continue
        now = rec.started_at
        if line.depth > 0:
            continue  # its namespace holds its own earlier turns: nothing to share
        # Without earlier turns a namespace is the system prompt (namespace_for).
        space = spaces.setdefault((rec.system or "").strip(), _Space())
        _expire(space, now - ttl)
        vec = vectors.get(rec.request_id)
        if vec is None:
            sim.without_vector += 1
        normalized = normalize_prompt(rec.prompt)
        outcome = _lookup(space, rec.prompt, normalized, vec, line.tier_rank, now - ttl, cfg,
                          guard, sim)  # fmt: skip
        if outcome is not None:
            kind, entry = outcome
            line.cache_outcome, line.final = kind, Decimal(0)
            lru.move_to_end(id(entry))
            continue
        if why_not_storable(rec.status, rec.finish_reason, rec.response) or vec is None:
            continue
        _replace_same_prompt(space, normalized, line.tier_rank, lru)
        entry = _Entry(len(space.entries), rec.prompt, now, line.tier_rank)
        space.add(entry, vec)
        space.exact.setdefault(normalized, []).append(entry)
        lru[id(entry)] = (space, entry)
        sim.stored += 1
        while len(lru) > cfg.max_entries:
            _, (old_space, old) = lru.popitem(last=False)
            old_space.kill(old)
    return sim


def _expire(space: _Space, cutoff: float) -> None:
    """Move past entries created at or before ``cutoff`` (created + ttl <= now)."""
    entries = space.entries
    while space.start < len(entries) and entries[space.start].created <= cutoff:
        space.kill(entries[space.start])
        space.start += 1


def _replace_same_prompt(
    space: _Space, normalized: str, rank: int, lru: OrderedDict[int, tuple[_Space, _Entry]]
) -> None:
    same = space.exact.get(normalized)
    if not same:
        return
    for old in same:
        if old.alive and old.tier_rank <= rank:
            space.kill(old)
            lru.pop(id(old), None)
    space.exact[normalized] = [e for e in same if e.alive]


def _lookup(
    space: _Space,
    prompt: str,
    normalized: str,
    vec: np.ndarray | None,
    rank: int,
    cutoff: float,
    cfg: CacheConfig,
    guard: Guard,
    sim: CacheSimulation,
) -> tuple[str, _Entry] | None:
    exact = [
        e
        for e in space.exact.get(normalized, ())
        if e.alive and e.created > cutoff and e.tier_rank >= rank
    ]
    if exact:
        sim.exact_hits += 1
        return "exact", max(exact, key=lambda e: (e.tier_rank, e.row))
    n = len(space.entries)
    if vec is None or space.matrix is None or space.alive is None or space.start >= n:
        return None
    sims = space.matrix[space.start : n] @ vec
    # Only candidates at or above the threshold matter, best first (as the index's
    # shortlist re-ranked exactly); dead entries are masked out.
    above = np.flatnonzero((sims >= cfg.similarity_threshold) & space.alive[space.start : n])
    if above.shape[0] == 0:
        return None
    best = above[np.argsort(-sims[above], kind="stable")][:_SHORTLIST]
    seen = 0
    for i in best:
        entry = space.entries[space.start + int(i)]
        if entry.tier_rank < rank:
            continue
        seen += 1
        if guard(prompt, entry.prompt).ok:
            sim.semantic_hits += 1
            return "semantic", entry
        sim.guard_rejections += 1
        if seen >= _MAX_CANDIDATES:
            break
    return None
