"""Per-entry thresholds, learned from what each cached answer has been seen to do.

Every time an entry's answer is served for another prompt, or put to the yes/no
verifier, the cache files a piece of **evidence**: the verifier's score for that pair,
and whether serving was right (``correct`` 1), wrong (0) or not yet known (NULL, until
the user votes or a judge samples the answer). The entry's threshold follows from its
evidence and the user's bound on wrong answers, ``[cache] max_error_rate`` (δ):

* **Raising.** A wrong serve at score *s* lifts the entry's threshold above *s*: that
  answer is never again served to a pair that scores no better than the one that went
  wrong.
* **Lowering.** Below the shared threshold, the entry may serve at score *s* once
  ``n >= 3 / δ`` pairs scoring *s* or more were seen to be right and none wrong: zero
  errors in ``n`` trials bound the error rate by ``3 / n`` with 95% confidence (the
  rule of three), so the bound δ holds for that entry.

An entry without evidence uses the shared threshold from the verifier's curve.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "RAISE_STEP",
    "EntryThreshold",
    "Evidence",
    "add_evidence",
    "entry_threshold",
    "evidence_for",
    "judge_served",
]

RAISE_STEP = 0.01  # a wrong serve at s lifts the threshold to s + this
SOURCES = ("served", "verifier", "feedback", "judge")


@dataclass(frozen=True, slots=True)
class Evidence:
    """One observation about serving an entry's answer to another prompt."""

    entry_id: int
    request_id: str | None
    at: float
    score: float
    correct: bool | None  # None: served, outcome not known yet
    source: str  # served (awaiting a verdict), verifier, feedback, judge


@dataclass(frozen=True, slots=True)
class EntryThreshold:
    """An entry's threshold and why."""

    threshold: float
    shared: float  # the threshold every entry starts from
    right: int
    wrong: int
    reason: str


def entry_threshold(
    evidence: Sequence[Evidence], shared: float, max_error_rate: float
) -> EntryThreshold:
    """The threshold of one entry from its evidence (see the module docstring)."""
    right = sorted((e.score for e in evidence if e.correct is True), reverse=True)
    wrong = [e.score for e in evidence if e.correct is False]
    floor = max(wrong, default=-math.inf) + RAISE_STEP
    if floor > shared:
        reason = f"raised: served wrongly at {max(wrong):.3f}"
        return EntryThreshold(floor, shared, len(right), len(wrong), reason)
    needed = math.ceil(3 / max_error_rate)
    if len(right) >= needed:
        lowest = right[needed - 1]  # the needed-th best right score
        if floor <= lowest < shared:
            reason = f"lowered: {needed} right serves at {lowest:.3f} or more, none wrong"
            return EntryThreshold(lowest, shared, len(right), len(wrong), reason)
    return EntryThreshold(shared, shared, len(right), len(wrong), "shared")


def add_evidence(conn: sqlite3.Connection, ev: Evidence) -> None:
    """File one observation (the caller holds the write transaction)."""
    conn.execute(
        "INSERT INTO cache_evidence (entry_id, request_id, at, score, correct, source)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (
            ev.entry_id,
            ev.request_id,
            ev.at,
            ev.score,
            None if ev.correct is None else int(ev.correct),
            ev.source,
        ),
    )


def judge_served(conn: sqlite3.Connection, request_id: str, correct: bool, source: str) -> int:
    """A verdict (a vote, a judge) on the request that a cached answer was served to:
    the served evidence becomes right or wrong. Returns how many rows it settled."""
    cur = conn.execute(
        "UPDATE cache_evidence SET correct = ?, source = ? WHERE request_id = ?"
        " AND source IN ('served', 'verifier', 'feedback', 'judge')",
        (int(correct), source, request_id),
    )
    return cur.rowcount


def evidence_for(conn: sqlite3.Connection, ids: Iterable[int]) -> dict[int, list[Evidence]]:
    """Every observation about the entries ``ids``, grouped by entry."""
    wanted = list(ids)
    out: dict[int, list[Evidence]] = {i: [] for i in wanted}
    if not wanted:
        return out
    rows = conn.execute(
        "SELECT entry_id, request_id, at, score, correct, source FROM cache_evidence"
        " WHERE entry_id IN (SELECT value FROM json_each(?)) ORDER BY at",
        (f"[{','.join(str(int(i)) for i in wanted)}]",),
    ).fetchall()
    for eid, rid, at, score, correct, source in rows:
        out[int(eid)].append(
            Evidence(
                int(eid),
                rid,
                float(at),
                float(score),
                None if correct is None else bool(correct),
                str(source),
            )
        )
    return out
