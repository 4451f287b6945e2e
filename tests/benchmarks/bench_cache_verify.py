"""Semantic-cache lookup with the learned pair verifier at 100,000 entries, per query.

    .venv/bin/python tests/benchmarks/bench_cache_verify.py [--entries 100000] [--queries 200]
        [--real 3000] [--profile] [--json]

Times what a request pays before it is served from the cache or sent on: embedding
its 20-token prompt with MiniLM (``MiniLMEmbedder.embed``), then
``SemanticCache.lookup_detailed`` - exact match, vector index search over the whole
namespace, the candidate rows from SQLite, and up to ``max_candidates`` (3) of them
scored by the learned ``PairVerifier`` (MiniLM token states of the query and the
candidates, pair features, the rule guard, the shipped model), plus recording a hit.
The same is timed with the verifier off (rule guard only) for comparison. Each mode
gets its own cache object over the same file, one after the other, and its own
distinct queries (the guard keeps an LRU cache of prompt features, so a query asked
twice would be cheaper the second time).

Data (stated plainly, because it decides what the figures mean):

* Entry texts are generated prompts (``sentences.py``), each also with a few short
  suffixes ("Keep it short.") to reach ``--entries`` distinct prompts, all in one
  namespace, with short canned answers.
* ``--real`` of them are stored with their REAL MiniLM embeddings. Embedding 100,000
  prompts in numpy takes 10-40 minutes on 2 cores, so every other entry gets a SYNTHETIC
  vector: a random real vector rotated away by a random angle (cosine 0.25-0.85 to it),
  so the index has dense neighbourhoods around the real data.
* Queries are light paraphrases (``sentences.paraphrase``) of stored real prompts,
  exactly 20 tokens with [CLS] and [SEP], never equal to a stored prompt after
  normalisation. The generated prompts share templates, so most queries find at least
  three entries above the 0.75 cosine floor: most lookups verify the full
  ``max_candidates``, the expensive case. The table says how many were scored.
* The cache is filled with ``SemanticCache.store``, one entry at a time, and the
  build time is reported.

The whole run takes about 1.5 minutes on a quiet 2-core machine. ``--profile`` adds
100 more verifier-on queries under cProfile and prints the top functions to stderr.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import os
import platform
import pstats
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).parent))

from sentences import paraphrase, sentences

from core.cache.entries import normalize_prompt
from core.cache.guard import GuardVerdict, check
from core.cache.minilm import MiniLMEmbedder, TokenStates
from core.cache.store import SemanticCache
from core.cache.verifier import PairScore, PairVerifier
from core.types import Usage

F32 = npt.NDArray[np.float32]
NAMESPACE = "bench"
QUERY_TOKENS = 20  # with [CLS] and [SEP], as the "20-token embedding"
MAX_BASE = 25_000  # distinct prompts sentences() can make quickly
SUFFIXES = (
    "",
    " Keep it short.",
    " Use bullet points.",
    " Explain your reasoning.",
    " Answer in one paragraph.",
    " Give an example.",
    " Be precise.",
    " Thanks in advance.",
)
ANSWERS = (
    "Here is a short overview. First, the key idea: {t}. Second, the usual pitfalls,"
    " and how to avoid them. Third, a worked example you can adapt.",
    "Sure. In brief: start with the basics of {t}, then build up step by step."
    " I have listed three practical tips below, with one common mistake each.",
    "Good question. The short answer is that it depends on your goal, but for most"
    " people asking about {t} the following plan works well.",
)
WARMUP = 20
BLAS_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


# -- instrumented parts (public APIs only) ---------------------------------------------


class TimedMiniLM(MiniLMEmbedder):
    """MiniLM that adds up the time spent in :meth:`token_states` (the verifier's pass)."""

    def __init__(self) -> None:
        super().__init__()
        self.token_seconds = 0.0

    def token_states(self, texts: Sequence[str]) -> list[TokenStates]:
        t = time.perf_counter()
        try:
            return super().token_states(texts)
        finally:
            self.token_seconds += time.perf_counter() - t


class TimedVerifier(PairVerifier):
    """The shipped pair verifier, counting the candidates it scores and its time."""

    def __init__(self, embedder: MiniLMEmbedder) -> None:
        super().__init__(embedder)
        self.scored = 0
        self.seconds = 0.0

    def score(self, query: str, candidates: Sequence[str]) -> list[PairScore]:
        t = time.perf_counter()
        try:
            return super().score(query, candidates)
        finally:
            self.seconds += time.perf_counter() - t
            self.scored += len(candidates)


@dataclass(slots=True)
class TimedGuard:
    """The rule guard, counting the candidates it checks and its time."""

    scored: int = 0
    seconds: float = 0.0

    def __call__(self, a: str, b: str) -> GuardVerdict:
        t = time.perf_counter()
        try:
            return check(a, b)
        finally:
            self.seconds += time.perf_counter() - t
            self.scored += 1


# -- data ------------------------------------------------------------------------------


def entry_texts(n: int) -> list[str]:
    """``n`` distinct prompts: generated ones first, then the same with suffixes."""
    base = sentences(min(n, MAX_BASE), seed=0)
    if n > len(base) * len(SUFFIXES):
        raise SystemExit(f"--entries at most {len(base) * len(SUFFIXES)}")
    texts = [b + s for s in SUFFIXES for b in base][:n]
    if len({normalize_prompt(t) for t in texts}) != n:
        raise SystemExit("generated prompts collide after normalisation")
    return texts


def synthetic_vectors(real: F32, n: int, rng: np.random.Generator) -> F32:
    """Unit vectors at cosine 0.25-0.85 to a random real vector (see module doc)."""
    out = np.empty((n, real.shape[1]), np.float32)
    for start in range(0, n, 20_000):
        m = min(20_000, n - start)
        a = real[rng.integers(0, len(real), m)]
        u = rng.standard_normal(a.shape).astype(np.float32)
        u -= np.sum(u * a, axis=1, keepdims=True) * a
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        c = rng.uniform(0.25, 0.85, (m, 1)).astype(np.float32)
        out[start : start + m] = c * a + np.sqrt(1 - c * c) * u
    return out


def pick_queries(emb: MiniLMEmbedder, real: list[str], stored: set[str], n: int) -> list[str]:
    """``n`` 20-token paraphrases of distinct real prompts, none stored verbatim."""
    rng = random.Random(7)
    order = rng.sample(range(len(real)), len(real))
    out: list[str] = []
    for i in order:
        for _ in range(30):
            q = paraphrase(real[i], rng)
            if emb.count_tokens(q) == QUERY_TOKENS and normalize_prompt(q) not in stored:
                out.append(q)
                break
        if len(out) == n:
            return out
    raise SystemExit(f"only {len(out)} 20-token paraphrases from {len(real)} prompts: raise --real")


def build(path: Path, emb: MiniLMEmbedder, texts: list[str], n_real: int) -> dict[str, float]:
    """Fill the cache file through ``SemanticCache.store``; return timings."""
    t = time.perf_counter()
    real = emb.embed(texts[:n_real])
    embed_s = time.perf_counter() - t
    rng = np.random.default_rng(0)
    vecs = np.vstack([real, synthetic_vectors(real, len(texts) - n_real, rng)])
    answers = [
        ANSWERS[i % len(ANSWERS)].format(t=text.rstrip(".?!").lower())
        for i, text in enumerate(texts)
    ]
    usages = [Usage(input_tokens=emb.count_tokens(text), output_tokens=120) for text in texts]
    cost, now = Decimal("0.000052"), time.time()
    t = time.perf_counter()
    with SemanticCache(path, emb, max_entries=2 * len(texts), ttl_seconds=None) as cache:
        for i in rng.permutation(len(texts)):
            cache.store(
                texts[i],
                NAMESPACE,
                vecs[i],
                answers[i],
                "gpt-4.1-nano",
                "fast",
                0,
                f"req-{i}",
                usages[i],
                cost,
                "stop",
                now,
            )
        count = cache.count(NAMESPACE)
    store_s = time.perf_counter() - t
    if count != len(texts):
        raise SystemExit(f"the cache holds {count} entries, expected {len(texts)}")
    return {"embed_real_s": embed_s, "store_s": store_s, "entries": count}


# -- timing ----------------------------------------------------------------------------


@dataclass(slots=True)
class Samples:
    """Per-query timings (seconds) of one mode, and what each lookup did."""

    parts: dict[str, list[float]] = field(default_factory=dict)
    scored: list[int] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    load: list[float] = field(default_factory=list)

    def add(self, name: str, seconds: float) -> None:
        self.parts.setdefault(name, []).append(seconds)


Probe = TimedVerifier | TimedGuard


def one_query(
    cache: SemanticCache,
    emb: TimedMiniLM,
    counter: Probe,
    query: str,
    threshold: float,
    *,
    warm: bool = False,
) -> tuple[dict[str, float], int, bool]:
    """Embed and look up one query: per-part seconds, candidates scored, hit or not.

    With the verifier, the query is embedded as the engine does it
    (``PairVerifier.embed``: one forward pass for the search and the verifier).
    ``warm``: the candidates' token states are put in the verifier's memory first,
    untimed, as when they were cached recently (``cache.search`` finds the same top
    entries the lookup will)."""
    if warm and isinstance(counter, TimedVerifier):
        near = cache.search(query, cache.max_candidates)
        counter.states([r.entry.prompt for r in near])
    tokens, spent, scored = emb.token_seconds, counter.seconds, counter.scored
    t0 = time.perf_counter()
    verifying = isinstance(counter, TimedVerifier)
    vec = counter.embed(query) if verifying else emb.embed([query])[0]
    t1 = time.perf_counter()
    result = cache.lookup_detailed(query, NAMESPACE, 0, time.time(), threshold, embedding=vec)
    t2 = time.perf_counter()
    parts = {"embed query (MiniLM)": t1 - t0, "lookup_detailed": t2 - t1}
    if isinstance(counter, TimedVerifier):
        parts["verifier.score (in lookup)"] = counter.seconds - spent
        parts["MiniLM token states (in verifier)"] = emb.token_seconds - tokens
    else:
        parts["rule guard (in lookup)"] = counter.seconds - spent
    parts["total"] = t2 - t0
    if result.hit is not None and result.hit.outcome == "exact":
        raise SystemExit(f"exact hit for {query!r}: the query set is wrong")
    return parts, counter.scored - scored, result.hit is not None


def run_mode(
    cache: SemanticCache,
    emb: TimedMiniLM,
    counter: Probe,
    queries: list[str],
    threshold: float,
    *,
    warm: bool = False,
) -> Samples:
    """Warm up, then time each query (the objects built so far frozen out of the GC)."""
    for q in queries[:WARMUP]:
        one_query(cache, emb, counter, q, threshold, warm=warm)
    gc.collect()
    gc.freeze()
    samples = Samples(load=[os.getloadavg()[0]])
    for q in queries[WARMUP:]:
        parts, scored, hit = one_query(cache, emb, counter, q, threshold, warm=warm)
        samples.scored.append(scored)
        samples.outcomes["semantic hit" if hit else "miss"] += 1
        for name, seconds in parts.items():
            samples.add(name, seconds)
    samples.load.append(os.getloadavg()[0])
    gc.unfreeze()
    return samples


def profile(
    cache: SemanticCache, emb: TimedMiniLM, counter: Probe, queries: list[str], threshold: float
) -> str:
    """cProfile of the verifier-on path over ``queries``: top functions."""
    prof = cProfile.Profile()
    prof.enable()
    for q in queries:
        one_query(cache, emb, counter, q, threshold)
    prof.disable()
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf)
    stats.sort_stats("cumulative").print_stats(30)
    stats.sort_stats("tottime").print_stats(20)
    return buf.getvalue()


