"""Gateway overhead: streaming from a loopback OpenAI server directly vs through the gateway.

    python -m tests.benchmarks.bench_gateway [--requests 2000] [--concurrency 50] [--rounds 2]
        [--ttft-ms 50] [--pace-ms 10] [--words 30] [--transport httpx|aiohttp]
        [--kind text|tools|both]

One loopback OpenAI look-alike (tests/benchmarks/paced_provider.py: one event loop,
the integration servers' OpenAI frames) serves both paths. By default it streams like
a model does: the first
byte after ``--ttft-ms``, then ``--words`` deltas ``--pace-ms`` apart (published
gateway overheads are measured against mock providers with latency too). So 50
concurrent streams are 50 open streams, as 50 users' apps would hold, not 50 clients
hammering a server that answers instantly; ``--ttft-ms 0 --pace-ms 0`` is that
saturation test instead, where the numbers measure queueing on this machine's two
cores more than the gateway. The gateway runs as ``centwise serve`` in its own
process with a tier on that server, a daily budget (so every request takes the
reservation transaction) and the cache off. In the same run, ``--concurrency``
client streams request it directly and through the gateway, in alternating rounds;
each request is timed from send to the last byte. The overhead is the difference of
the two distributions' percentiles. ``--kind both`` (the default) runs text requests
and tool-calling requests (two tools declared; the reply is a tool call streamed in as
many deltas as the text) and compares the two overheads. At the end the ledger must
hold one row per gateway request. ``--transport`` picks the HTTP transport of both the direct clients
and the gateway's provider client (``[network] transport``; the same factory,
``core.providers.client.make_client``, builds both).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing as mp
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from multiprocessing.queues import Queue
from pathlib import Path

import httpx

from core.config import NetworkConfig
from core.ledger import Ledger
from core.pipeline.services import LEDGER_FILE
from core.providers.client import make_client
from tests.benchmarks.paced_provider import serve_paced
from tests.integration.gateway_support import free_port

CONFIG = """
[network]
transport = "{transport}"
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
#: A tool-calling request: two tools declared, answered with a call of one of them.
TOOLS_BODY = {
    "model": "fast",
    "stream": True,
    "messages": [{"role": "user", "content": "What is the weather in Lisbon right now?"}],
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Current weather in a city",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "city": {"type": "string"},
                        "unit": {"type": "string", "enum": ["c", "f"]},
                    },
                    "required": ["city"],
                },
            },
        },
        {
            "type": "function",
            "function": {
                "name": "stock_price",
                "description": "Latest price of a stock ticker",
                "parameters": {"type": "object", "properties": {"ticker": {"type": "string"}}},
            },
        },
    ],
}


Timing = tuple[float, float]  # (first word, last byte), ms after sending


def _phase(
    url: str,
    headers: dict[str, str],
    body: dict[str, object],
    n: int,
    concurrency: int,
    transport: str,
    spread_s: float = 0.0,
) -> list[Timing]:
    """Run ``n`` streams, ``concurrency`` at a time, and time each. The measuring
    process's own garbage collections are kept out of the timings: everything alive is
    frozen first and the collector is off until the phase ends (a full collection in
    this process took tens of milliseconds, charged to whichever streams were open)."""
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        return asyncio.run(_streams(url, headers, body, n, concurrency, transport, spread_s))
    finally:
        gc.enable()
        gc.unfreeze()


