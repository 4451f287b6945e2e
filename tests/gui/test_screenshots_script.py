"""The screenshots' text check: the seven main views over a ledger of tiny amounts read
without an exponent or a long zero, and the check does flag both (so it can fail)."""

from __future__ import annotations

import importlib.util
import re
import sys
from decimal import Decimal
from pathlib import Path
from types import ModuleType

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")

import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from app.main_window import KEYS
from tests.gui.conftest import sample_records

#: Not importable by name: the folder would shadow the ``packaging`` distribution.
CHECKS = Path(__file__).resolve().parents[2] / "packaging" / "screenshot_checks.py"
TINY = re.compile(r"\$0\.0000\d")  # "$0.000021": three significant digits below a cent


@pytest.fixture(scope="module")
def checks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("screenshot_checks", CHECKS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _texts(checks: ModuleType, widget: QWidget) -> list[tuple[str, str]]:
    return list(checks.visible_texts(widget))


def _show(qtbot, window, key: str) -> QWidget:
    window.show_view(key)
    view = window.view(key)
    if key == "dashboard":
        qtbot.waitUntil(lambda: view.data is not None and view.data.summary.totals.requests > 0)
    elif key == "history":
        qtbot.waitUntil(lambda: view.model.rowCount() > 0 and view.model.record_at(0) is not None)
        view.table.selectRow(0)
    qtbot.wait(150)
    return view


def test_main_views_read_without_exponent_or_long_zero(qtbot, make_bridge, make_window, checks):
    bridge = make_bridge("[budget]\ndaily_usd = 0.05\nmonthly_usd = 0.6\nhard_limit = false\n")
    bridge.engine.ledger.record_many(sample_records(40, days=12))  # $0.000021 to $0.000063
    window = make_window(bridge)
    window.resize(1280, 820)
    window.show()
    qtbot.waitExposed(window)
    playground = window.view("playground")
    playground.prompt.setPlainText("What is a token?")
    playground.model.setCurrentText("fast")
    with qtbot.waitSignal(playground.reply_finished, timeout=10000) as blocker:
        playground.send_button.click()
    assert blocker.args[0].cost_usd < Decimal("0.0001")  # a few millionths of a dollar

    seen: dict[str, list[tuple[str, str]]] = {}
    for key in KEYS:
        view = _show(qtbot, window, key)
        assert view.isVisible()
        problems = checks.find_text_problems(window)
        assert not problems, "\n".join(checks.summarize(problems))
        seen[key] = _texts(checks, window)

    # The check read the tiny amounts and the chart axes, so a clean result means something.
    for key in ("playground", "history"):
        assert any(TINY.search(text) for _, text in seen[key]), key
    axes = [text for where, text in seen["dashboard"] if " axis" in where]
    assert any(text.startswith("$") for text in axes)
    assert any(" row " in where for where, _ in seen["history"])


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("5e-05", "scientific notation"),
        ("$2.6E-5 spent", "scientific notation"),
        ("$0.0000", "long zero"),
        ("saved $0.000000 today", "long zero"),
    ],
)
def test_check_flags_a_label(qtbot, checks, text, problem):
    box = QWidget()
    qtbot.addWidget(box)
    layout = QVBoxLayout(box)
    box.label = QLabel(text)
    layout.addWidget(box.label)
    layout.addWidget(QLabel("$0.00 · $0.000026 · $1,234.57 · req_3e5a"))
    box.show()
    qtbot.waitExposed(box)
    problems = checks.find_text_problems(box)
    assert [(p.where, p.text, p.problem) for p in problems] == [("QWidget.label", text, problem)]
    box.label.hide()  # what does not show is not checked
    assert checks.find_text_problems(box) == []


def test_check_flags_a_table_cell_and_an_axis_tick(qtbot, checks):
    box = QWidget()
    qtbot.addWidget(box)
    layout = QVBoxLayout(box)
    table = QTableWidget(3, 2)
    table.setHorizontalHeaderLabels(["Model", "Cost"])
    for row, cost in enumerate(("$0.000026", "$0.000000", "$0.25")):
        table.setItem(row, 0, QTableWidgetItem("gpt-4.1-nano"))
        table.setItem(row, 1, QTableWidgetItem(cost))
    plot = pg.PlotWidget()  # pyqtgraph's own tick labels: "5e-06" below 0.001
    plot.getPlotItem().getAxis("left").enableAutoSIPrefix(False)
    plot.setYRange(0, 0.00002, padding=0)
    layout.addWidget(table)
    layout.addWidget(plot)
    box.resize(500, 500)
    box.show()
    qtbot.waitExposed(box)
    problems = checks.find_text_problems(box)
    cells = [p for p in problems if p.problem == "long zero"]
    assert [(p.where, p.row, p.text) for p in cells] == [("QTableWidget Cost", 1, "$0.000000")]
    ticks = [p for p in problems if p.problem == "scientific notation"]
    assert ticks and all(p.where == "PlotWidget left axis" for p in ticks)
    assert len(problems) == len(cells) + len(ticks)
