"""Team mode on one PostgreSQL database: gateway throughput with 1, 2 and 4
``centwise serve`` processes, and the whole load test (1,000 requests, three gateways,
two CLI writers, a hard daily budget, one gateway killed and the database restarted
mid-load; see tests/integration/team_load.py).

    python -m tests.benchmarks.bench_team [--requests 2000] [--processes 1 2 4]
    python -m tests.benchmarks.bench_team --load [--requests 1000]

The PostgreSQL server is started here (Debian's postgresql-15, as the tests do); the
provider is the instant Simulator, so what is measured is Centwise and the database.
A hard daily budget is set (the reservation transaction runs on every request).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import httpx

from core.config import parse_config
from core.engine import Engine
from tests.integration.gateway_support import free_port, gateway_process, sim_config_text
from tests.integration.team_load import run_team_load
from tests.pg_server import PgServer

CONFIG = "[budget]\ndaily_usd = 1000\nhard_limit = true\n"


async def _drive(ports: list[int], key: str, n: int, concurrency: int) -> list[float]:
    times: list[float] = []
    counter = iter(range(n))
    limits = httpx.Limits(max_connections=concurrency * 2)
    async with httpx.AsyncClient(trust_env=False, timeout=60, limits=limits) as client:

        async def worker() -> None:
            for i in counter:
                body = {
                    "model": "auto",
                    "messages": [{"role": "user", "content": f"throughput {i}: say hello"}],
                }
                t0 = time.perf_counter()
                r = await client.post(
                    f"http://127.0.0.1:{ports[i % len(ports)]}/v1/chat/completions",
                    json=body,
                    headers={"Authorization": f"Bearer {key}"},
                )
                r.raise_for_status()
                times.append((time.perf_counter() - t0) * 1000)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return times


def throughput(server: PgServer, processes: int, requests: int, concurrency: int) -> str:
    work = Path(tempfile.mkdtemp(prefix="bench-team-"))
    url = server.create_database()
    os.environ["CENTWISE_DATABASE_URL"] = url
    config_path = work / "centwise.toml"
    config_path.write_text(sim_config_text(CONFIG))
    engine = Engine.open(parse_config(config_path.read_text(), "t.toml"), work / "setup")
    key, _ = engine.create_gateway_key("bench")
    engine.close()
    with ExitStack() as stack:
        ports = [free_port() for _ in range(processes)]
        for i, port in enumerate(ports):
            stack.enter_context(gateway_process(work / f"gw{i}", config_path, port))
        asyncio.run(_drive(ports, key, 100, concurrency))  # warm up
        t0 = time.perf_counter()
        times = sorted(asyncio.run(_drive(ports, key, requests, concurrency)))
        wall = time.perf_counter() - t0
    p = lambda q: times[min(len(times) - 1, int(q * len(times)))]  # noqa: E731
    return (
        f"| {processes} | {requests} | {concurrency} | {requests / wall:.0f} | {p(0.5):.1f} |"
        f" {p(0.99):.1f} | {statistics.fmean(times):.1f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=None)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--load", action="store_true", help="run the load test instead")
    args = parser.parse_args()
    server = PgServer().init().start()
    try:
        if args.load:
            result = run_team_load(
                server, Path(tempfile.mkdtemp(prefix="bench-load-")), requests=args.requests or 1000
            )
            print(result.summary())
            return
        print("| processes | requests | concurrent | req/s | p50 ms | p99 ms | mean ms |")
        print("|---|---|---|---|---|---|---|")
        for n in args.processes:
            print(throughput(server, n, args.requests or 2000, args.concurrency), flush=True)
    finally:
        server.destroy()


if __name__ == "__main__":
    main()