async def _streams(
    url: str,
    headers: dict[str, str],
    body: dict[str, object],
    n: int,
    concurrency: int,
    transport: str,
    spread_s: float,
) -> list[Timing]:
    times: list[Timing] = []
    # The same factory and transport as the gateway's provider client.
    network = NetworkConfig(transport=transport)
    async with make_client(network, trust_env=False, timeout=30) as c:
        c.headers.update(headers)
        body = {**body, "model": "gpt-4o-mini"}
        queue = list(range(n))

        # Each stream's first request waits a random part of ``spread_s`` (the same
        # draws for both paths): independent users' requests are in no step.
        draws = random.Random(concurrency)
        offsets = [draws.uniform(0, spread_s) for _ in range(concurrency)]

        async def worker(i: int) -> None:
            await asyncio.sleep(offsets[i])
            while queue:
                queue.pop()
                t0 = time.perf_counter()
                first = 0.0
                try:
                    async with c.stream("POST", url, json=body) as r:
                        async for piece in r.aiter_raw():
                            # The first word, not the role-only chunk the look-alike
                            # sends first (the gateway sends role and word together).
                            if not first and b"word" in piece:
                                first = time.perf_counter()
                except httpx.TransportError as e:
                    ERRORS.append(f"{url}: {type(e).__name__}: {e}")
                    continue
                if r.status_code != 200:
                    raise RuntimeError(f"HTTP {r.status_code}")
                times.append(((first - t0) * 1000, (time.perf_counter() - t0) * 1000))

        await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return times


def _pct(times: list[float], q: float) -> float:
    s = sorted(times)
    return s[min(len(s) - 1, int(q * len(s)))]


def _start_gateway(data: Path, config: Path, port: int) -> tuple[subprocess.Popen[bytes], str]:
    no_proxy = os.environ.get("no_proxy") or os.environ.get("NO_PROXY")
    no_proxy = f"{no_proxy},127.0.0.1" if no_proxy else "127.0.0.1"
    env = {
        **os.environ,
        "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
        "CENTWISE_CONFIG": str(config),
        "CENTWISE_DATA_DIR": str(data),
        # The gateway honours proxy variables; the look-alike is on loopback.
        "NO_PROXY": no_proxy,
        "no_proxy": no_proxy,
    }
    log = data.parent / "gateway.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "core",
                "serve",
                "--port",
                str(port),
            ],
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


def _measure(
    url: str,
    headers: dict[str, str],
    body: dict[str, object],
    n: int,
    concurrency: int,
    rounds: int,
    gw_url: str,
    spread_s: float,
    transport: str,
) -> tuple[list[Timing], list[Timing]]:
    direct: list[Timing] = []
    gateway: list[Timing] = []
    for _ in range(rounds):
        direct += _phase(url, {}, body, n, concurrency, transport, spread_s)
        gateway += _phase(gw_url, headers, body, n, concurrency, transport, spread_s)
    return direct, gateway


