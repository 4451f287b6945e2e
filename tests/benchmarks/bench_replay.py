"""Replaying a large recorded history under another configuration, offline.

    python tests/benchmarks/bench_replay.py [--requests 100000] [--days 30]

Builds a ledger of ``--requests`` user requests over ``--days`` days (every tier, a
few system prompts, paraphrase clusters so the cache has work) with their embeddings
already stored in ``cache.sqlite``, then times ``Engine.replay`` under a config that
changes prices, routing weights and the cache threshold, so every lever is re-run.
Target: 100,000 requests in 10 s or less.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[2]))

from sentences import sentences

from core.accounting.prices import PriceTable, cost_of
from core.accounting.tokens import TokenCounter
from core.cache.store import SemanticCache
from core.config import parse_config
from core.engine import Engine
from core.routing.router import TierRouter
from core.types import RequestRecord, Usage

CURRENT = '[providers.simulator]\nkind = "simulator"\n'
OTHER = (
    CURRENT
    + "[cache]\nsimilarity_threshold = 0.9\n"
    + "[routing.weights]\nreasoning_verbs = { per = 3.0, max = 6.0 }\n"
    + '[prices."gpt-4.1-nano"]\ninput_cost_per_token = 0.0000002\n'
    + "output_cost_per_token = 0.0000008\n"
)
SYSTEMS = [None, "You are a helpful assistant.", "Answer in one paragraph."]


class _NoEmbedder:
    name, dim = "minilm-stored", 384

    def embed(self, texts: object) -> np.ndarray:
        raise AssertionError("every embedding should be stored already")


def build(data: Path, n: int, days: int) -> None:
    config = parse_config(CURRENT)
    router, tokens, table = TierRouter(config), TokenCounter(), PriceTable.bundled()
    rng = random.Random(3)
    vecs = np.random.default_rng(3)
    topics = sentences(3000, seed=11)
    centres = vecs.standard_normal((len(topics), 384)).astype(np.float32)
    start = time.time() - days * 86_400
    records, rows = [], []
    cache = SemanticCache(data / "cache.sqlite", _NoEmbedder())  # creates the schema
    cache.close()
    for i in range(n):
        k = rng.randrange(len(topics))
        prompt = topics[k] + rng.choice(["", " Please.", " Thanks!", " Explain why."])
        probe = tokens.count_text(prompt, "gpt-4o").tokens
        decision = router.route(prompt, probe)
        usage = Usage(probe + 12, rng.randrange(20, 400))
        price = table.lookup(decision.model)
        assert price is not None
        t = start + i * days * 86_400 / n
        rid = f"req_{i:08d}"
        records.append(
            RequestRecord(
                request_id=rid, started_at=t, finished_at=t + 0.5, provider="simulator",
                model=decision.model, tier=decision.tier.id, route_score=decision.score,
                route_reasons=decision.reasons, route_mode="auto", usage=usage,
                cost_usd=cost_of(usage, price), prompt=prompt, system=SYSTEMS[i % 3],
                response=f"Answer {i}.", finish_reason="stop", simulated=True,
            )
        )  # fmt: skip
        vec = centres[k] + 0.3 * vecs.standard_normal(384).astype(np.float32)
        vec /= np.linalg.norm(vec)
        rows.append((f"ns-{i % 3}", prompt.lower(), prompt, vec.astype(np.float32).tobytes(),
                     "minilm", f"Answer {i}.", decision.model, decision.tier.id, 0, rid,
                     usage.input_tokens, usage.output_tokens, 0, t, 3600, "stop"))  # fmt: skip
    engine = Engine.open(config, data)
    engine.ledger.record_many(records)
    engine.close()
    conn = sqlite3.connect(data / "cache.sqlite")
    with conn:
        conn.executemany(
            "INSERT INTO cache_entries (namespace, normalized_prompt, prompt, embedding,"
            " embedder, response, model, tier, tier_rank, request_id, input_tokens,"
            " output_tokens, cost_pusd, created_at, ttl_seconds, finish_reason)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    conn.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=100_000)
    ap.add_argument("--days", type=int, default=30)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        t0 = time.perf_counter()
        build(data, args.requests, args.days)
        print(f"built {args.requests:,} records in {time.perf_counter() - t0:.1f} s")
        engine = Engine.open(parse_config(CURRENT), data)
        try:
            t1 = time.perf_counter()
            report = engine.replay(parse_config(OTHER), embedder=_NoEmbedder())
            took = time.perf_counter() - t1
        finally:
            engine.close()
    c = report.cache
    print(
        f"replayed {report.requests:,} requests in {took:.2f} s "
        f"({took / max(1, report.requests) * 1e6:.0f} us each); target <= 10 s"
    )
    print(
        f"actual ${report.actual_usd:.4f} -> projected ${report.projected_usd:.4f}; "
        f"hits {c.projected_hits:,} (exact {c.exact_hits:,}, semantic {c.semantic_hits:,}); "
        f"{c.stored_embeddings:,} stored embeddings, {c.embedded} embedded"
    )
    s = report.savings
    four = Decimal("0.0001")
    print(
        f"savings: models/prices {s.models_prices_usd.quantize(four)}, "
        f"routing {s.routing_usd.quantize(four)}, cache {s.cache_usd.quantize(four)}"
    )


if __name__ == "__main__":
    main()
