"""Spend, History and Cache say what to do before there is anything to show, and get
out of the way once there is."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from app.widgets.empty_state import OPEN_PLAYGROUND, START_GATEWAY, EmptyState
from tests.gui.conftest import sample_records


def _shown(qtbot, make_window, bridge, key: str):
    window = make_window(bridge)
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    window.show_view(key)
    return window, window.view(key)


def _send(qtbot, window, prompt: str = "What is a token?"):
    pg = window.view("playground")
    pg.prompt.setPlainText(prompt)
    pg.model.setCurrentText("fast")
    with qtbot.waitSignal(pg.reply_finished, timeout=10000) as blocker:
        pg.send_button.click()
    return blocker.args[0]


def test_the_empty_state_is_a_styled_frame_with_a_primary_button(qtbot):
    state = EmptyState("history", "Nothing", "Nothing here yet.", [("a", "Do A"), ("b", "Do B")])
    qtbot.addWidget(state)
    assert state.objectName() == "emptyState"
    assert state.title.property("role") == "title" and state.text.text() == "Nothing here yet."
    assert state.buttons["a"].property("primary") == "true"
    assert state.buttons["b"].property("primary") is None
    assert not state.icon_label.pixmap().isNull()
    with qtbot.waitSignal(state.triggered) as blocker:
        qtbot.mouseClick(state.buttons["b"], Qt.MouseButton.LeftButton)
    assert blocker.args == ["b"]


@pytest.mark.parametrize("key", ["dashboard", "history"])
def test_no_requests_yet_until_one_is_sent(qtbot, make_bridge, make_window, key):
    window, view = _shown(qtbot, make_window, make_bridge(), key)
    qtbot.waitUntil(lambda: view.empty_state.isVisible())
    assert not view.body.isVisible()
    assert view.empty_state.title.text() == "No requests yet"
    buttons = view.empty_state.buttons
    assert [b.text() for b in buttons.values()] == ["Open the Playground", "Start the gateway"]

    qtbot.mouseClick(buttons[OPEN_PLAYGROUND], Qt.MouseButton.LeftButton)
    assert window.current_view_key() == "playground"
    prompt = window.view("playground").prompt
    qtbot.waitUntil(lambda: QApplication.focusWidget() is prompt)

    _send(qtbot, window)
    qtbot.waitUntil(lambda: view.has_requests, timeout=10000)
    window.show_view(key)
    assert not view.empty_state.isVisible() and view.body.isVisible()
    if key == "history":
        qtbot.waitUntil(lambda: view.model.rowCount() == 1)
        assert view.table.isVisible()
    else:
        qtbot.waitUntil(lambda: view.data is not None and view.data.summary.totals.requests == 1)
        assert all(plot.isVisible() for plot in view.plots())


def test_start_the_gateway_turns_on_the_status_bar_switch(
    qtbot, make_bridge, make_window, monkeypatch
):
    window, view = _shown(qtbot, make_window, make_bridge(), "history")
    started: list[bool] = []
    monkeypatch.setattr(window.gateway, "start", lambda: started.append(True))
    qtbot.waitUntil(lambda: view.empty_state.isVisible())
    qtbot.mouseClick(view.empty_state.buttons[START_GATEWAY], Qt.MouseButton.LeftButton)
    assert started == [True]
    assert window.current_view_key() == "history"


def test_a_ledger_with_requests_never_shows_it(qtbot, make_bridge, make_window):
    bridge = make_bridge()
    bridge.engine.ledger.record_many(sample_records(3))
    window, history = _shown(qtbot, make_window, bridge, "history")
    dashboard = window.view("dashboard")
    qtbot.waitUntil(lambda: history.has_requests and dashboard.has_requests)
    assert history.table.isVisible() and not history.empty_state.isVisible()
    window.show_view("dashboard")
    assert dashboard.body.isVisible() and not dashboard.empty_state.isVisible()


def test_the_empty_cache_leaves_once_an_answer_is_cached(qtbot, make_bridge, make_window):
    window, view = _shown(qtbot, make_window, make_bridge(), "cache")
    qtbot.waitUntil(lambda: view.empty_state.isVisible(), timeout=20000)
    assert view.empty_state.title.text() == "The cache is empty"
    assert list(view.empty_state.buttons) == [OPEN_PLAYGROUND]
    assert view.tuner.isVisible()  # tuning on labelled pairs needs no entries
    assert not view.table.isVisible()

    qtbot.mouseClick(view.empty_state.buttons[OPEN_PLAYGROUND], Qt.MouseButton.LeftButton)
    assert window.current_view_key() == "playground"
    _send(qtbot, window)
    window.show_view("cache")
    qtbot.waitUntil(lambda: view.table.isVisible(), timeout=20000)
    assert not view.empty_state.isVisible()
    assert view.model.total == 1
