"""Semantic-cache quality on labelled pairs, with the real all-MiniLM-L6-v2 model.

    . /work/venv/bin/activate
    python tests/benchmarks/bench_cache_quality.py [PAIRS.jsonl] [--json]

For every threshold 0.70 .. 0.98 it prints the paraphrase hit rate and the false-hit
rate (all negatives, and hard negatives = every category but ``unrelated``), with and
without the hard-negative guard, separately on the dev split and on the held-out split
(about 30% of pairs, chosen by a hash of the pair's text: ``core.cache.tune.is_held_out``).
The threshold is chosen on the dev split; the held-out numbers show whether it holds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from core.cache.minilm import MiniLMEmbedder  # noqa: E402
from core.cache.tune import (  # noqa: E402
    load_pairs,
    pair_similarities,
    render_table,
    report_to_json,
    split_pairs,
    tune,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pairs", nargs="?", default=str(ROOT / "resources/cache_pairs_dev.jsonl"))
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()

    pairs = load_pairs(args.pairs)
    dev, held = split_pairs(pairs)
    started = time.perf_counter()
    embedder = MiniLMEmbedder()
    out: dict[str, dict[str, object]] = {}
    for split, subset in (("dev", dev), ("held_out", held), ("all", pairs)):
        sims = pair_similarities(subset, embedder)
        for guard in (False, True):
            report = tune(subset, embedder, guard=guard, similarities=sims)
            key = f"guard_{'on' if guard else 'off'}"
            out.setdefault(split, {})[key] = report_to_json(report)
            if not args.json:
                print(f"\n## {split} ({len(subset)} pairs), guard {'on' if guard else 'off'}\n")
                print(render_table(report, categories=split == "dev"))
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"\n{len(pairs)} pairs, {time.perf_counter() - started:.1f}s with {embedder.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