def _report(concurrency: int, direct: list[Timing], gateway: list[Timing]) -> None:
    print(f"\n{concurrency} concurrent streams, {len(direct)} requests per path")
    print("| path | measure | p50 ms | p90 ms | p99 ms | mean ms |\n|---|---|---|---|---|---|")
    for which, label in ((1, "last byte"), (0, "first word")):
        for name, timings in (("direct", direct), ("gateway", gateway)):
            t = [x[which] for x in timings]
            print(
                f"| {name} | {label} | {_pct(t, 0.5):.2f} | {_pct(t, 0.9):.2f} | "
                f"{_pct(t, 0.99):.2f} | {statistics.fmean(t):.2f} |"
            )
    for which, label in ((1, "last byte"), (0, "first word")):
        d_t, g_t = [x[which] for x in direct], [x[which] for x in gateway]
        for q, name in ((0.5, "p50"), (0.99, "p99")):
            d, g = _pct(d_t, q), _pct(g_t, q)
            print(f"{label} {name} overhead: {g - d:+.2f} ms (gateway/direct = {g / d:.3f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000, help="per path per round")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--ttft-ms", type=float, default=50, help="provider's first byte")
    parser.add_argument("--pace-ms", type=float, default=10, help="between deltas")
    parser.add_argument("--words", type=int, default=30, help="deltas per reply")
    parser.add_argument(
        "--arrivals",
        choices=("independent", "together"),
        default="independent",
        help="independent: each stream starts at a random point within one reply's "
        "length, as independent users' requests would; together: all at once, and "
        "since every reply takes as long, their later requests keep starting in waves",
    )
    parser.add_argument(
        "--transport",
        choices=("httpx", "aiohttp"),
        default="httpx",
        help="[network] transport of the direct clients and the gateway's provider client",
    )
    parser.add_argument(
        "--kind",
        choices=("text", "tools", "both"),
        default="both",
        help="text requests, tool-calling requests (two tools declared, answered with a "
        "streamed tool call of as many deltas), or both, to compare their overheads",
    )
    parser.add_argument(
        "--no-pin",
        action="store_true",
        help="let the OS place the processes (by default the gateway gets the last CPU to "
        "itself and the clients and the provider look-alike share the others)",
    )
    args = parser.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    pin = not args.no_pin and len(cpus) >= 2
    if pin:  # before the look-alike starts, so it inherits the clients' CPUs
        os.sched_setaffinity(0, cpus[:-1])
    ctx = mp.get_context("spawn")
    urls: Queue[str] = ctx.Queue()
    stop = ctx.Event()
    pacing = (args.ttft_ms / 1000, args.pace_ms / 1000, args.words)
    server = ctx.Process(target=serve_paced, args=(urls, stop, *pacing), daemon=True)
    server.start()
    base = urls.get(timeout=30)
    levels = sorted({1, args.concurrency})
    reply_s = (args.ttft_ms + args.words * args.pace_ms) / 1000
    spread_s = reply_s if args.arrivals == "independent" else 0.0
    bodies = {"text": BODY, "tools": TOOLS_BODY}
    if args.kind != "both":
        bodies = {args.kind: bodies[args.kind]}
    results: dict[tuple[str, int], tuple[list[Timing], list[Timing]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        data, config = Path(tmp) / "data", Path(tmp) / "config.toml"
        config.write_text(CONFIG.format(base=base, transport=args.transport))
        port = free_port()
        proc, token = _start_gateway(data, config, port)
        if pin:
            os.sched_setaffinity(proc.pid, cpus[-1:])
        sent = 0
        try:
            direct_url = f"{base}/chat/completions"
            gw_url = f"http://127.0.0.1:{port}/v1/chat/completions"
            headers = {"Authorization": f"Bearer {token}"}
            # Warm up both paths (connections, tokenizer, SQLite pages).
            for body in bodies.values():
                _phase(direct_url, {}, body, 200, args.concurrency, args.transport)
                _phase(gw_url, headers, body, 200, args.concurrency, args.transport)
                sent += 200
            for level in levels:
                n = args.requests if level > 1 else max(100, args.requests // 15)
                for kind, body in bodies.items():
                    results[(kind, level)] = _measure(
                        direct_url, headers, body, n, level, args.rounds, gw_url, spread_s,
                        args.transport,
                    )  # fmt: skip
                    sent += n * args.rounds
        finally:
            proc.terminate()
            proc.wait(30)
            stop.set()
            server.join(10)
        with Ledger.open(data / LEDGER_FILE) as ledger:
            rows = ledger.count()
    print(
        f"provider: first byte after {args.ttft_ms:g} ms, {args.words} deltas "
        f"{args.pace_ms:g} ms apart; streams start {args.arrivals}; "
        + (f"gateway pinned to CPU {cpus[-1]}, the rest on {cpus[:-1]}" if pin else "not pinned")
        + f"; transport {args.transport}"
    )
    for (kind, level), (direct, gateway) in results.items():
        print(f"\n## {kind} requests")
        _report(level, direct, gateway)
    if len(bodies) == 2:
        for level in levels:
            (td, tg), (xd, xg) = results[("text", level)], results[("tools", level)]
            for q, name in ((0.5, "p50"), (0.99, "p99")):
                text_over = _pct([t[1] for t in tg], q) - _pct([t[1] for t in td], q)
                tool_over = _pct([t[1] for t in xg], q) - _pct([t[1] for t in xd], q)
                print(
                    f"{level} streams, last byte {name}: gateway overhead text {text_over:+.2f} ms,"
                    f" tool call {tool_over:+.2f} ms ({tool_over - text_over:+.2f} ms)"
                )
    print(f"\nledger rows: {rows} (gateway requests sent: {sent}); load average {os.getloadavg()}")
    if ERRORS:
        print(f"{len(ERRORS)} transport errors, e.g. {ERRORS[0]}")
    if rows != sent:
        raise SystemExit("some gateway requests were not recorded")


if __name__ == "__main__":
    main()
