"""Alerts: an open breaker and a low cache hit rate reach the banner, the status bar and
(with a system tray) a desktop notification, once per crossing."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

pytest.importorskip("PySide6")

from PySide6.QtWidgets import QSystemTrayIcon

from app.main_window import app_icon
from app.widgets.alerts import HIT_RATE_WINDOW, AlertMonitor, DesktopNotifier
from core.types import RequestRecord, Usage

FLAKY = """
[providers.flaky]
kind = "openai-compatible"
base_url = "http://flaky.test/v1"
max_attempts = 1
breaker_failure_threshold = 1
breaker_cooldown_seconds = 300

[[routing.tiers]]
id = "only"
provider = "flaky"
model = "gpt-4.1"
max_complexity = 10
"""


def record(outcome: str, i: int) -> RequestRecord:
    return RequestRecord(
        request_id=f"req_{i}",
        started_at=0.0,
        finished_at=1.0,
        provider="simulator",
        model="gpt-4.1",
        tier="fast",
        cache_outcome=outcome,
        usage=Usage(input_tokens=1, output_tokens=1),
        estimated_input_tokens=1,
        cost_usd=Decimal(0),
        saved_usd=Decimal(0),
        latency_ms=1.0,
        status="ok",
        simulated=True,
        prompt="p",
        response="r",
    )


def test_an_open_breaker_is_announced_once(qtbot, make_bridge, make_window):
    def down(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, json={"error": {"message": "overloaded"}})

    bridge = make_bridge(
        FLAKY, client_factory=lambda: httpx.AsyncClient(transport=httpx.MockTransport(down))
    )
    window = make_window(bridge)
    alerts: list[str] = []
    window.alerts.alert.connect(lambda kind, text: alerts.append(kind))
    for _ in range(2):
        future = bridge.run(bridge.engine.ask("hello", use_cache=False).collect())
        with pytest.raises(Exception):  # noqa: B017 - any provider failure will do
            future.result(10)
    qtbot.waitUntil(lambda: alerts == ["breaker"], timeout=5000)
    text = window.alert_banner.text()
    assert "Circuit breaker open for flaky/gpt-4.1" in text
    assert window.alert_banner.isVisibleTo(window)
    assert "Circuit breaker open" in window.statusBar().currentMessage()
    qtbot.wait(200)
    assert alerts == ["breaker"]  # the second failure does not repeat it


def test_low_hit_rate_alerts_once_per_crossing(qtbot, make_bridge):
    monitor = AlertMonitor(make_bridge())
    seen: list[tuple[str, str]] = []
    monitor.alert.connect(lambda kind, text: seen.append(("alert", text)))
    monitor.resolved.connect(lambda kind, text: seen.append(("resolved", text)))
    monitor._count_cache_outcome(record("miss", 0))
    assert seen == []  # not judged before a full window
    for i in range(1, HIT_RATE_WINDOW + 10):
        monitor._count_cache_outcome(record("miss", i))
    assert len(seen) == 1 and seen[0][0] == "alert"
    assert "0% of the last 50 requests" in seen[0][1] and "below 40%" in seen[0][1]
    for i in range(HIT_RATE_WINDOW):
        monitor._count_cache_outcome(record("exact" if i % 2 else "semantic", i))
    assert [k for k, _ in seen] == ["alert", "resolved"]
    for i in range(HIT_RATE_WINDOW):
        monitor._count_cache_outcome(record("miss", i))
    assert [k for k, _ in seen] == ["alert", "resolved", "alert"]


def test_alerts_become_desktop_notifications_when_there_is_a_tray(qtbot, monkeypatch):
    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(QSystemTrayIcon, "isSystemTrayAvailable", staticmethod(lambda: True))
    monkeypatch.setattr(
        QSystemTrayIcon, "showMessage", lambda self, title, text, *a: shown.append((title, text))
    )
    monkeypatch.setattr(QSystemTrayIcon, "show", lambda self: None)
    notifier = DesktopNotifier(app_icon())
    assert notifier.available
    assert notifier.notify("Centwise", "Budget alert: 80% of the daily budget")
    assert shown == [("Centwise", "Budget alert: 80% of the daily budget")]


def test_no_tray_no_notification(qtbot):
    # The offscreen platform has no system tray: alerts stay in the window.
    notifier = DesktopNotifier(app_icon())
    assert notifier.available is QSystemTrayIcon.isSystemTrayAvailable()
    if not notifier.available:
        assert notifier.notify("Centwise", "x") is False
