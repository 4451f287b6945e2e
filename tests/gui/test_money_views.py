"""Amounts in the views read as everywhere else: a few significant digits below a cent,
never zero for a non-zero amount, thousands separators, the exact value in tooltips, and
no exponent on a dollar axis."""

from __future__ import annotations

import dataclasses
import re
from decimal import Decimal

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt

from app.history.view import HistoryView
from app.spend.view import SpendDashboard
from tests.gui.conftest import sample_records

EXPONENT = re.compile(r"\d[eE][-+]?\d")
TINY = Decimal("0.000026123")  # what a short prompt costs on a nano model
LARGE = Decimal("1234.5")


def _records() -> list:
    """Two requests today: one costing $0.000026123, one costing $1,234.50."""
    base = sample_records(2, days=1)
    return [
        dataclasses.replace(base[0], cost_usd=TINY, saved_usd=Decimal(0), status="ok"),
        dataclasses.replace(base[1], cost_usd=LARGE, saved_usd=TINY, status="ok"),
    ]


def _axis_labels(plot, side: str) -> list[str]:
    axis = plot.getPlotItem().getAxis(side)
    low, high = axis.range
    labels: list[str] = []
    for spacing, values in axis.tickValues(low, high, 400):
        labels += axis.tickStrings(values, 1.0, spacing)
    return labels


def test_spend_summary_tables_and_axes(qtbot, make_bridge):
    bridge = make_bridge("[budget]\ndaily_usd = 2000\nmonthly_usd = 1000000\n")
    bridge.engine.ledger.record_many(_records())
    dash = SpendDashboard(bridge)
    qtbot.addWidget(dash)
    qtbot.waitUntil(lambda: dash.data is not None)
    summary = dash.summary_label.text()
    assert "spent $1,234.50" in summary  # both requests, with a thousands separator
    assert "saved $0.0000261" in summary  # a non-zero amount never reads $0.0000
    shown = dash.monthly_line.label.textItem.toPlainText()  # as drawn on the chart
    assert shown == "monthly budget $1,000,000.00"
    assert dash.daily_line.label.textItem.toPlainText() == "daily budget $2,000.00"

    labels = [label for plot in dash.plots() for label in _axis_labels(plot, "left")]
    assert labels and any(label.startswith("$") for label in labels)
    assert not [label for label in labels if EXPONENT.search(label)], labels


def test_history_cells_read_short_and_tooltips_exact(qtbot, make_bridge):
    bridge = make_bridge()
    bridge.engine.ledger.record_many(_records())
    view = HistoryView(bridge)
    qtbot.addWidget(view)
    model = view.model
    cost = [name for name, _ in type(model).columns].index("Cost")
    qtbot.waitUntil(lambda: model.rowCount() == 2 and model.record_at(1) is not None)
    cells = {
        model.data(model.index(row, cost), Qt.ItemDataRole.DisplayRole): model.data(
            model.index(row, cost), Qt.ItemDataRole.ToolTipRole
        )
        for row in range(2)
    }
    assert cells == {
        "$0.0000261": "$0.000026123 exactly",
        "$1,234.50": "$1,234.50 exactly",
    }
