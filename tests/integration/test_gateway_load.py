"""Reliability under load: a hard daily budget holds at 1,000 requests from 100 clients,
and the gateway and another engine share one ledger."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from core.gateway import PURPOSE
from core.ledger import LedgerFilter
from tests.integration.gateway_support import (
    auth,
    free_port,
    gateway_process,
    open_engine,
    running_gateway,
    sim_config_text,
)

pytestmark = pytest.mark.slow

CLIENTS, PER_CLIENT = 100, 10
DAILY = Decimal("0.004")
BUDGET = f"[budget]\ndaily_usd = {DAILY}\nmax_output_tokens = 200\n"


async def _client(base: str, client_no: int, out: list[tuple[int, str, str]]) -> None:
    limits = httpx.Limits(max_connections=1)
    async with httpx.AsyncClient(base_url=base, headers=auth(), limits=limits, timeout=60) as c:
        for i in range(PER_CLIENT):
            body = {
                "model": "fast",
                "stream": (client_no + i) % 2 == 0,
                "messages": [{"role": "user", "content": f"client {client_no} asks {i}: why?"}],
            }
            r = await c.post("/v1/chat/completions", json=body)
            out.append((r.status_code, r.headers["x-request-id"], r.text))


def test_thousand_requests_never_overshoot_a_hard_daily_budget(tmp_path: Path) -> None:
    data = tmp_path / "data"
    results: list[tuple[int, str, str]] = []
    with running_gateway(data, BUDGET) as gw:

        async def main() -> None:
            await asyncio.gather(*(_client(gw.url, n, results) for n in range(CLIENTS)))

        asyncio.run(main())
    assert len(results) == CLIENTS * PER_CLIENT
    by_status: dict[int, list[str]] = {}
    for status, rid, text in results:
        by_status.setdefault(status, []).append(rid)
        if status == 429:
            assert "refused by the daily budget" in text
        else:
            assert status == 200, text
            assert '"error"' not in text  # no failure hidden inside a stream
    ok, refused = by_status.get(200, []), by_status.get(429, [])
    assert ok and refused, f"the test needs both outcomes, got {len(ok)} ok, {len(refused)} refused"
    engine = open_engine(data, BUDGET)
    try:
        rows = engine.history(0, 5000)
        spent = engine.spend_summary().today.cost_usd
    finally:
        engine.close()
    assert len(rows) == CLIENTS * PER_CLIENT and {r.purpose for r in rows} == {PURPOSE}
    status_of = {r.request_id: r.status for r in rows}
    assert {rid for rid in ok} == {k for k, v in status_of.items() if v == "ok"}
    assert {rid for rid in refused} == {k for k, v in status_of.items() if v == "refused"}
    assert sum(r.cost_usd or 0 for r in rows) == spent
    assert spent <= DAILY
    assert all(r.cost_usd and r.cost_usd > 0 for r in rows if r.status == "ok")


def test_another_engine_sees_gateway_rows_from_another_process(tmp_path: Path) -> None:
    """The GUI's engine and a gateway process write one ledger at once; each sees both."""
    data = tmp_path / "data"
    config = tmp_path / "config.toml"
    config.write_text(sim_config_text())
    gui = open_engine(data)
    try:
        marker = gui.latest_change()
        port = free_port()
        with gateway_process(data, config, port) as proc:
            headers = auth(proc.token)  # type: ignore[attr-defined]
            url = f"http://127.0.0.1:{port}/v1/chat/completions"
            body = {"model": "fast", "messages": [{"role": "user", "content": "hi"}]}

            async def both() -> list[str]:
                async with httpx.AsyncClient(headers=headers, timeout=30) as c:
                    gateway = [c.post(url, json=body) for _ in range(20)]
                    local = [gui.ask(f"local {i}", model="fast").collect() for i in range(20)]
                    done = await asyncio.gather(*gateway, *local)
                return [r.headers["x-request-id"] for r in done[:20]]  # type: ignore[union-attr]

            gateway_ids = asyncio.run(both())
        seen = gui.changes_since(marker)
        assert {r.request_id for r in seen if r.purpose == PURPOSE} == set(gateway_ids)
        assert sum(r.purpose == "user" for r in seen) == 20
        assert gui.history_count(LedgerFilter(status="ok")) == 40
    finally:
        asyncio.run(gui.aclose())
