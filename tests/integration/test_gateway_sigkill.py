"""SIGKILL the gateway process mid-load, 20 times: no completed request is lost from the
ledger and the database opens cleanly (full integrity check) every time."""

from __future__ import annotations

import asyncio
import random
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from core.ledger import Ledger
from core.pipeline.services import LEDGER_FILE
from tests.integration.gateway_support import auth, free_port, gateway_process, sim_config_text

pytestmark = pytest.mark.slow

ROUNDS = 20
CLIENTS = 16


async def _load(
    port: int, token: str, done: list[str], cut: list[int], stop: asyncio.Event
) -> None:
    url = f"http://127.0.0.1:{port}/v1/chat/completions"

    async def client(n: int) -> None:
        async with httpx.AsyncClient(headers=auth(token), timeout=10) as c:
            i = 0
            while not stop.is_set():
                stream = (n + i) % 2 == 0
                body = {
                    "model": "fast",
                    "stream": stream,
                    "messages": [{"role": "user", "content": f"c{n} q{i}"}],
                }
                i += 1
                try:
                    r = await c.post(url, json=body)
                except httpx.TransportError:
                    cut.append(n)
                    return  # the gateway died under us: this request never completed
                # Complete means the client has the whole answer: a 200 body, or a
                # stream that reached [DONE].
                if r.status_code == 200 and (not stream or r.text.rstrip().endswith("[DONE]")):
                    done.append(r.headers["x-request-id"])
                elif not stop.is_set():
                    cut.append(n)

    await asyncio.gather(*(client(n) for n in range(CLIENTS)))


async def _kill_mid_load(
    proc: subprocess.Popen[bytes],
    port: int,
    token: str,
    done: list[str],
    cut: list[int],
    delay: float,
) -> None:
    stop = asyncio.Event()
    load = asyncio.create_task(_load(port, token, done, cut, stop))
    while not done and not load.done():  # kill once the load is flowing
        await asyncio.sleep(0.01)
    await asyncio.sleep(delay)
    proc.kill()  # SIGKILL, mid-flight
    stop.set()
    await load


def test_sigkill_mid_load_loses_no_completed_request(tmp_path: Path) -> None:
    data = tmp_path / "data"
    config = tmp_path / "config.toml"
    config.write_text(sim_config_text())
    rng = random.Random(8)
    completed: list[str] = []
    cut: list[int] = []
    for _ in range(ROUNDS):
        port = free_port()
        done: list[str] = []
        with gateway_process(data, config, port) as proc:
            token = proc.token  # type: ignore[attr-defined]
            delay = rng.uniform(0.05, 0.5)
            asyncio.run(_kill_mid_load(proc, port, token, done, cut, delay))
            assert proc.wait(10) == -9
        assert done, "the load never completed a request before the kill"
        completed.extend(done)
        with Ledger.open(data / LEDGER_FILE, full_check=True) as ledger:
            missing = [rid for rid in completed if ledger.get(rid) is None]
        assert not missing, f"{len(missing)} completed requests lost"
        with closing(sqlite3.connect(data / LEDGER_FILE)) as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert len(cut) >= ROUNDS, "the kills should land while requests are in flight"
