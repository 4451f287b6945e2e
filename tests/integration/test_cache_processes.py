"""Two processes share one cache file: both store and look up concurrently; nothing
is lost or corrupt, and each process sees the other's entries.

Embeddings come from a hashed bag-of-words TEST DOUBLE (defined here, picklable for
``spawn``); the point is SQLite sharing and the index mirror, not embedding quality.
"""

from __future__ import annotations

import multiprocessing as mp
import re
import sqlite3
import zlib
from collections.abc import Sequence
from decimal import Decimal
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path

import numpy as np
import pytest

from core.cache.embedder import Vectors, l2_normalise
from core.cache.store import SemanticCache
from core.types import Usage

pytestmark = pytest.mark.slow

ENTRIES = 150
NOW = 1_700_000_000.0


class BagOfWords:
    """Test double: hashed bag-of-words counts, L2-normalised."""

    name = "bag-of-words-test-double"
    dim = 512

    def embed(self, texts: Sequence[str]) -> Vectors:
        out = np.zeros((len(texts), self.dim), np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[row, zlib.crc32(word.encode()) % self.dim] += 1
        return l2_normalise(out)


def _prompt(worker: int, i: int) -> str:
    return f"worker{worker} question{i} about topic{i * 7 + worker}"


def _worker(
    path: str, worker: int, start: Event, out: Queue[tuple[int, int, int, list[str]]]
) -> None:
    """Store ENTRIES answers; meanwhile look up the other worker's prompts."""
    start.wait()
    other = 1 - worker
    seen_exact = seen_semantic = 0
    with SemanticCache(path, BagOfWords(), max_entries=10_000) as cache:
        for i in range(ENTRIES):
            cache.store(
                _prompt(worker, i),
                "ns",
                None,
                f"answer {worker}-{i}",
                "m",
                "fast",
                0,
                f"w{worker}-{i}",
                Usage(10, 5),
                Decimal("0.000001"),
                "stop",
                NOW + i,
            )
            hit = cache.lookup(_prompt(other, i), "ns", 0, NOW + i, 0.9)
            if hit is not None:
                assert hit.response == f"answer {other}-{i}"
                seen_exact += 1
            # a paraphrase (extra word) must go through the index mirror
            hit = cache.lookup(_prompt(other, i) + " please", "ns", 0, NOW + i, 0.8)
            if hit is not None:
                assert hit.response == f"answer {other}-{i}", (hit.prompt, i)
                seen_semantic += 1
        # at the end, every entry of the other worker is visible, exactly and by meaning
        start.wait()
        missing = sum(
            cache.lookup(_prompt(other, i) + " please", "ns", 0, NOW, 0.8) is None
            for i in range(ENTRIES)
        )
        warnings = list(cache.warnings)
    out.put((seen_exact, seen_semantic, missing, warnings))


def test_two_processes_share_one_cache(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    ctx = mp.get_context("spawn")
    start = ctx.Barrier(2)
    out: Queue[tuple[int, int, int, list[str]]] = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(str(path), w, start, out)) for w in (0, 1)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    results = [out.get(timeout=5) for _ in procs]
    assert all(missing == 0 and not warnings for _, _, missing, warnings in results), results
    assert sum(r[0] + r[1] for r in results) > 0  # the lookups really ran concurrently

    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = conn.execute("SELECT request_id, response FROM cache_entries").fetchall()
    conn.close()
    assert len(rows) == 2 * ENTRIES
    assert {r for r, _ in rows} == {f"w{w}-{i}" for w in (0, 1) for i in range(ENTRIES)}
    assert all(resp == "answer " + rid[1:] for rid, resp in rows)
