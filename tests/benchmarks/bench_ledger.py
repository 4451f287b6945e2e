"""Ledger benchmark: build a large ledger, then time the aggregates and inserts.

    python tests/benchmarks/bench_ledger.py [--rows 1000000] [--runs 20] [--keep DIR]

Prints a markdown table of p50 / max milliseconds. Target: every aggregate <= 50 ms.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

from core.ledger import Ledger, LedgerFilter
from core.ledger.postgres import PgLedger
from core.types import Attempt, RequestRecord, Usage

TIERS = {
    "fast": ("openai", "gpt-4.1-nano"),
    "balanced": ("openai", "gpt-4.1-mini"),
    "premium": ("anthropic", "claude-sonnet-4"),
}
FALLBACK = ("gemini", "gemini-2.5-flash")
SPAN_S = 365 * 86400
CHUNK = 50_000


def synthetic(n: int, end: float, seed: int = 1) -> Iterator[RequestRecord]:
    """``n`` plausible records spread evenly over the year before ``end``."""
    rng = random.Random(seed)
    step = SPAN_S / n
    start = end - SPAN_S
    prompt = "Summarise the following meeting notes for the weekly report, please. " * 2
    for i in range(n):
        tier = rng.choices(list(TIERS), weights=(6, 3, 1))[0]
        provider, model = FALLBACK if rng.random() < 0.03 else TIERS[tier]
        status = rng.choices(["ok", "error", "refused"], weights=(95, 4, 1))[0]
        cache = rng.choices(["miss", "exact", "semantic"], weights=(80, 12, 8))[0]
        t = start + i * step
        unknown = rng.random() < 0.01
        cost = Decimal(rng.randrange(1, 5 * 10**9)).scaleb(-12)
        yield RequestRecord(
            request_id=f"bench-{i:08d}",
            started_at=t - 1.2,
            finished_at=t,
            purpose=rng.choices(["user", "eval", "router"], weights=(90, 8, 2))[0],
            provider=provider,
            model=model,
            tier=tier,
            route_score=rng.random(),
            route_reasons=[{"rule": "length", "score": 0.4}],
            cache_outcome=cache,
            usage=Usage(rng.randrange(50, 4000), rng.randrange(10, 800), 0, 0, 0),
            cost_usd=None if unknown else cost,
            cost_known=not unknown,
            saved_usd=cost if cache != "miss" else Decimal(0),
            latency_ms=rng.uniform(100, 3000),
            attempts=[Attempt(provider, model, status, cost_usd=cost)],
            status=status,
            prompt=f"{prompt} #{i}",
            response="Here is the summary: the team agreed on the plan and next steps.",
        )


def build(path: Path, rows: int, end: float, url: str | None = None) -> float:
    """Bulk-load ``rows`` records in chunks; returns seconds taken."""
    t0 = time.perf_counter()
    with Ledger.open(path) if url is None else PgLedger.connect(url) as led:
        batch: list[RequestRecord] = []
        for rec in synthetic(rows, end):
            batch.append(rec)
            if len(batch) == CHUNK:
                led.record_many(batch)
                batch.clear()
        led.record_many(batch)
    return time.perf_counter() - t0


def timed(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    """p50 and max in milliseconds over ``runs`` calls."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), max(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--keep", type=Path, help="build (or reuse) the ledger in this dir")
    parser.add_argument(
        "--postgres", action="store_true", help="on a local PostgreSQL the benchmark starts"
    )
    args = parser.parse_args()
    end = time.time() - 3600
    if args.postgres:
        from tests.pg_server import PgServer

        server = PgServer().init().start()
        try:
            url = server.create_database()
            print(f"building {args.rows:,} rows ... {build(Path(), args.rows, end, url):.1f} s")
            with PgLedger.connect(url) as led:
                led.vacuum_analyze()
                run(led, args.runs, end)
        finally:
            server.destroy()
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = (args.keep or Path(tmp)) / f"bench-{args.rows}.db"
        if not path.exists():
            print(f"building {args.rows:,} rows ... {build(path, args.rows, end):.1f} s")
        t0 = time.perf_counter()
        Ledger.open(path, full_check=False).close()
        light_ms = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        led = Ledger.open(path)
        open_ms = (time.perf_counter() - t0) * 1000
        print(f"\nopen: {open_ms:.0f} ms (full quick_check), {light_ms:.0f} ms (full_check=False)")
        with led:
            run(led, args.runs, end)


def run(led: Ledger, runs: int, end: float) -> None:
    cases: list[tuple[str, Callable[[], object]]] = [
        ("totals()", led.totals),
        ("breakdown('tier')", lambda: led.breakdown("tier")),
        ("breakdown('model')", lambda: led.breakdown("model")),
        ("daily_series()", led.daily_series),
        ("daily_series(by='tier')", lambda: led.daily_series(by="tier")),
        ("period_spend(now)", lambda: led.period_spend(end)),
        ("spend_between(last hour)", lambda: led.spend_between(end - 3600, end)),
        ("page(0, 100)", lambda: led.page(0, 100)),
        ("page(0, 100, tier=premium)", lambda: led.page(0, 100, LedgerFilter(tier="premium"))),
        ("count()", led.count),
        ("count(tier, status)", lambda: led.count(LedgerFilter(tier="fast", status="error"))),
    ]
    print(f"rows: {led.count():,}\n")
    print("| operation | p50 ms | max ms | ≤ 50 ms |")
    print("|---|---:|---:|:-:|")
    for name, fn in cases:
        p50, worst = timed(fn, runs)
        print(f"| {name} | {p50:.2f} | {worst:.2f} | {'yes' if worst <= 50 else 'NO'} |")
    for name, p50, worst in write_cases(led, end, runs=max(runs, 200)):
        print(f"| {name} | {p50:.3f} | {worst:.3f} | – |")


def write_cases(led: Ledger, end: float, runs: int) -> list[tuple[str, float, float]]:
    records = iter(synthetic(runs, end + 3600, seed=99))
    fresh = [
        RequestRecord(**{**_fields(r), "request_id": f"live-{i}"}) for i, r in enumerate(records)
    ]
    it = iter(fresh)
    rec_p50, rec_max = timed(lambda: led.record(next(it)), runs)
    ids = iter(range(runs))
    res_p50, res_max = timed(
        lambda: led.release(led.reserve(f"hold-{next(ids)}", 1000, end, lambda s: None)), runs
    )
    return [("record() one row", rec_p50, rec_max), ("reserve()+release()", res_p50, res_max)]


def _fields(rec: RequestRecord) -> dict[str, object]:
    return {name: getattr(rec, name) for name in rec.__dataclass_fields__}


if __name__ == "__main__":
    main()
