"""Choose the similarity threshold from labelled prompt pairs (``centwise cache tune``).

A pairs file is JSON Lines, one object per line::

    {"a": "...", "b": "...", "same": true, "category": "paraphrase"}

``same`` says whether one cached answer serves both prompts. ``category`` groups
the report (``paraphrase``, ``number``, ``direction``, ... and ``unrelated``);
``domain`` and ``note`` are optional. For each threshold :func:`tune` reports the
**paraphrase hit rate** (share of ``same`` pairs that would be served: similarity at
or above the threshold and, with the guard, passing it) and the **false-hit rate**
(share of the other pairs that would be served), overall, for the *hard* negatives
(every category but ``unrelated``) and per category.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.cache.embedder import Embedder
from core.cache.guard import check
from core.errors import InputError

__all__ = [
    "DEFAULT_THRESHOLDS",
    "Pair",
    "ThresholdRow",
    "TuneReport",
    "load_pairs",
    "pair_similarities",
    "parse_pairs",
    "render_table",
    "report_to_json",
    "tune",
    "tune_verifier",
]

DEFAULT_THRESHOLDS = tuple(round(0.70 + 0.02 * i, 2) for i in range(15))  # 0.70 .. 0.98
UNRELATED = "unrelated"
_REQUIRED = {"a": str, "b": str, "same": bool}
_OPTIONAL = {"category": str, "domain": str, "note": str, "source": str}


@dataclass(frozen=True, slots=True)
class Pair:
    a: str
    b: str
    same: bool
    category: str
    domain: str | None = None
    line: int = 0
    source: str | None = None


@dataclass(frozen=True, slots=True)
class ThresholdRow:
    """What serving at ``threshold`` would do on the pairs."""

    threshold: float
    hits: int  # same-pairs served
    paraphrases: int
    false_hits: int  # other pairs served
    negatives: int
    hard_false_hits: int
    hard_negatives: int
    by_category: dict[str, tuple[int, int]]  # category -> (served, pairs)

    @property
    def hit_rate(self) -> float:
        return self.hits / self.paraphrases if self.paraphrases else 0.0

    @property
    def false_hit_rate(self) -> float:
        return self.false_hits / self.negatives if self.negatives else 0.0

    @property
    def hard_false_hit_rate(self) -> float:
        return self.hard_false_hits / self.hard_negatives if self.hard_negatives else 0.0


@dataclass(frozen=True, slots=True)
class TuneReport:
    guard: bool
    pairs: int
    rows: list[ThresholdRow]
    max_hard_false_hit_rate: float
    recommended: float | None  # best hit rate within the false-hit budget
    guard_rejections: dict[str, int] = field(default_factory=dict)  # category -> pairs
    #: "cosine" (thresholds on similarity, rules mode) or "verifier" (on its score)
    scale: str = "cosine"
    chosen: float | None = None  # the threshold the current settings serve at


def _fail(source: str, line: int, message: str) -> InputError:
    return InputError(f"{source}:{line}: {message}")


def _parse_line(text: str, source: str, line: int) -> Pair:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise _fail(source, line, f"not valid JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(obj, dict):
        raise _fail(source, line, f"expected a JSON object, got {type(obj).__name__}")
    for key, kind in _REQUIRED.items():
        if key not in obj:
            raise _fail(source, line, f"missing key {key!r}")
        if not isinstance(obj[key], kind):
            want = "true or false" if kind is bool else "a string"
            raise _fail(source, line, f"{key!r} must be {want}, got {obj[key]!r}")
    for key, value in obj.items():
        if key not in _REQUIRED and key not in _OPTIONAL:
            raise _fail(source, line, f"unknown key {key!r}")
        if key in _OPTIONAL and not isinstance(value, str):
            raise _fail(source, line, f"{key!r} must be a string, got {value!r}")
    # Without a category, a pair is a paraphrase or a (hard) negative by its label.
    obj.setdefault("category", "paraphrase" if obj["same"] else "negative")
    for key in ("a", "b", "category"):
        if not obj[key].strip():
            raise _fail(source, line, f"{key!r} is empty")
    return Pair(
        obj["a"],
        obj["b"],
        obj["same"],
        obj["category"],
        obj.get("domain"),
        line,
        obj.get("source"),
    )


def parse_pairs(text: str, source: str = "<pairs>") -> list[Pair]:
    """Parse JSON Lines text; blank lines are skipped; errors name the line."""
    pairs = [
        _parse_line(raw, source, n)
        for n, raw in enumerate(text.splitlines(), start=1)
        if raw.strip()
    ]
    if not pairs:
        raise InputError(f"{source}: no pairs found")
    return pairs


def load_pairs(path: Path | str) -> list[Pair]:
    """Read and validate a pairs file; :class:`~core.errors.InputError` says what is wrong."""
    try:
        raw = Path(path).read_bytes()
    except OSError as e:
        raise InputError(f"{path}: cannot read pairs file: {e.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise InputError(f"{path}:{line}: not UTF-8 text (bad byte at offset {e.start})") from None
    return parse_pairs(text.removeprefix("\ufeff"), str(path))


def pair_similarities(pairs: Sequence[Pair], embedder: Embedder) -> list[float]:
    """Cosine similarity of each pair (every distinct text embedded once)."""
    texts = sorted({t for p in pairs for t in (p.a, p.b)})
    if not texts:
        return []
    row = {t: i for i, t in enumerate(texts)}
    vecs = np.asarray(embedder.embed(texts), dtype=np.float32)
    return [float(vecs[row[p.a]] @ vecs[row[p.b]]) for p in pairs]


def tune(
    pairs: Sequence[Pair],
    embedder: Embedder,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    guard: bool = True,
    *,
    max_hard_false_hit_rate: float = 0.02,
    similarities: Sequence[float] | None = None,
) -> TuneReport:
    """Serve-or-not for every pair at every threshold (``similarities`` skips embedding)."""
    sims = list(similarities) if similarities is not None else pair_similarities(pairs, embedder)
    if len(sims) != len(pairs):
        raise ValueError(f"{len(sims)} similarities for {len(pairs)} pairs")
    passes = [check(p.a, p.b).ok if guard else True for p in pairs]
    rejected: dict[str, int] = {}
    for p, ok in zip(pairs, passes, strict=True):
        if not ok:
            rejected[p.category] = rejected.get(p.category, 0) + 1
    rows = [_row(t, pairs, sims, passes) for t in sorted(thresholds)]
    within = [r for r in rows if r.hard_false_hit_rate <= max_hard_false_hit_rate]
    best = max(within, key=lambda r: (r.hit_rate, r.threshold), default=None)
    return TuneReport(
        guard=guard,
        pairs=len(pairs),
        rows=rows,
        max_hard_false_hit_rate=max_hard_false_hit_rate,
        recommended=None if best is None else best.threshold,
        guard_rejections=dict(sorted(rejected.items())),
    )


VERIFIER_THRESHOLDS = tuple(round(0.50 + 0.01 * i, 2) for i in range(50))  # 0.50 .. 0.99


def tune_verifier(
    pairs: Sequence[Pair],
    scores: Sequence[float],
    *,
    max_error_rate: float,
    chosen: float,
    thresholds: Sequence[float] = VERIFIER_THRESHOLDS,
) -> TuneReport:
    """The hit-rate / false-hit curve of the pair verifier's ``scores`` on ``pairs``,
    with the threshold the settings serve at (``chosen``) and the best one within
    ``max_error_rate`` on these pairs (``recommended``)."""
    if len(scores) != len(pairs):
        raise ValueError(f"{len(scores)} scores for {len(pairs)} pairs")
    grid = sorted({*thresholds, round(chosen, 4)})
    passes = [True] * len(pairs)
    rows = [_row(t, pairs, list(scores), passes) for t in grid]
    within = [r for r in rows if r.hard_false_hit_rate <= max_error_rate]
    best = max(within, key=lambda r: (r.hit_rate, -r.threshold), default=None)
    return TuneReport(
        guard=True,
        pairs=len(pairs),
        rows=rows,
        max_hard_false_hit_rate=max_error_rate,
        recommended=None if best is None else best.threshold,
        scale="verifier",
        chosen=chosen,
    )


def _row(t: float, pairs: Sequence[Pair], sims: list[float], passes: list[bool]) -> ThresholdRow:
    counts = {"hits": 0, "par": 0, "fh": 0, "neg": 0, "hfh": 0, "hneg": 0}
    by_cat: dict[str, list[int]] = {}
    for p, sim, ok in zip(pairs, sims, passes, strict=True):
        served = ok and sim >= t
        cat = by_cat.setdefault(p.category, [0, 0])
        cat[0] += served
        cat[1] += 1
        if p.same:
            counts["hits"] += served
            counts["par"] += 1
            continue
        counts["fh"] += served
        counts["neg"] += 1
        if p.category != UNRELATED:
            counts["hfh"] += served
            counts["hneg"] += 1
    return ThresholdRow(
        threshold=t,
        hits=counts["hits"],
        paraphrases=counts["par"],
        false_hits=counts["fh"],
        negatives=counts["neg"],
        hard_false_hits=counts["hfh"],
        hard_negatives=counts["hneg"],
        by_category={k: (v[0], v[1]) for k, v in sorted(by_cat.items())},
    )


def report_to_json(report: TuneReport) -> dict[str, Any]:
    """A JSON-able dict for ``centwise cache tune --json``."""
    return {
        "scale": report.scale,
        "chosen_threshold": report.chosen,
        "guard": report.guard,
        "pairs": report.pairs,
        "max_hard_false_hit_rate": report.max_hard_false_hit_rate,
        "recommended_threshold": report.recommended,
        "guard_rejections": report.guard_rejections,
        "thresholds": [
            {
                "threshold": r.threshold,
                "paraphrase_hit_rate": round(r.hit_rate, 4),
                "false_hit_rate": round(r.false_hit_rate, 4),
                "hard_false_hit_rate": round(r.hard_false_hit_rate, 4),
                "hits": r.hits,
                "paraphrases": r.paraphrases,
                "false_hits": r.false_hits,
                "negatives": r.negatives,
                "hard_false_hits": r.hard_false_hits,
                "hard_negatives": r.hard_negatives,
                "by_category": {
                    c: {"served": s, "pairs": n, "rate": round(s / n, 4)}
                    for c, (s, n) in r.by_category.items()
                },
            }
            for r in report.rows
        ],
    }


def render_table(report: TuneReport, *, categories: bool = True) -> str:
    """A plain-text table: one line per threshold, then served/pairs per category."""
    cats = sorted({c for r in report.rows for c in r.by_category})
    head = f"{'thresh':>6}  {'hit rate':>8}  {'false hits':>10}  {'hard false':>10}"
    if categories:
        head += "  " + "  ".join(f"{c[:10]:>10}" for c in cats)
    if report.scale == "verifier":
        title = f"pair verifier scores, {report.pairs} pairs"
    else:
        title = f"cosine similarity, guard: {'on' if report.guard else 'off'}, {report.pairs} pairs"
    lines = [title, head]
    for r in report.rows:
        line = (
            f"{r.threshold:>6.3f}  {r.hit_rate:>8.1%}  {r.false_hit_rate:>10.1%}"
            f"  {r.hard_false_hit_rate:>10.1%}"
        )
        if categories:
            cells = (r.by_category.get(c, (0, 0)) for c in cats)
            line += "  " + "  ".join(f"{f'{s}/{n}':>10}" for s, n in cells)
        lines.append(line)
    budget = f"hard false-hit rate <= {report.max_hard_false_hit_rate:.1%}"
    if report.chosen is not None:
        now = next(r for r in report.rows if r.threshold == round(report.chosen, 4))
        lines.append(
            f"current settings serve at {report.chosen:.3f}: hit rate {now.hit_rate:.1%},"
            f" false hits {now.false_hit_rate:.1%} on these pairs"
        )
    if report.recommended is None:
        lines.append(f"recommended: none of these thresholds keeps the {budget}")
    else:
        lines.append(f"recommended: {report.recommended:.2f} (best hit rate with {budget})")
    return "\n".join(lines)
