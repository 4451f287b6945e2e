"""Team mode under load: several ``centwise serve`` processes and CLI writers on one
PostgreSQL database, under a hard daily budget, with a gateway killed (``kill -9``) and
the database restarted mid-load. Used by tests/integration/test_team_load.py and by
``python -m tests.benchmarks.bench_team_load`` (the whole 1,000 requests, with figures).

What is checked afterwards, from the database itself:

* the day's spend never exceeds the budget;
* every request answered (HTTP 200, or a CLI line with status ok) is in the ledger;
* the rollups equal the sums over ``requests`` (nothing half-written by the kill or
  the restart), and no request id is there twice;
* service resumed after the restart (answers after it).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import httpx

from core.config import parse_config
from core.engine import Engine
from core.ledger.postgres import PgLedger
from core.money import from_pusd
from tests.integration.gateway_support import free_port, gateway_process, sim_config_text
from tests.pg_server import PgServer

__all__ = ["LoadResult", "run_team_load"]


@dataclass
class LoadResult:
    requests: int
    statuses: Counter[int] = field(default_factory=Counter)
    answered: set[str] = field(default_factory=set)
    cli_answered: set[str] = field(default_factory=set)
    cli_refused: int = 0
    answered_after_restart: int = 0
    #: Answers (200) and budget refusals (429) after the restart: the service is back.
    served_after_restart: int = 0
    ledger_rows: int = 0
    spent_usd: Decimal = Decimal(0)
    budget_usd: Decimal = Decimal(0)
    missing: set[str] = field(default_factory=set)
    rollup_matches: bool = False
    duplicates: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        s = dict(sorted(self.statuses.items()))
        return (
            f"{self.requests} gateway requests in {self.seconds:.1f} s: statuses {s}; "
            f"{len(self.answered)} answered by gateways, {len(self.cli_answered)} by CLI "
            f"writers ({self.cli_refused} refused); {self.answered_after_restart} answered "
            f"after the database restart ({self.served_after_restart} served, refusals included); ledger rows {self.ledger_rows}; spent "
            f"${self.spent_usd} of the ${self.budget_usd} daily budget; answered but "
            f"missing from the ledger: {len(self.missing)}; rollups match rows: "
            f"{self.rollup_matches}; duplicate ids: {self.duplicates}"
        )


def _cli_writer(
    env: dict[str, str], batch: Path, out: list[dict[str, object]], errors: list[str]
) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "core", "ask", "--batch", str(batch), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            out.append(json.loads(line))
    # A batch stops at a storage error (the database restarting): the lines before it
    # were answered and must be in the ledger; a traceback is a real failure.
    if "Traceback" in proc.stderr:
        errors.append(proc.stderr[-2000:])


async def _drive(
    ports: list[int],
    key: str,
    n: int,
    concurrency: int,
    result: LoadResult,
    events: dict[int, object],
) -> None:
    """``n`` chat requests spread over the gateways; ``events`` maps a request number to
    a callable run (in a thread) when that many have been sent."""
    dead: set[int] = set()
    restarted_at: list[float] = []
    counter = iter(range(n))
    limits = httpx.Limits(max_connections=concurrency * 2)
    async with httpx.AsyncClient(trust_env=False, timeout=60, limits=limits) as client:

        async def one(i: int) -> None:
            action = events.get(i)
            if action is not None:
                await asyncio.to_thread(action)  # type: ignore[arg-type]
                if action is events.get(-1):
                    restarted_at.append(time.monotonic())
            live = [p for p in ports if p not in dead]
            port = live[i % len(live)]
            body = {
                "model": "auto",
                "messages": [{"role": "user", "content": f"load request {i}: say hello"}],
                "max_tokens": 200,
            }
            try:
                r = await client.post(
                    f"http://127.0.0.1:{port}/v1/chat/completions",
                    json=body,
                    headers={"Authorization": f"Bearer {key}"},
                )
            except httpx.TransportError:
                result.statuses[0] += 1
                if port not in dead and events.get(-2) == port:
                    dead.add(port)
                return
            result.statuses[r.status_code] += 1
            if restarted_at and r.status_code in (200, 429):
                result.served_after_restart += 1
            if r.status_code == 200:
                result.answered.add(r.headers["x-request-id"])
                if restarted_at:
                    result.answered_after_restart += 1

        async def worker() -> None:
            for i in counter:
                await one(i)

        await asyncio.gather(*(worker() for _ in range(concurrency)))


def run_team_load(
    pg: PgServer,
    workdir: Path,
    *,
    requests: int = 1000,
    gateways: int = 3,
    cli_writers: int = 2,
    cli_requests: int = 15,
    daily_usd: Decimal = Decimal("0.012"),
    concurrency: int = 24,
    kill_at: float | None = 0.3,
    restart_at: float | None = 0.6,
    reservation: str | None = None,
) -> LoadResult:
    """Run the load and check the database; see the module docstring."""
    url = pg.create_database()
    extra = f"[budget]\ndaily_usd = {daily_usd}\nhard_limit = true\n"
    if reservation is not None:
        extra += f'reservation = "{reservation}"\n'
    config_path = workdir / "centwise.toml"
    config_path.write_text(sim_config_text(extra))
    os.environ["CENTWISE_DATABASE_URL"] = url
    try:
        setup = Engine.open(parse_config(config_path.read_text(), "t.toml"), workdir / "setup")
        key, _ = setup.create_gateway_key("load-test")
        setup.close()
        result = LoadResult(requests, budget_usd=daily_usd)
        env = {**os.environ, "CENTWISE_CONFIG": str(config_path)}
        started = time.monotonic()
        with ExitStack() as stack:
            cli_out: list[dict[str, object]] = []
            cli_errors: list[str] = []
            threads = []
            for w in range(cli_writers):
                batch = workdir / f"cli{w}.jsonl"
                batch.write_text(
                    "".join(
                        json.dumps({"prompt": f"cli writer {w} request {j}"}) + "\n"
                        for j in range(cli_requests)
                    )
                )
                data = workdir / f"cli{w}"
                t = threading.Thread(
                    target=_cli_writer,
                    args=({**env, "CENTWISE_DATA_DIR": str(data)}, batch, cli_out, cli_errors),
                )
                t.start()
                threads.append(t)
            # The writers start first: they then run alongside the gateways' load.
            ports = [free_port() for _ in range(gateways)]
            procs = [
                stack.enter_context(gateway_process(workdir / f"gw{i}", config_path, port))
                for i, port in enumerate(ports)
            ]

            def kill() -> None:
                procs[0].send_signal(signal.SIGKILL)
                procs[0].wait(10)

            def restart() -> None:
                pg.stop("fast")
                time.sleep(0.5)
                pg.start()

            events: dict[int, object] = {}
            if kill_at is not None and gateways > 1:
                events[int(requests * kill_at)] = kill
                events[-2] = ports[0]
            if restart_at is not None:
                events[int(requests * restart_at)] = restart
                events[-1] = restart
            asyncio.run(_drive(ports, key, requests, concurrency, result, events))
            for t in threads:
                t.join()
            if cli_errors:
                raise RuntimeError("a CLI writer failed: " + cli_errors[0])
        result.seconds = time.monotonic() - started
        for line in cli_out:
            if line.get("status") == "ok":
                result.cli_answered.add(str(line["request_id"]))
            elif line.get("status") == "refused":
                result.cli_refused += 1
        _check(url, result)
        return result
    finally:
        os.environ.pop("CENTWISE_DATABASE_URL", None)


def _check(url: str, result: LoadResult) -> None:
    with PgLedger.connect(url) as led, led.reading() as conn:
        ids = [r[0] for r in conn.execute("SELECT request_id FROM requests").fetchall()]
        result.ledger_rows = len(ids)
        result.duplicates = len(ids) - len(set(ids))
        spent = conn.execute(
            "SELECT day, COALESCE(SUM(cost_pusd), 0) FROM requests GROUP BY day"
        ).fetchall()
        result.spent_usd = max((from_pusd(int(s)) for _, s in spent), default=Decimal(0))
        rows = conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(cost_pusd), 0), COALESCE(SUM(input_tokens), 0)"
            " FROM requests"
        ).fetchone()
        rolled = conn.execute(
            "SELECT COALESCE(SUM(n), 0), COALESCE(SUM(cost_pusd), 0),"
            " COALESCE(SUM(input_tokens), 0) FROM daily_rollup"
        ).fetchone()
        monthly = conn.execute(
            "SELECT COALESCE(SUM(n), 0), COALESCE(SUM(cost_pusd), 0),"
            " COALESCE(SUM(input_tokens), 0) FROM monthly_rollup"
        ).fetchone()
        result.rollup_matches = tuple(rows) == tuple(rolled) == tuple(monthly)
    present = set(ids)
    result.missing = (result.answered | result.cli_answered) - present
