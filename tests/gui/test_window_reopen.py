"""Saving Settings in the window re-opens the engine and rebuilds the other views."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from PySide6.QtWidgets import QLineEdit

from app.main_window import KEYS, AppContext, MainWindow
from core.engine import Engine
from tests.gui.conftest import no_keyring


def test_save_rebuilds_views_over_the_new_engine(qtbot, make_bridge, settings, tmp_path):
    bridge = make_bridge()
    engine = bridge.engine

    def opener(config):
        return Engine.open(config, engine.data_dir, events=engine.events)

    path = tmp_path / "cfg" / "config.toml"
    window = MainWindow(AppContext(bridge, path, no_keyring(), opener), settings)
    qtbot.addWidget(window)
    assert KEYS == ["playground", "compare", "dashboard", "history", "cache", "whatif", "settings"]
    window.show_view("settings")
    view = window.view("settings")
    old_dashboard = window.view("dashboard")
    view.tiers.set_cell(0, 0, "cheap")
    daily = view.budget_form.widget("daily_usd")
    assert isinstance(daily, QLineEdit)
    daily.setText("2")
    with qtbot.waitSignal(view.engine_reopened, timeout=10000):
        assert view.save()
    assert window.view("dashboard") is not old_dashboard
    assert window.view("dashboard").tier_ids == ["cheap", "balanced", "premium"]
    assert window.view("settings") is view
    assert window.current_view_key() == "settings"
    assert bridge.engine.config.budget.daily_usd == 2
    assert "cheap" in path.read_text()