# -- report ----------------------------------------------------------------------------


def _ms(values: list[float], pct: float) -> float:
    return 1000 * float(np.percentile(values, pct))


def summary(samples: Samples) -> dict[str, Any]:
    parts = {
        name: {
            "p50_ms": _ms(v, 50),
            "p95_ms": _ms(v, 95),
            "p99_ms": _ms(v, 99),
            "mean_ms": 1000 * float(np.mean(v)),
        }
        for name, v in samples.parts.items()
    }
    by_count: dict[int, list[float]] = {}
    for n, t in zip(samples.scored, samples.parts["total"], strict=True):
        by_count.setdefault(n, []).append(t)
    return {
        "queries": len(samples.scored),
        "parts": parts,
        "candidates_scored": dict(sorted(Counter(samples.scored).items())),
        "total_p50_ms_by_candidates": {n: _ms(v, 50) for n, v in sorted(by_count.items())},
        "outcomes": dict(samples.outcomes),
        "load_average_1min": samples.load,
    }


def machine() -> dict[str, Any]:
    model = platform.processor()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    return {
        "cpus": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "os": platform.platform(),
        "blas_env": {k: v for k in BLAS_ENV if (v := os.environ.get(k)) is not None},
    }


def render(report: dict[str, Any]) -> str:
    m, b = report["machine"], report["build"]
    lines = [
        f"{b['entries']:,} entries in one namespace ({report['real']:,} real MiniLM vectors);"
        f" built with SemanticCache.store in {b['store_s']:.1f} s"
        f" ({1e6 * b['store_s'] / b['entries']:.0f} µs each), real vectors embedded in"
        f" {b['embed_real_s']:.1f} s; opening it (index rebuild)"
        f" {report['modes']['verifier on, cold candidates']['open_s']:.2f} s",
        f"{m['cpus']} CPUs ({m['cpu']}), Python {m['python']}, numpy {m['numpy']}"
        f" {m['blas_env'] or '(BLAS threads: default)'};"
        f" cosine floor {report['threshold']}, max_candidates {report['max_candidates']},"
        f" {WARMUP} warm-up queries per mode",
        "",
        "| mode | part | p50 ms | p95 ms | p99 ms | mean ms |",
        "|---|---|---|---|---|---|",
    ]
    for mode, s in report["modes"].items():
        for name, p in s["parts"].items():
            label = f"**{name}**" if name == "total" else name
            lines.append(
                f"| {mode} | {label} | {p['p50_ms']:.2f} | {p['p95_ms']:.2f}"
                f" | {p['p99_ms']:.2f} | {p['mean_ms']:.2f} |"
            )
    lines.append("")
    for mode, s in report["modes"].items():
        by = ", ".join(f"{n}: {t:.1f} ms" for n, t in s["total_p50_ms_by_candidates"].items())
        lines.append(
            f"{mode}: {s['queries']} queries; candidates scored per query {s['candidates_scored']};"
            f" total p50 by candidates scored {{{by}}}; outcomes {s['outcomes']};"
            f" load average {s['load_average_1min'][0]:.2f} -> {s['load_average_1min'][1]:.2f}"
        )
    return "\n".join(lines)


