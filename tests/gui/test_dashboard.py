"""Spend dashboard: plot items hold the ledger's numbers, per range, and update live."""

from __future__ import annotations

import time

import pytest

pytest.importorskip("PySide6")

from app.spend.view import SpendDashboard
from tests.gui.conftest import sample_records


def test_ranges_and_budget_lines(qtbot, make_bridge):
    bridge = make_bridge("[budget]\ndaily_usd = 0.5\nmonthly_usd = 5\nhard_limit = false\n")
    records = sample_records(90, days=25)
    bridge.engine.ledger.record_many(records)
    dash = SpendDashboard(bridge)
    qtbot.addWidget(dash)
    qtbot.waitUntil(lambda: dash.data is not None)
    assert dash.data.summary.totals.requests == 90
    assert len(dash.data.day_stamps) == 30  # the whole range, empty days too
    stacked = sum(sum(bars.opts["height"]) for bars in dash.tier_bars.values())
    assert stacked == pytest.approx(float(dash.data.summary.totals.cost_usd))
    assert dash.monthly_line.isVisible() or not dash.isVisible()
    assert dash.monthly_line.value() == pytest.approx(5.0)
    assert dash.daily_line.value() == pytest.approx(0.5)
    assert dash.tier_plot.getPlotItem().getAxis("left").labelText == "spend ($)"
    assert dash.cache_plot.getPlotItem().getAxis("right").labelText == "cache hit rate (%)"
    assert dash.hit_rate_alert.value() == pytest.approx(40.0)  # min_cache_hit_rate 0.4

    loads = dash.loads
    dash.set_range("7 days")
    qtbot.waitUntil(lambda: dash.loads > loads)
    assert len(dash.data.day_stamps) == 7
    week_ago = time.time() - 7 * 86400
    assert sum(dash.data.requests) <= sum(1 for r in records if r.finished_at >= week_ago - 86400)
    _, requests = dash.requests_curve.getData()
    assert list(requests) == dash.data.requests

    loads = dash.loads
    dash.set_range("Today")
    qtbot.waitUntil(lambda: dash.loads > loads)
    assert len(dash.data.day_stamps) == 1
    spent, _projected = dash.today_bars.opts["height"]
    assert spent == pytest.approx(float(dash.data.summary.today.cost_usd))


def test_refreshes_coalesce(qtbot, make_bridge):
    bridge = make_bridge()
    dash = SpendDashboard(bridge)
    qtbot.addWidget(dash)
    for _ in range(5):
        dash.on_ledger_changed()
    qtbot.waitUntil(lambda: dash.loads >= 2 and not dash._loading)
    assert dash.loads <= 3
