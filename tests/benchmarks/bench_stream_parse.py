"""Stream-parsing benchmark: what does decoding an OpenAI stream add over reading it?

    python -m tests.benchmarks.bench_stream_parse [--chunks 2000] [--runs 60]

One loopback server (in a child process, so it does not compete for this process's
GIL) streams a ``--chunks``-delta Chat Completions reply. Each round reads it three
times, in rotating order: as raw bytes with httpx's ``aiter_bytes`` (the baseline the
target is measured against), through ``OpenAIProvider.stream`` (SSE parsing, JSON
decoding, events), and as raw bytes read the way the provider reads an unencoded body
(``body_chunks``: the transport's byte stream, below ``aiter_bytes``), the floor that
shows what the parsing itself costs. Prints a markdown table
of medians and the overhead; the target is <= 5 %. Also reports the parse-only CPU
time per chunk, measured over captured bytes with no network at all.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import statistics
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path

import httpx

if __package__ in (None, ""):  # run as a script: make `tests.` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from core.config import ProviderConfig
from core.providers._http import body_chunks
from core.providers.openai import OpenAIProvider, OpenAIStreamDecoder
from core.providers.wire import CallContext
from core.types import Message, ProviderRequest, TextDelta
from tests.integration.servers import Behaviour, OpenAIDialect, serve

TARGET_PCT = 5.0


def _server_main(chunks: int, conn: Connection) -> None:
    with serve(OpenAIDialect(), "/v1") as server:
        server.default = Behaviour(text="tok " * chunks)  # one delta per word
        conn.send(server.base_url)
        conn.recv()  # run until the parent says stop


def _request() -> ProviderRequest:
    return ProviderRequest("bench", "gpt-4.1-mini", (Message("user", "Count."),), 4096)


async def _raw(
    client: httpx.AsyncClient, base: str, body: dict[str, object], lean: bool = False
) -> tuple[float, float, list[bytes]]:
    """Read the stream's bytes and do nothing with them: with ``aiter_bytes`` (what a
    client reading raw bytes with httpx writes), or ``lean``ly from the transport's byte
    stream below it (what the provider reads an unencoded body with)."""
    start, cpu = time.perf_counter(), time.process_time()
    got: list[bytes] = []
    async with client.stream("POST", f"{base}/chat/completions", json=body) as response:
        pieces = body_chunks(response) if lean else response.aiter_bytes()
        async for chunk in pieces:
            got.append(chunk)
    return time.perf_counter() - start, time.process_time() - cpu, got


async def _parsed(provider: OpenAIProvider) -> tuple[float, float, list[str]]:
    start, cpu = time.perf_counter(), time.process_time()
    texts: list[str] = []
    async for event in provider.stream(_request()):
        if isinstance(event, TextDelta):
            texts.append(event.text)
    return time.perf_counter() - start, time.process_time() - cpu, texts


def _parse_only(chunks: list[bytes], reps: int) -> float:
    """CPU seconds to decode the captured stream once (median over ``reps``)."""
    ctx = CallContext("openai", "gpt-4.1-mini", "bench")
    times = []
    for _ in range(reps):
        start = time.process_time()
        decoder = OpenAIStreamDecoder(ctx)
        for chunk in chunks:
            decoder.feed(chunk)
        decoder.close()
        times.append(time.process_time() - start)
    return statistics.median(times)


async def _measure(base: str, n_chunks: int, runs: int) -> dict[str, float]:
    settings = ProviderConfig(kind="openai", base_url=base)
    async with httpx.AsyncClient(trust_env=False) as client:
        provider = OpenAIProvider("openai", settings, client)
        body = provider._chat_call(_request(), stream=True)[1]
        raw_times, parsed_times, raw_cpu, parsed_cpu = [], [], [], []
        lean_times, lean_cpu = [], []
        events: list[int] = []
        captured: list[bytes] = []
        for i in range(runs + 3):  # three warm-up rounds
            order = [[0, 1, 2], [1, 2, 0], [2, 0, 1]][i % 3]
            for which in order:
                if which == 0:
                    took, cpu, captured = await _raw(client, base, body)
                    raw_times.append(took)
                    raw_cpu.append(cpu)
                elif which == 2:
                    took, cpu, _ = await _raw(client, base, body, lean=True)
                    lean_times.append(took)
                    lean_cpu.append(cpu)
                else:
                    took, cpu, texts = await _parsed(provider)
                    # Deltas already waiting together come out as one, so check the text.
                    assert "".join(texts) == "tok " * n_chunks, len(texts)
                    events.append(len(texts))
                    parsed_times.append(took)
                    parsed_cpu.append(cpu)
        raw, parsed = statistics.median(raw_times[3:]), statistics.median(parsed_times[3:])
        cpu = _parse_only(captured, max(runs, 20))
    lean = statistics.median(lean_times[3:])
    return {
        "lean": lean,
        "lean_cpu": statistics.median(lean_cpu[3:]),
        "lean_overhead_pct": (parsed - lean) / lean * 100,
        "raw_cpu": statistics.median(raw_cpu[3:]),
        "parsed_cpu": statistics.median(parsed_cpu[3:]),
        "raw": raw,
        "parsed": parsed,
        "overhead_pct": (parsed - raw) / raw * 100,
        "bytes": sum(map(len, captured)),
        "reads": len(captured),
        "cpu_per_chunk_us": cpu / n_chunks * 1e6,
        "cpu_total": cpu,
        "deltas": statistics.median(events[3:]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=60)
    args = parser.parse_args()
    ctx = mp.get_context("spawn")
    ours, theirs = ctx.Pipe()
    child = ctx.Process(target=_server_main, args=(args.chunks, theirs), daemon=True)
    child.start()
    try:
        base = ours.recv()
        r = asyncio.run(_measure(base, args.chunks, args.runs))
    finally:
        ours.send("stop")
        child.join(10)
    verdict = "PASS" if r["overhead_pct"] <= TARGET_PCT else "FAIL"
    print(f"\nOpenAI SSE stream, {args.chunks} chunks, {r['bytes']:,} bytes, ~{r['reads']} reads; ")
    print(f"medians of {args.runs} alternating runs\n")
    cpu_pct = (r["parsed_cpu"] - r["raw_cpu"]) / r["raw_cpu"] * 100
    print("| measurement | wall median | client CPU median |")
    print("|---|---|---|")
    print(
        f"| raw bytes (httpx aiter_bytes) | {r['raw'] * 1000:.2f} ms | {r['raw_cpu'] * 1000:.2f} ms |"
    )
    print(
        f"| parsed (OpenAIProvider.stream) | {r['parsed'] * 1000:.2f} ms "
        f"| {r['parsed_cpu'] * 1000:.2f} ms |"
    )
    print(
        f"| overhead | {r['overhead_pct']:+.1f} % (target <= {TARGET_PCT:.0f} %: {verdict}) "
        f"| {cpu_pct:+.1f} % |"
    )
    lean_cpu_pct = (r["parsed_cpu"] - r["lean_cpu"]) / r["lean_cpu"] * 100
    print(
        f"| raw bytes as the provider reads them (transport's byte stream) | {r['lean'] * 1000:.2f} ms "
        f"| {r['lean_cpu'] * 1000:.2f} ms |"
    )
    print(f"| overhead over that floor | {r['lean_overhead_pct']:+.1f} % | {lean_cpu_pct:+.1f} % |")
    print(f"| parse-only CPU, whole stream (decoder.feed) | {r['cpu_total'] * 1000:.2f} ms | |")
    print(
        f"| parse-only CPU per chunk (decoder.feed, every chunk) | {r['cpu_per_chunk_us']:.2f} µs | |"
    )
    print(f"| TextDelta events per stream (median) | {r['deltas']:.0f} | |")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    raise SystemExit(main())
