"""Gateway overhead: streaming from a loopback OpenAI server directly vs through the gateway.

    python -m tests.benchmarks.bench_gateway [--requests 2000] [--concurrency 50] [--rounds 2]

One loopback OpenAI look-alike (tests/integration/servers, threaded, Nagle off, deep
accept queue) serves both paths. The gateway runs as ``centwise serve`` in its own
process with a tier on that server, a daily budget (so every request takes the
reservation transaction) and the cache off. In the same run, ``--concurrency``
client streams request it directly and through the gateway, in alternating rounds;
each request is timed from send to the last byte. The overhead is the difference of
the two distributions' percentiles. At the end the ledger must hold one row per
gateway request.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import time
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path

import httpx

from core.engine import LEDGER_FILE
from core.ledger import Ledger
from tests.integration.gateway_support import free_port
from tests.integration.servers import OpenAIDialect, serve
from tests.integration.servers import _base as servers_base

CONFIG = """
[budget]
daily_usd = 1000000
[cache]
enabled = false
[providers.loop]
kind = "openai-compatible"
base_url = "{base}"
[[routing.tiers]]
id = "fast"
provider = "loop"
model = "gpt-4o-mini"
max_complexity = 10
"""
#: Transport failures, reported at the end (a failed request is not timed).
ERRORS: list[str] = []
BODY = {
    "model": "fast",
    "stream": True,
    "messages": [{"role": "user", "content": "Say hello in a short sentence."}],
}


async def _phase(url: str, headers: dict[str, str], n: int, concurrency: int) -> list[float]:
    times: list[float] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=30, trust_env=False) as c:
        body = {**BODY, "model": "gpt-4o-mini"} if "/chat/completions" in url else BODY
        queue = list(range(n))

        async def worker() -> None:
            while queue:
                queue.pop()
                t0 = time.perf_counter()
                try:
                    async with c.stream("POST", url, json=body) as r:
                        async for _ in r.aiter_raw():
                            pass
                except httpx.TransportError as e:
                    ERRORS.append(f"{url}: {type(e).__name__}: {e}")
                    continue
                if r.status_code != 200:
                    raise RuntimeError(f"HTTP {r.status_code}")
                times.append((time.perf_counter() - t0) * 1000)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return times


def _pct(times: list[float], q: float) -> float:
    s = sorted(times)
    return s[min(len(s) - 1, int(q * len(s)))]


def _start_gateway(data: Path, config: Path, port: int) -> tuple[subprocess.Popen[bytes], str]:
    env = {
        **os.environ,
        "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
        "CENTWISE_CONFIG": str(config),
        "CENTWISE_DATA_DIR": str(data),
    }
    log = data.parent / "gateway.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "core", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=out,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines():
            if "gateway token for this run:" in line:
                token = line.rsplit(":", 1)[1].strip()
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                        return proc, token
                except httpx.TransportError:
                    pass
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(log.read_text()[-2000:])


def _loopback(out: Queue[str], stop: Event) -> None:
    """The provider look-alike, in its own process so it never shares a GIL with the
    clients or the gateway."""
    servers_base._Server.request_queue_size = 1024
    with serve(OpenAIDialect(), "/v1") as loop:
        out.put(loop.base_url)
        stop.wait()


def _measure(
    url: str, headers: dict[str, str], n: int, concurrency: int, rounds: int, gw_url: str
) -> tuple[list[float], list[float]]:
    direct: list[float] = []
    gateway: list[float] = []
    for _ in range(rounds):
        direct += asyncio.run(_phase(url, {}, n, concurrency))
        gateway += asyncio.run(_phase(gw_url, headers, n, concurrency))
    return direct, gateway


def _report(concurrency: int, direct: list[float], gateway: list[float]) -> None:
    print(f"\n{concurrency} concurrent streams, {len(direct)} requests per path")
    print("| path | p50 ms | p90 ms | p99 ms | mean ms |\n|---|---|---|---|---|")
    for name, t in (("direct", direct), ("gateway", gateway)):
        print(
            f"| {name} | {_pct(t, 0.5):.2f} | {_pct(t, 0.9):.2f} | {_pct(t, 0.99):.2f} | "
            f"{statistics.fmean(t):.2f} |"
        )
    for q, label in ((0.5, "p50"), (0.99, "p99")):
        d, g = _pct(direct, q), _pct(gateway, q)
        print(f"{label} overhead: {g - d:+.2f} ms (gateway/direct = {g / d:.2f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000, help="per path per round")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    ctx = mp.get_context("spawn")
    urls: Queue[str] = ctx.Queue()
    stop = ctx.Event()
    server = ctx.Process(target=_loopback, args=(urls, stop), daemon=True)
    server.start()
    base = urls.get(timeout=30)
    levels = sorted({1, args.concurrency})
    results: dict[int, tuple[list[float], list[float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        data, config = Path(tmp) / "data", Path(tmp) / "config.toml"
        config.write_text(CONFIG.format(base=base))
        port = free_port()
        proc, token = _start_gateway(data, config, port)
        sent = 0
        try:
            direct_url = f"{base}/chat/completions"
            gw_url = f"http://127.0.0.1:{port}/v1/chat/completions"
            headers = {"Authorization": f"Bearer {token}"}
            # Warm up both paths (connections, tokenizer, SQLite pages).
            asyncio.run(_phase(direct_url, {}, 200, args.concurrency))
            asyncio.run(_phase(gw_url, headers, 200, args.concurrency))
            sent += 200
            for level in levels:
                n = args.requests if level > 1 else max(200, args.requests // 4)
                results[level] = _measure(direct_url, headers, n, level, args.rounds, gw_url)
                sent += n * args.rounds
        finally:
            proc.terminate()
            proc.wait(30)
            stop.set()
            server.join(10)
        with Ledger.open(data / LEDGER_FILE) as ledger:
            rows = ledger.count()
    for level in levels:
        _report(level, *results[level])
    print(f"\nledger rows: {rows} (gateway requests sent: {sent}); load average {os.getloadavg()}")
    if ERRORS:
        print(f"{len(ERRORS)} transport errors, e.g. {ERRORS[0]}")
    if rows != sent:
        raise SystemExit("some gateway requests were not recorded")


if __name__ == "__main__":
    main()
