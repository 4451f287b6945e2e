"""A cache hit end to end: embed the prompt, look it up, stream the answer, record it.

    python tests/benchmarks/bench_cache_hit.py [--entries 2000] [--hits 200]

The cache is filled with real answers (the instant Simulator) to ``--entries``
prompts, then paraphrased re-asks are timed through ``Engine.ask`` (semantic hits)
along with verbatim re-asks (exact hits, which still embed for the lookup).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from core.config import parse_config
from core.engine import Engine

CONFIG = """
[providers.simulator]
kind = "simulator"
latency_scale = 0
"""

TOPICS = [
    "a list",
    "a string",
    "a dictionary",
    "a tuple",
    "a set",
    "a file",
    "a JSON document",
    "a CSV file",
    "a date",
    "a URL",
    "an array",
    "a queue",
    "a stack",
    "a heap",
    "a graph",
]
ACTIONS = [
    "reverse",
    "sort",
    "copy",
    "serialise",
    "validate",
    "compress",
    "merge",
    "split",
    "encrypt",
    "search",
    "parse",
    "print",
    "hash",
    "compare",
    "deduplicate",
]
LANGS = ["Python", "Rust", "Go", "Java", "Kotlin", "Ruby", "C#", "Swift", "Elixir", "Haskell"]


def prompts(n: int) -> list[tuple[str, str]]:
    out = []
    for lang in LANGS:
        for action in ACTIONS:
            for topic in TOPICS:
                out.append(
                    (
                        f"How do I {action} {topic} in {lang}?",
                        f"What is the way to {action} {topic} in {lang}?",
                    )
                )
    return out[:n]


def pct(times: list[float], q: float) -> float:
    s = sorted(times)
    return s[min(len(s) - 1, int(q * len(s)))]


async def run(entries: int, hits: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine.open(parse_config(CONFIG), Path(tmp))
        pairs = prompts(entries)
        for original, _ in pairs:
            await engine.ask(original, model="fast").collect()
        semantic, exact, outcomes = [], [], {}
        for original, paraphrase in pairs[:hits]:
            t0 = time.perf_counter()
            rec = await engine.ask(paraphrase, model="fast").collect()
            semantic.append((time.perf_counter() - t0) * 1000)
            outcomes[rec.cache_outcome] = outcomes.get(rec.cache_outcome, 0) + 1
            t0 = time.perf_counter()
            await engine.ask(original, model="fast").collect()
            exact.append((time.perf_counter() - t0) * 1000)
        await engine.aclose()
    print(f"{len(pairs)} cached entries; paraphrase outcomes: {outcomes}")
    print("| request | p50 ms | p90 ms | p99 ms |\n|---|---|---|---|")
    for name, t in (("paraphrased re-ask", semantic), ("verbatim re-ask", exact)):
        print(f"| {name} | {pct(t, 0.5):.2f} | {pct(t, 0.9):.2f} | {pct(t, 0.99):.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=1500)
    parser.add_argument("--hits", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(run(args.entries, args.hits))


if __name__ == "__main__":
    main()
