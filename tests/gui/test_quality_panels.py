"""Spend dashboard's savings-by-source and quality-per-tier tables; quality alerts."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

pytest.importorskip("PySide6")

from app.spend.tables import QUALITY_COLUMNS
from app.spend.view import SpendDashboard
from app.widgets.formatting import fmt_usd
from core.quality.feedback import QUALITY_ALERT, QualityAlert
from tests.gui.conftest import sample_records


def test_savings_by_source_and_quality_per_tier(qtbot, make_bridge):
    bridge = make_bridge()
    engine = bridge.engine
    records = sample_records(30, days=5)
    records[-1] = replace(
        records[-1],
        context_tokens_before=9421,
        context_tokens_after=961,
        context_saved_usd=Decimal("0.0042"),
        context_actions=["window", "summary"],
    )
    records[-2] = replace(records[-2], routing_saved_usd=Decimal("0.0015"))
    engine.ledger.record_many(records)
    engine.feedback(records[0].request_id, "up")  # a fast answer
    engine.feedback(records[1].request_id, "down")  # a balanced one
    dash = SpendDashboard(bridge)
    qtbot.addWidget(dash)
    qtbot.waitUntil(lambda: dash.data is not None)

    savings = dash.savings_table
    assert [savings.text(r, 0) for r in range(savings.rowCount())] == [
        "Cache",
        "Routing (est.)",
        "Context (gross)",
        "Context summaries",
        "Context (net)",
        "Total",
    ]
    cache_usd = sum((r.saved_usd for r in records), Decimal(0))
    assert savings.text(0, 1) == fmt_usd(cache_usd)
    assert savings.text(1, 1) == fmt_usd(Decimal("0.0015"))
    assert savings.text(2, 1) == fmt_usd(Decimal("0.0042"))
    assert savings.text(5, 1) == fmt_usd(cache_usd + Decimal("0.0015") + Decimal("0.0042"))
    assert savings.text(0, 1).startswith("$")

    quality = dash.quality_table
    assert [quality.horizontalHeaderItem(c).text() for c in range(5)] == list(QUALITY_COLUMNS)
    rows = {quality.text(r, 0): r for r in range(quality.rowCount())}
    assert list(rows) == ["fast", "balanced", "premium"]
    assert quality.text(rows["fast"], 3) == "1 / 0"
    assert quality.text(rows["balanced"], 3) == "0 / 1"
    assert quality.text(rows["premium"], 1) == "0" and quality.text(rows["premium"], 2) == "–"

    loads = dash.loads
    engine.feedback(records[2].request_id, "up")  # premium
    dash.on_ledger_changed()
    qtbot.waitUntil(lambda: dash.loads > loads)
    assert quality.text(rows["premium"], 3) == "1 / 0"


def test_quality_alert_shows_in_the_banner(qtbot, make_bridge, make_window):
    bridge = make_bridge()
    window = make_window(bridge)
    alert = QualityAlert(
        "fast", "judged", 4.5, 6.0, 20, "tier fast scores 4.5 (below 6.0); recalibrate"
    )
    bridge.engine.events.emit(QUALITY_ALERT, alert)
    qtbot.waitUntil(lambda: not window.alert_banner.isHidden())
    assert window.alert_banner.text() == f"Quality alert: {alert.message}"
    assert window.statusBar().currentMessage() == window.alert_banner.text()