# -- main ------------------------------------------------------------------------------


def measure(
    args: argparse.Namespace,
    path: Path,
    emb: TimedMiniLM,
    pair_verifier: TimedVerifier,
    queries: list[str],
) -> Any:
    """Both modes, one cache object at a time, each with its own queries."""
    per_mode = WARMUP + args.queries
    report: dict[str, Any] = {"modes": {}, "profile": None}
    modes = ("verifier on, cold candidates", "verifier on, candidates in memory", "rules only")
    for k, mode in enumerate(modes):
        verifier = pair_verifier if mode.startswith("verifier") else None
        guard = TimedGuard()
        counter: Probe = guard if verifier is None else verifier
        t = time.perf_counter()
        cache = SemanticCache(
            path,
            emb,
            max_entries=2 * args.entries,
            ttl_seconds=None,
            verifier=verifier,
            guard=guard,
            max_candidates=args.max_candidates,
            max_error_rate=0.01,
        )
        open_s = time.perf_counter() - t
        with cache:
            mine = queries[k * per_mode : (k + 1) * per_mode]
            warm = mode.endswith("in memory")
            samples = run_mode(cache, emb, counter, mine, args.threshold, warm=warm)
            report["modes"][mode] = summary(samples) | {"open_s": open_s}
            if verifier is not None and not warm and args.profile:
                extra = queries[len(modes) * per_mode :]
                report["profile"] = profile(cache, emb, counter, extra, args.threshold)
    return report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--real", type=int, default=3000, help="entries with real embeddings")
    ap.add_argument("--queries", type=int, default=200, help="timed queries per mode")
    ap.add_argument("--threshold", type=float, default=0.75, help="cosine floor")
    ap.add_argument("--max-candidates", type=int, default=3)
    ap.add_argument("--profile", action="store_true", help="cProfile 100 more queries")
    ap.add_argument("--json", action="store_true", help="print one JSON document")
    args = ap.parse_args()
    started = time.perf_counter()
    emb = TimedMiniLM()
    pair_verifier = TimedVerifier(emb)  # loads the shipped model: fail before the build
    texts = entry_texts(args.entries)
    stored = {normalize_prompt(t) for t in texts}
    wanted = 3 * (WARMUP + args.queries) + (100 if args.profile else 0)
    queries = pick_queries(emb, texts[: args.real], stored, wanted)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cache.sqlite"
        built = build(path, emb, texts, args.real)
        report = measure(args, path, emb, pair_verifier, queries)
    report |= {
        "build": built,
        "real": args.real,
        "threshold": args.threshold,
        "max_candidates": args.max_candidates,
        "machine": machine(),
        "wall_s": time.perf_counter() - started,
    }
    profile_text = report.pop("profile")
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(render(report))
        print(f"\nwhole run {report['wall_s']:.0f} s")
    if profile_text:
        print(profile_text, file=sys.stderr)


if __name__ == "__main__":
    main()
