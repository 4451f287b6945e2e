"""Expected quality retention of the other routing, from the quality data on record.

Each tier's quality is the mean of its judged scores (``quality_samples``), or, with
no judged sample at all, its share of thumbs up (``feedback``). Retention is the mean
expected quality of the replayed requests on their new tiers over that on their
recorded tiers. Its uncertainty is a 95% percentile bootstrap: every tier's samples
are resampled with replacement (1,000 rounds, fixed seed, so a report is repeatable).
The figure assumes a tier's quality does not depend on which prompts it gets, which
re-routing changes: read it as a guide, not a measurement.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from core.errors import LedgerError, StorageUnavailableError

if TYPE_CHECKING:
    from core.ledger.store import Ledger

__all__ = ["QualityEstimate", "estimate_retention", "load_quality_samples"]

_ROUNDS = 1000


@dataclass(frozen=True, slots=True)
class QualityEstimate:
    basis: str  # judge | feedback
    retention: float
    low: float  # 95% interval
    high: float
    samples: dict[str, int]


def load_quality_samples(ledger: Ledger) -> tuple[str, dict[str, list[float]]] | None:
    """Per tier, judged scores (1-10), else thumbs (1 up, 0 down), oldest first (the
    bootstrap draws depend on the order); None if neither, or if the tables cannot be
    read (a replay then reports no quality; an unreachable shared database is still an
    error)."""
    try:
        with ledger.reading() as conn:
            scores = conn.execute(
                "SELECT tier, score FROM quality_samples"
                " WHERE score IS NOT NULL AND tier IS NOT NULL ORDER BY at, request_id"
            ).fetchall()
            thumbs = conn.execute(
                "SELECT tier, verdict FROM feedback WHERE tier IS NOT NULL ORDER BY at, request_id"
            ).fetchall()
    except StorageUnavailableError:
        raise
    except LedgerError:
        return None
    judged: dict[str, list[float]] = {}
    for tier, score in scores:
        judged.setdefault(str(tier), []).append(float(score))
    if judged:
        return "judge", judged
    votes: dict[str, list[float]] = {}
    for tier, verdict in thumbs:
        votes.setdefault(str(tier), []).append(1.0 if verdict == "up" else 0.0)
    return ("feedback", votes) if votes else None


def estimate_retention(
    basis: str,
    samples: dict[str, list[float]],
    before: Counter[str],
    after: Counter[str],
) -> tuple[QualityEstimate | None, str | None]:
    """Retention of ``after`` (tier -> requests) against ``before``, or why not."""
    used = sorted(t for t in set(before) | set(after) if before[t] or after[t])
    missing = [t for t in used if not samples.get(t)]
    if not used:
        return None, "no routed request to compare"
    if missing:
        return None, f"no {basis} data for tier(s) {', '.join(missing)}"
    arrays = {t: np.asarray(samples[t], dtype=np.float64) for t in used}
    n_before = np.array([before[t] for t in used], dtype=np.float64)
    n_after = np.array([after[t] for t in used], dtype=np.float64)

    def ratio(means: np.ndarray) -> float:
        denominator = float(n_before @ means)
        return float(n_after @ means) / denominator if denominator > 0 else float("nan")

    point = ratio(np.array([arrays[t].mean() for t in used]))
    rng = np.random.default_rng(0)
    boot = np.empty(_ROUNDS)
    for r in range(_ROUNDS):
        means = np.array([rng.choice(arrays[t], arrays[t].shape[0]).mean() for t in used])
        boot[r] = ratio(means)
    low, high = np.nanpercentile(boot, [2.5, 97.5])
    sizes = {t: int(arrays[t].shape[0]) for t in used}
    return QualityEstimate(basis, point, float(low), float(high), sizes), None
