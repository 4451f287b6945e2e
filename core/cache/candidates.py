"""Deciding on the cached prompts a lookup found near the query.

:func:`verify_candidates` scores each with the learned pair verifier against its
entry's own threshold (:mod:`core.cache.evidence`); those that fall short but score at
least the grey-zone floor may still be put to the yes/no verifier. Without the pair
verifier (``[cache] verifier = "rules"``), :func:`guard_candidates` lets the rule guard
decide alone. Every refusal is kept with its reasons.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from core.cache.entries import CacheEntry, CacheHit, LookupResult, Rejection
from core.cache.evidence import EntryThreshold
from core.cache.guard import GuardVerdict
from core.cache.verifier import PairVerifier

__all__ = ["Candidate", "Found", "Guard", "guard_candidates", "verify_candidates"]

Guard = Callable[[str, str], GuardVerdict]


@dataclass(frozen=True, slots=True)
class Candidate:
    """A cached entry near the query: its cosine and, when it ran, the verifier's score."""

    entry: CacheEntry
    similarity: float
    score: float | None = None

    def hit(self, outcome: Literal["exact", "semantic"]) -> CacheHit:
        return CacheHit.from_entry(self.entry, self.similarity, outcome, self.score)


@dataclass(slots=True)
class Found:
    """Candidates to serve (best first) and those in the verifier's grey zone."""

    passing: list[Candidate] = field(default_factory=list)
    grey: list[Candidate] = field(default_factory=list)


def guard_candidates(
    prompt: str, eligible: list[tuple[CacheEntry, float]], guard: Guard, result: LookupResult
) -> Found:
    """The rule guard alone: a candidate passes when no category differs."""
    found = Found()
    for entry, sim in eligible:
        verdict = guard(prompt, entry.prompt)
        if verdict.ok:
            found.passing.append(Candidate(entry, sim))
        else:
            reasons = tuple(verdict.reasons)
            result.rejections.append(Rejection(entry.id, entry.prompt, sim, reasons))
    return found


def verify_candidates(
    prompt: str,
    eligible: list[tuple[CacheEntry, float]],
    verifier: PairVerifier,
    limits: dict[int, EntryThreshold],
    grey_floor: float,
    result: LookupResult,
) -> Found:
    """The pair verifier: a candidate passes when its score reaches its entry's threshold."""
    found = Found()
    scores = verifier.score(prompt, [e.prompt for e, _ in eligible])
    for (entry, sim), scored in zip(eligible, scores, strict=True):
        limit = limits[entry.id]
        candidate = Candidate(entry, sim, scored.score)
        if scored.score >= limit.threshold:
            found.passing.append(candidate)
            continue
        if scored.score >= grey_floor:
            found.grey.append(candidate)
        why = f"verifier: score {scored.score:.3f} below {limit.threshold:.3f}"
        if limit.reason != "shared":
            why += f" ({limit.reason})"
        reasons = (why, *scored.guard_reasons)
        result.rejections.append(
            Rejection(entry.id, entry.prompt, sim, reasons, score=scored.score)
        )
    found.passing.sort(key=lambda c: -(c.score or 0.0))
    found.grey.sort(key=lambda c: -(c.score or 0.0))
    return found
