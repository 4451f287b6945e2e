"""What if…: edit a copy, replay the history under it off-thread, apply it after asking."""

from __future__ import annotations

import asyncio
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from PySide6.QtWidgets import QMessageBox

from app.main_window import AppContext, MainWindow
from app.whatif.report import RowsModel
from app.whatif.view import WhatIfView
from app.widgets.formatting import fmt_usd
from core.config import load_config, parse_config
from core.engine import Engine
from core.types import Message
from tests.gui.conftest import SIM, no_keyring

PROMPTS = (
    "What is a token?",
    "Translate 'good morning' into French.",
    "Step by step, compare quicksort and mergesort and write Python code for both.",
    "Design a database schema for a library, then write the SQL and explain each index.",
)
TIERS = ("fast", "balanced", "premium", "auto")


@pytest.fixture(scope="module")
def history_dir(tmp_path_factory) -> Path:
    """A data dir with 20 asks on the instant Simulator, across the tiers (some routed),
    recorded once through the engine; each test replays a copy of it."""
    data = tmp_path_factory.mktemp("whatif") / "data"
    engine = Engine.open(parse_config(SIM.format(scale=0), "test.toml"), data)

    async def ask_all() -> None:
        try:
            for i in range(20):
                prompt = f"{PROMPTS[i % len(PROMPTS)]} (variant {i})"
                await engine.ask(prompt, model=TIERS[i % len(TIERS)]).collect()
        finally:
            await engine.aclose()

    asyncio.run(ask_all())
    return data


@pytest.fixture
def history_bridge(history_dir, make_bridge, tmp_path):
    shutil.copytree(history_dir, tmp_path / "data")
    return make_bridge()


def make_view(qtbot, bridge, config_path: Path) -> WhatIfView:
    engine = bridge.engine

    def opener(config):
        return Engine.open(config, engine.data_dir, events=engine.events)

    view = WhatIfView(bridge, config_path, opener)
    qtbot.addWidget(view)
    view.resize(1300, 800)
    view.show()
    return view


def replay(qtbot, view: WhatIfView):
    view.report = None
    assert view.run_replay()
    qtbot.waitUntil(lambda: view.report is not None and not view.running, timeout=20000)
    return view.report


def double_price(view: WhatIfView, model: str) -> None:
    editor = view.editor
    editor.add_tier_model_prices()
    table = editor.overrides
    row = next(r for r in range(table.table.rowCount()) if table.cells(r)[0] == model)
    for col in (1, 2):
        table.set_cell(row, col, str(Decimal(table.cells(row)[col]) * 2))


def test_doubled_price_projects_more_and_curve_ends_at_the_total(
    qtbot, qtmodeltester, history_bridge, tmp_path
):
    view = make_view(qtbot, history_bridge, tmp_path / "config.toml")
    balanced = next(t for t in history_bridge.engine.config.routing.tiers if t.id == "balanced")
    double_price(view, balanced.model)
    assert view.valid_config is not None
    assert view.valid_config.prices[balanced.model]["input_cost_per_token"] > 0
    report = replay(qtbot, view)
    assert report.requests == 20
    assert report.projected_usd > report.actual_usd > 0
    assert report.savings.models_prices_usd < 0  # the copy spends more: a negative saving

    xs, actual = view.panel.actual_curve.getData()
    _, projected = view.panel.projected_curve.getData()
    assert len(xs) == len(report.by_day) >= 1
    assert actual[-1] == pytest.approx(float(report.actual_usd))
    assert projected[-1] == pytest.approx(float(report.projected_usd))
    tiers = {row[0]: row for row in view.panel.tier_model.rows}
    assert tiers["balanced"][-1].startswith("+$")  # the change, signed, in dollars
    assert view.panel.savings_model.rows[0][1].startswith("-")
    for model in (view.panel.savings_model, view.panel.tier_model, view.panel.budget_model):
        qtmodeltester.check(model)
    axis = view.panel.plot.getPlotItem().getAxis("left")
    assert "$" in axis.labelText and "USD" in axis.labelText


def test_identical_copy_projects_exactly_the_recorded_spend(qtbot, history_bridge, tmp_path):
    view = make_view(qtbot, history_bridge, tmp_path / "config.toml")
    assert "identical" in view.editor.problem_label.text()
    assert not view.apply_button.isEnabled()
    report = replay(qtbot, view)
    assert report.projected_usd == report.actual_usd
    assert report.savings.total_usd == 0
    assert report.changed == ()


