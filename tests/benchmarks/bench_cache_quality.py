"""Semantic-cache quality on the labelled pairs: the pair verifier on dev and test.

    .venv/bin/python tests/benchmarks/bench_cache_quality.py [--json] [--ablation]

The split is ``resources/cache_pairs/split.json`` (fixed by source before any tuning):
the **dev** pairs trained the shipped verifier and chose its settings; the **test**
pairs were looked at only to report. For each ``max_error_rate`` it prints the
threshold the verifier serves at, the dev rates (out of fold: each source scored by a
model fitted on the others, as shipped in the model file) and the test rates, then the
test rates per category at the default bound. For comparison, the rules the cache used
before (cosine 0.84 plus the hard-negative guard) on the same test pairs.

``--ablation`` retrains on dev without each feature family and with fewer members,
and prints the out-of-fold hit rate at 1% false hits (takes a few minutes).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from core.cache.minilm import MiniLMEmbedder  # noqa: E402
from core.cache.pair_features import FEATURE_NAMES  # noqa: E402
from core.cache.tune import Pair, load_pairs, tune  # noqa: E402
from core.cache.verifier import PairVerifier, load_model  # noqa: E402
from core.cache.verifier_training import (  # noqa: E402
    Settings,
    operating_curve,
    out_of_fold_scores,
)

BOUNDS = (0.005, 0.01, 0.02, 0.05)
DEFAULT_BOUND = 0.01
PAIRS_DIR = ROOT / "resources" / "cache_pairs"


def load_split() -> tuple[list[Pair], list[Pair]]:
    """(dev, test) pairs as ``split.json`` defines them."""
    split = json.loads((PAIRS_DIR / "split.json").read_text(encoding="utf-8"))
    everything = load_pairs(PAIRS_DIR / "pairs.jsonl")
    dev = [p for p in everything if p.source in split["dev"]]
    for name in split.get("dev_files", []):
        stem = Path(name).stem
        dev += [dataclasses.replace(p, source=p.source or stem) for p in load_pairs(ROOT / name)]
    test = [p for p in everything if p.source in split["test"]]
    return dev, test


def rates(scores: np.ndarray, pairs: list[Pair], threshold: float) -> dict[str, Any]:
    same = np.array([p.same for p in pairs])
    served = scores >= threshold
    return {
        "hits": int((served & same).sum()),
        "paraphrases": int(same.sum()),
        "false_hits": int((served & ~same).sum()),
        "negatives": int((~same).sum()),
        "hit_rate": round(float((served & same).sum() / same.sum()), 4),
        "false_hit_rate": round(float((served & ~same).sum() / (~same).sum()), 4),
    }


def by_category(scores: np.ndarray, pairs: list[Pair], threshold: float) -> dict[str, str]:
    out: dict[str, list[int]] = {}
    for p, s in zip(pairs, scores, strict=True):
        cell = out.setdefault(p.category, [0, 0])
        cell[0] += int(s >= threshold)
        cell[1] += 1
    return {c: f"{n}/{m}" for c, (n, m) in sorted(out.items())}


def ablation(dev: list[Pair], verifier: PairVerifier) -> dict[str, float]:
    x = verifier.rows([(p.a, p.b) for p in dev])
    y = np.array([p.same for p in dev], dtype=np.float64)
    groups = [p.source or "unknown" for p in dev]
    families = {
        "tokens": [
            i for i, n in enumerate(FEATURE_NAMES) if FEATURE_NAMES.index("guard_passes") > i > 0
        ],
        "guard": [i for i, n in enumerate(FEATURE_NAMES) if n.startswith("guard_")],
        "words": list(range(FEATURE_NAMES.index("words_only_in_one"), len(FEATURE_NAMES))),
    }
    runs: dict[str, tuple[list[int], Settings]] = {"all features": ([], Settings())}
    runs |= {f"without {k}": (v, Settings()) for k, v in families.items()}
    runs["one member"] = ([], Settings(members=1))
    out = {}
    for name, (drop, settings) in runs.items():
        keep = [i for i in range(len(FEATURE_NAMES)) if i not in drop]
        oof = out_of_fold_scores(x[:, keep], y, groups, settings)
        curve = operating_curve(oof, y)
        out[name] = max((p.hit_rate for p in curve if p.false_hit_rate <= 0.01), default=0.0)
        print(f"  {name:<18} dev hits at <=1% false hits (out of fold): {out[name]:.1%}")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--ablation", action="store_true", help="retrain without each family")
    args = parser.parse_args()
    started = time.perf_counter()
    dev, test = load_split()
    embedder = MiniLMEmbedder()
    verifier = PairVerifier(embedder, load_model())
    scores = verifier.score_pairs([(p.a, p.b) for p in test])
    out: dict[str, Any] = {"dev_pairs": len(dev), "test_pairs": len(test), "bounds": {}}
    for bound in BOUNDS:
        point = verifier.model.point_for(bound)
        t = verifier.model.threshold_for(bound)
        out["bounds"][str(bound)] = {
            "threshold": t,
            "dev_out_of_fold": None if point is None else dataclasses.asdict(point),
            "test": rates(scores, test, t),
        }
    default = verifier.model.threshold_for(DEFAULT_BOUND)
    out["test_by_category_at_default"] = by_category(scores, test, default)
    old = tune(test, embedder, thresholds=(0.84,), guard=True).rows[0]
    out["rules_0.84_guard_test"] = {"hit_rate": old.hit_rate, "false_hit_rate": old.false_hit_rate}
    if args.ablation:
        out["ablation_dev_hits_at_1pct"] = ablation(dev, verifier)
    out["seconds"] = round(time.perf_counter() - started, 1)
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"dev {len(dev)} pairs (trained on), test {len(test)} pairs (reported)")
    print(f"{'max_error_rate':>14} {'threshold':>9}  {'dev hits':>8} {'dev false':>9}  "
          f"{'test hits':>14} {'test false':>14}")  # fmt: skip
    for bound, row in out["bounds"].items():
        d, t = row["dev_out_of_fold"] or {}, row["test"]
        print(
            f"{float(bound):>14.1%} {row['threshold']:>9.3f}  {d.get('hit_rate', 0):>8.1%}"
            f" {d.get('false_hit_rate', 0):>9.1%}  {t['hit_rate']:>7.1%} ({t['hits']:>3}/"
            f"{t['paraphrases']}) {t['false_hit_rate']:>6.1%} ({t['false_hits']}/{t['negatives']})"
        )
    print(f"rules before the verifier (cosine 0.84 + guard) on test: hits {old.hit_rate:.1%},"
          f" false hits {old.false_hit_rate:.1%}")  # fmt: skip
    print("test, served per category at the default bound:")
    for cat, cell in out["test_by_category_at_default"].items():
        print(f"  {cat:<28} {cell}")
    print(f"{out['seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
