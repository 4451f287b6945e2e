"""Several processes on one ledger file: no lost writes, no jointly overshot budget."""

from __future__ import annotations

import multiprocessing as mp
import sqlite3
import time
from collections.abc import Callable
from contextlib import closing
from decimal import Decimal
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import pytest

from core.errors import BudgetExceededError
from core.ledger import Ledger, PeriodSpend
from core.money import from_pusd
from core.types import RequestRecord, Usage

pytestmark = pytest.mark.slow

WRITES = 500
LIMIT_PUSD = 10_000
AMOUNT_PUSD = 70  # 142 holds fit under the limit; 2 x 120 tries ask for more
TRIES = 120
NOW = time.mktime((2025, 3, 14, 12, 0, 0, 0, 0, -1))


def _writer(path: str, worker: int, start: Event, out: Queue[int]) -> None:
    """Record WRITES requests, each in its own transaction."""
    start.wait()
    with Ledger.open(path) as led:
        for i in range(WRITES):
            now = time.time()
            led.record(
                RequestRecord(
                    f"w{worker}-{i}",
                    now,
                    now,
                    usage=Usage(10, 5),
                    cost_usd=Decimal("0.000001"),
                )
            )
    out.put(WRITES)


def _reserver(path: str, worker: int, start: Event, out: Queue[tuple[int, int]]) -> None:
    """Try TRIES holds against the shared daily limit; report (granted, refused)."""

    def check(spend: PeriodSpend) -> None:
        if spend.day_committed_pusd + AMOUNT_PUSD > LIMIT_PUSD:
            raise BudgetExceededError(
                "daily limit", budget="daily", spent_usd=spend.day_spent_pusd, limit_usd=LIMIT_PUSD
            )

    granted = refused = 0
    start.wait()
    with Ledger.open(path) as led:
        for i in range(TRIES):
            try:
                rid = led.reserve(f"p{worker}-{i}", AMOUNT_PUSD, NOW, check)
            except BudgetExceededError:
                refused += 1
                continue
            granted += 1
            if i % 3 == 0:  # some requests finish: the hold becomes spend (a bit less)
                led.record(
                    RequestRecord(f"p{worker}-{i}", NOW, NOW, cost_usd=from_pusd(AMOUNT_PUSD - 1)),
                    reservation_id=rid,
                )
    out.put((granted, refused))


def _spawn(target: Callable[..., None], path: str) -> list[Any]:
    """Run ``target(path, worker, start, out)`` in two spawned processes at once."""
    ctx = mp.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=target, args=(path, w, start, out)) for w in (0, 1)]
    for p in procs:
        p.start()
    start.set()  # both are up: release them together
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    return results


def test_two_processes_write_concurrently_without_loss(tmp_path: Path) -> None:
    path = str(tmp_path / "ledger.db")
    Ledger.open(path).close()
    assert _spawn(_writer, path) == [WRITES, WRITES]
    with Ledger.open(path) as led:
        assert led.count() == 2 * WRITES
        totals = led.totals()
        assert totals.requests == 2 * WRITES
        assert totals.cost_usd == Decimal("0.000001") * 2 * WRITES
        ids = {r.request_id for r in led.iter_records()}
    assert ids == {f"w{w}-{i}" for w in (0, 1) for i in range(WRITES)}
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_concurrent_reservations_never_overshoot_a_hard_limit(tmp_path: Path) -> None:
    path = str(tmp_path / "ledger.db")
    Ledger.open(path).close()
    results = _spawn(_reserver, path)
    granted = sum(g for g, _ in results)
    assert sum(g + r for g, r in results) == 2 * TRIES
    assert all(g > 0 for g, _ in results), "both processes should get some holds"
    with Ledger.open(path) as led:
        spend = led.period_spend(NOW)
    assert spend.day_committed_pusd <= LIMIT_PUSD
    # Every hold that fits was granted: the limit was reached, not merely respected.
    assert spend.day_committed_pusd + AMOUNT_PUSD > LIMIT_PUSD
    assert granted >= LIMIT_PUSD // AMOUNT_PUSD