def test_provider_prompt_caching_is_replayed_off_and_with_either_ttl(
    qtbot, qtmodeltester, history_bridge, tmp_path
):
    """A Claude conversation on the Simulator (which caches as Anthropic does), then the
    replay: its input with caching off, and on with a five-minute or one-hour TTL."""
    engine = history_bridge.engine
    system = "You answer questions about a shipping policy. " + " ".join(
        f"Rule {i}: class {i % 7} needs form {i % 11}." for i in range(200)
    )

    async def conversation() -> None:
        history: list[Message] = []
        for i in range(4):
            prompt = f"Question {i} about class {i}?"
            reply = engine.ask(
                prompt, system=system, history=history, model="simulator/claude-sonnet-4-5"
            )
            rec = await reply.collect()
            history += [Message("user", prompt), Message("assistant", rec.response)]

    future = history_bridge.run(conversation())
    assert future is not None
    future.result(30)
    view = make_view(qtbot, history_bridge, tmp_path / "config.toml")
    report = replay(qtbot, view)
    assert report.prompt_cache is not None and report.prompt_cache_choice == "auto, 5-minute TTL"
    rows = view.panel.prompt_cache_model.rows
    assert [r[0] for r in rows] == ["recorded", "off", "auto 5m (this copy)", "auto 1h"]
    off, five = report.prompt_cache.scenarios[:2]
    assert off.cached_tokens == 0 and five.cached_tokens > 3 * 1024
    assert five.input_usd < off.input_usd
    assert rows[2][1] == fmt_usd(five.input_usd)
    assert view.panel.prompt_cache_table.accessibleName()
    qtmodeltester.check(view.panel.prompt_cache_model)


def test_invalid_copy_names_the_key_and_cannot_run(qtbot, history_bridge, tmp_path):
    view = make_view(qtbot, history_bridge, tmp_path / "config.toml")
    view.editor.tiers.set_cell(0, 3, "12")  # max complexity is 0–10
    assert view.valid_config is None
    assert "max_complexity" in view.editor.problem_label.text()
    assert not view.run_button.isEnabled()
    assert not view.run_replay()


def test_budget_in_the_copy_reports_refusal_days(qtbot, history_bridge, tmp_path):
    view = make_view(qtbot, history_bridge, tmp_path / "config.toml")
    view.editor.budget_form.widget("daily_usd").setText("0.000001")
    report = replay(qtbot, view)
    assert report.budgets and report.budgets[0].refused > 0
    assert view.panel.budget_model.rowCount() == len(report.budgets)


def test_apply_asks_then_writes_and_reopens(qtbot, history_bridge, tmp_path, monkeypatch):
    path = tmp_path / "config" / "config.toml"
    view = make_view(qtbot, history_bridge, path)
    asked = []

    def yes(*args, **kwargs):
        asked.append(args)
        return QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "question", yes)
    view.editor.context_form.widget("max_history_messages").setValue(3)
    config = view.valid_config
    assert config is not None and view.apply_button.isEnabled()
    with qtbot.waitSignal(view.engine_reopened, timeout=10000):
        assert view.apply()
    assert asked
    assert load_config(path) == config
    assert history_bridge.engine.config.context.max_history_messages == 3
    assert "identical" in view.editor.problem_label.text()


def test_cancel_writes_nothing(qtbot, history_bridge, tmp_path, monkeypatch):
    path = tmp_path / "config" / "config.toml"
    view = make_view(qtbot, history_bridge, path)
    engine = history_bridge.engine
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Cancel)
    view.editor.context_form.widget("max_history_messages").setValue(3)
    assert not view.apply()
    assert not path.exists()
    assert history_bridge.engine is engine
    assert view.status_label.text() == "Not applied."


def test_rows_model_passes_the_model_tester(qtmodeltester):
    model = RowsModel(("A", "B"))
    model.set_rows([("x", "1"), ("y", "2")])
    qtmodeltester.check(model)


def test_main_window_builds_the_view(qtbot, make_bridge, make_window):
    window = make_window(make_bridge())
    window.show_view("whatif")
    view = window.view("whatif")
    assert isinstance(view, WhatIfView)
    assert window.current_view_key() == "whatif"


def test_apply_in_the_window_rebuilds_views_and_reloads_settings(
    qtbot, history_bridge, settings, tmp_path, monkeypatch
):
    engine = history_bridge.engine

    def opener(config):
        return Engine.open(config, engine.data_dir, events=engine.events)

    context = AppContext(history_bridge, tmp_path / "cfg" / "config.toml", no_keyring(), opener)
    window = MainWindow(context, settings, poll_interval_ms=200)
    qtbot.addWidget(window)
    settings_view = window.view("settings")
    window.show_view("whatif")
    view = window.view("whatif")
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    view.editor.context_form.widget("max_history_messages").setValue(3)
    with qtbot.waitSignal(view.engine_reopened, timeout=10000):
        assert view.apply()
    assert settings_view.context_form.widget("max_history_messages").value() == 3
    assert window.view("whatif") is not view  # rebuilt over the new engine
    assert window.current_view_key() == "whatif"
