"""The app follows a shared PostgreSQL ledger by LISTEN/NOTIFY, not by polling."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from app.runtime.engine_bridge import EngineBridge
from app.runtime.ledger_watcher import LedgerWatcher
from core.config import parse_config
from core.engine import Engine
from tests.conftest import INSTANT_SIM


def test_another_machines_request_is_pushed_at_once(
    qtbot,  # type: ignore[no-untyped-def]
    make_bridge: Callable[..., EngineBridge],
    pg_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("CENTWISE_DATABASE_URL", pg_url)
    bridge = make_bridge()
    # Polling every minute: only a notification can bring the row within seconds.
    watcher = LedgerWatcher(bridge, interval_ms=60_000, pushed_interval_ms=60_000)
    watcher.start()
    try:
        assert watcher.pushed
        qtbot.wait(800)  # the marker is read and LISTEN is in place
        other = Engine.open(parse_config(INSTANT_SIM, "t.toml"), tmp_path / "laptop-b")
        try:
            with qtbot.waitSignal(watcher.changed, timeout=5000) as blocker:
                asyncio.run(other.ask("from the other laptop").collect())
        finally:
            other.close()
        assert [r.prompt for r in blocker.args[0]] == ["from the other laptop"]
    finally:
        watcher.stop()


def test_sqlite_ledger_is_polled(make_bridge: Callable[..., EngineBridge]) -> None:
    watcher = LedgerWatcher(make_bridge(), interval_ms=1500)
    watcher.start()
    try:
        assert not watcher.pushed
    finally:
        watcher.stop()
