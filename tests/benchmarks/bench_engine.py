"""Engine overhead per request: the Simulator at zero latency, the cache off.

    python tests/benchmarks/bench_engine.py [--requests 2000] [--postgres]

``--postgres`` puts the ledger on a local PostgreSQL server the benchmark starts
(Debian's postgresql-15, as the tests do): team mode's overhead.

What is timed is the whole pipeline around an instant provider: context, routing,
token estimates, budget reservation (a daily limit is set, so the reservation
transaction runs), the call, exact pricing and the durable ledger write.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

from core.config import parse_config
from core.engine import Engine

CONFIG = """
[budget]
daily_usd = 1000000
monthly_usd = 1000000
[cache]
enabled = false
[providers.simulator]
kind = "simulator"
latency_scale = 0
"""


async def run(n: int) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine.open(parse_config(CONFIG), Path(tmp))
        prompts = [f"Question {i}: how should I index table t{i % 50}?" for i in range(n)]
        for p in prompts[:50]:  # warm up
            await engine.ask(p, model="fast").collect()
        times = []
        for p in prompts:
            t0 = time.perf_counter()
            await engine.ask(p, model="fast").collect()
            times.append((time.perf_counter() - t0) * 1000)
        await engine.aclose()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--postgres", action="store_true", help="the ledger on PostgreSQL")
    args = parser.parse_args()
    server = None
    if args.postgres:
        from tests.pg_server import PgServer

        server = PgServer().init().start()
        os.environ["CENTWISE_DATABASE_URL"] = server.create_database()
    try:
        times = sorted(asyncio.run(run(args.requests)))
    finally:
        if server is not None:
            server.destroy()
    p = lambda q: times[min(len(times) - 1, int(q * len(times)))]  # noqa: E731
    print("| requests | p50 ms | p90 ms | p99 ms | mean ms |\n|---|---|---|---|---|")
    print(
        f"| {len(times)} | {p(0.5):.3f} | {p(0.9):.3f} | {p(0.99):.3f} | "
        f"{statistics.fmean(times):.3f} |"
    )


if __name__ == "__main__":
    main()
