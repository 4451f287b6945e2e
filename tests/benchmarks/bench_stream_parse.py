"""Stream-parsing benchmark: how much CPU does decoding an OpenAI stream cost per chunk?

    python -m tests.benchmarks.bench_stream_parse [--chunks 2000] [--runs 60]
        [--transport httpx|aiohttp]

One loopback server (in a child process, so it does not compete for this process's
GIL) streams a ``--chunks``-delta Chat Completions reply. Each round reads it twice, in
alternating order, over the engine's client (``make_client``, ``[network] transport``):
as raw bytes with httpx's public ``aiter_raw`` (what the provider reads an unencoded
body with, so the floor) and through ``OpenAIProvider.stream`` (SSE parsing, JSON
decoding, events). The parsing CPU per chunk is the difference of the two reads'
median client CPU, divided by the chunks; the target is <= 3 µs. Also reports the
parse-only CPU per chunk (``decoder.feed`` over the captured pieces, no network) and
the wall-clock medians.
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

from core.config import NetworkConfig, ProviderConfig
from core.providers.client import make_client
from core.providers.openai import OpenAIProvider, OpenAIStreamDecoder
from core.providers.wire import CallContext
from core.types import Message, ProviderRequest, TextDelta
from tests.integration.servers import Behaviour, OpenAIDialect, serve

TARGET_US = 3.0


def _server_main(chunks: int, conn: Connection) -> None:
    with serve(OpenAIDialect(), "/v1") as server:
        server.default = Behaviour(text="tok " * chunks)  # one delta per word
        conn.send(server.base_url)
        conn.recv()  # run until the parent says stop


def _request() -> ProviderRequest:
    return ProviderRequest("bench", "gpt-4.1-mini", (Message("user", "Count."),), 4096)


async def _raw(
    client: httpx.AsyncClient, base: str, body: dict[str, object]
) -> tuple[float, float, list[bytes]]:
    """Read the stream's bytes with ``aiter_raw`` and do nothing with them."""
    start, cpu = time.perf_counter(), time.process_time()
    got: list[bytes] = []
    async with client.stream("POST", f"{base}/chat/completions", json=body) as response:
        async for chunk in response.aiter_raw():
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


async def _measure(base: str, n_chunks: int, runs: int, transport: str) -> dict[str, float]:
    settings = ProviderConfig(kind="openai", base_url=base)
    async with make_client(NetworkConfig(transport=transport), trust_env=False) as client:
        provider = OpenAIProvider("openai", settings, client)
        body = provider._chat_call(_request(), stream=True)[1]
        raw_times, parsed_times, raw_cpu, parsed_cpu = [], [], [], []
        events: list[int] = []
        captured: list[bytes] = []
        for i in range(runs + 3):  # three warm-up rounds
            for which in (0, 1) if i % 2 else (1, 0):
                if which == 0:
                    took, cpu, captured = await _raw(client, base, body)
                    raw_times.append(took)
                    raw_cpu.append(cpu)
                else:
                    took, cpu, texts = await _parsed(provider)
                    # Deltas already waiting together come out as one, so check the text.
                    assert "".join(texts) == "tok " * n_chunks, len(texts)
                    events.append(len(texts))
                    parsed_times.append(took)
                    parsed_cpu.append(cpu)
        parse_only = _parse_only(captured, max(runs, 20))
    raw_c, parsed_c = statistics.median(raw_cpu[3:]), statistics.median(parsed_cpu[3:])
    raw, parsed = statistics.median(raw_times[3:]), statistics.median(parsed_times[3:])
    return {
        "raw": raw,
        "parsed": parsed,
        "raw_cpu": raw_c,
        "parsed_cpu": parsed_c,
        "overhead_pct": (parsed - raw) / raw * 100,
        "parse_us": (parsed_c - raw_c) / n_chunks * 1e6,
        "parse_only_us": parse_only / n_chunks * 1e6,
        "bytes": sum(map(len, captured)),
        "reads": len(captured),
        "deltas": statistics.median(events[3:]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--transport", choices=("httpx", "aiohttp"), default="httpx")
    args = parser.parse_args()
    ctx = mp.get_context("spawn")
    ours, theirs = ctx.Pipe()
    child = ctx.Process(target=_server_main, args=(args.chunks, theirs), daemon=True)
    child.start()
    try:
        base = ours.recv()
        r = asyncio.run(_measure(base, args.chunks, args.runs, args.transport))
    finally:
        ours.send("stop")
        child.join(10)
    verdict = "PASS" if r["parse_us"] <= TARGET_US else "FAIL"
    print(
        f"\nOpenAI SSE stream over the {args.transport} transport, {args.chunks} chunks, "
        f"{r['bytes']:,} bytes, ~{r['reads']} reads; medians of {args.runs} alternating runs\n"
    )
    print("| measurement | wall median | client CPU median |")
    print("|---|---|---|")
    print(f"| raw bytes (aiter_raw) | {r['raw'] * 1000:.2f} ms | {r['raw_cpu'] * 1000:.2f} ms |")
    print(
        f"| parsed (OpenAIProvider.stream) | {r['parsed'] * 1000:.2f} ms "
        f"| {r['parsed_cpu'] * 1000:.2f} ms |"
    )
    print(f"| parsed over raw | {r['overhead_pct']:+.1f} % | |")
    print(
        f"| **parsing CPU per chunk** (parsed - raw) | | **{r['parse_us']:.2f} µs** "
        f"(target <= {TARGET_US:.0f} µs: {verdict}) |"
    )
    print(
        f"| parse-only CPU per chunk (decoder.feed, no network) | | {r['parse_only_us']:.2f} µs |"
    )
    print(f"| TextDelta events per stream (median) | {r['deltas']:.0f} | |")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    raise SystemExit(main())
