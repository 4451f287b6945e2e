"""On-device embedding latency and VectorIndex lookup cost, as a markdown table.

    . /work/venv/bin/activate
    python tests/benchmarks/bench_embeddings_index.py [--real 20000] [--cache /tmp/emb.npz]

Data (stated plainly, because it decides what the recall numbers mean):

* ``--real`` distinct prompts are generated from templates and word lists
  (``sentences.py``) and embedded with the real MiniLM model.
* Queries are REAL embeddings too: MiniLM embeddings of light paraphrases of stored
  prompts (the cache-hit case) and of held-out prompts that are not stored.
* To reach 100,000 and 1,000,000 entries the real vectors are topped up with
  SYNTHETIC neighbours: a real vector moved part of the way towards another real
  vector plus Gaussian noise, re-normalised. They sit near the real data (dense
  neighbourhoods, which is the hard case for a shortlist) but are not sentences.

Recall@1 is the share of queries whose top id equals an exact float32 scan's.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).parent))

from sentences import paraphrase, sentences

from core.cache.index import VectorIndex
from core.cache.minilm import MiniLMEmbedder

F32 = npt.NDArray[np.float32]
# 20 tokens with [CLS] and [SEP]
PROMPT_20 = (
    "Please summarise the following paragraph about the history of the Roman empire"
    " in two sentences."
)


def _ms(samples: list[float], pct: float) -> float:
    return 1000 * float(np.percentile(samples, pct))


def bench_embedder(emb: MiniLMEmbedder, rows: list[tuple[str, str]]) -> None:
    tokens = emb.count_tokens(PROMPT_20)
    for _ in range(10):
        emb.embed([PROMPT_20])
    times = []
    for _ in range(200):
        t = time.perf_counter()
        emb.embed([PROMPT_20])
        times.append(time.perf_counter() - t)
    rows.append(
        (
            f"embed 1 prompt ({tokens} tokens) p50 / p99",
            f"{_ms(times, 50):.1f} / {_ms(times, 99):.1f} ms",
        )
    )
    batch = sentences(32, seed=99)
    emb.embed(batch)
    times = []
    for _ in range(10):
        t = time.perf_counter()
        emb.embed(batch)
        times.append(time.perf_counter() - t)
    rows.append(
        ("embed batch of 32 prompts, throughput", f"{32 / statistics.median(times):.0f} texts/s")
    )


def prompt_sets(n_real: int) -> dict[str, list[str]]:
    """Stored prompts, paraphrases of 500 of them, and 500 held-out prompts."""
    texts = sentences(n_real + 500, seed=0)
    stored, held = texts[:n_real], texts[n_real:]
    rng = random.Random(7)
    para = [paraphrase(stored[i], rng) for i in rng.sample(range(n_real), 500)]
    return {"stored": stored, "para": para, "held": held}


def real_data(emb: MiniLMEmbedder, n_real: int, cache: Path | None) -> dict[str, F32]:
    """MiniLM embeddings of :func:`prompt_sets`, kept in ``cache`` if given."""
    if cache is not None and cache.exists():
        with np.load(cache) as z:
            if z["stored"].shape[0] == n_real:
                return {k: z[k] for k in z.files}
    t = time.perf_counter()
    data = {k: emb.embed(v) for k, v in prompt_sets(n_real).items()}
    print(f"embedded {n_real + 1000} prompts in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    if cache is not None:
        np.savez(cache, stored=data["stored"], para=data["para"], held=data["held"])
    return data


def synthetic_neighbours(real: F32, n: int, rng: np.random.Generator) -> F32:
    """Real vectors moved towards other real vectors plus noise (see module doc)."""
    out = np.empty((n, real.shape[1]), np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        a = real[rng.integers(0, len(real), m)]
        b = real[rng.integers(0, len(real), m)]
        lam = rng.uniform(0.0, 0.35, (m, 1)).astype(np.float32)
        sigma = rng.uniform(0.05, 0.3, (m, 1)).astype(np.float32)
        noise = rng.standard_normal((m, real.shape[1])).astype(np.float32) / np.sqrt(real.shape[1])
        x = a + lam * (b - a) + sigma * noise
        out[start : start + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def build_index(data: F32, shortlist: int) -> tuple[VectorIndex, int]:
    """The index over ``data`` and the bytes Python allocated for it (tracemalloc)."""
    tracemalloc.start()
    index = VectorIndex(data.shape[1], shortlist=shortlist)
    index.reserve(data.shape[0])
    for start in range(0, data.shape[0], 50_000):
        stop = min(data.shape[0], start + 50_000)
        index.add(range(start, stop), data[start:stop])
    traced = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return index, traced


def time_lookups(index: VectorIndex, queries: F32) -> tuple[list[float], float]:
    """Per-query search times (k=5) and the mean shortlist length."""
    for q in queries[:50]:
        index.search(q, k=5)
    times, shortlisted = [], []
    for q in queries:
        t = time.perf_counter()
        index.search(q, k=5)
        times.append(time.perf_counter() - t)
        shortlisted.append(index.candidates(q).shape[0])
    return times, statistics.mean(shortlisted)


def recall_at_1(index: VectorIndex, data: F32, queries: F32) -> float:
    exact = np.argmax(queries @ data.T, axis=1)
    hits = sum(index.search(q, k=1)[0][0] == int(e) for q, e in zip(queries, exact, strict=True))
    return hits / len(queries)


def bench_index(
    data: F32, queries: dict[str, F32], rows: list[tuple[str, str]], shortlist: int
) -> None:
    n, dim = data.shape
    label = f"{n:,}"
    index, traced = build_index(data, shortlist)
    times, short = time_lookups(index, np.vstack(list(queries.values())))
    p50 = _ms(times, 50)
    read = n * index.encode(data[:1]).nbytes + short * dim * 4
    rows.append((f"lookup at {label}: p50 / p99", f"{p50:.2f} / {_ms(times, 99):.2f} ms"))
    rows.append(
        (
            f"lookup at {label}: bytes read (codes + {short:.0f} shortlisted vectors)",
            f"{read / 1e6:.2f} MB",
        )
    )
    rows.append((f"lookup at {label}: bandwidth at p50", f"{read / (p50 / 1000) / 1e9:.1f} GB/s"))
    for name, qs in queries.items():
        rows.append(
            (f"recall@1 at {label}, {name} ({len(qs)})", f"{recall_at_1(index, data, qs):.4f}")
        )
    t = time.perf_counter()
    for q in queries["held-out prompts"][:20]:
        np.argmax(data @ q)
    rows.append(
        (f"(scale) exact float32 scan at {label}", f"{(time.perf_counter() - t) * 50:.1f} ms")
    )
    rows.append(
        (
            f"memory per entry at {label}: arrays / all Python allocations",
            f"{index.nbytes / n:.0f} / {traced / n:.0f} B",
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real", type=int, default=20_000, help="real prompts to embed")
    ap.add_argument("--cache", type=Path, help="npz file to keep the real embeddings in")
    ap.add_argument("--shortlist", type=int, default=256)
    ap.add_argument("--sizes", default="100000,1000000")
    args = ap.parse_args()
    rows: list[tuple[str, str]] = []
    emb = MiniLMEmbedder()
    bench_embedder(emb, rows)
    real = real_data(emb, args.real, args.cache)
    rng = np.random.default_rng(0)
    queries = {"paraphrases of stored prompts": real["para"], "held-out prompts": real["held"]}
    for size in (int(s) for s in args.sizes.split(",")):
        extra = synthetic_neighbours(real["stored"], max(0, size - args.real), rng)
        bench_index(np.vstack([real["stored"][:size], extra]), queries, rows, args.shortlist)
    print("| measure | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
