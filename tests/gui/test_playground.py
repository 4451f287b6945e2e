"""Playground: estimate, send, stream, badges; and what else a finished request updates."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QDialog

from app.main_window import SIMULATOR_NOTICE
from app.widgets.formatting import fmt_usd


def _send(qtbot, playground, prompt: str, **options: str):
    playground.prompt.setPlainText(prompt)
    if "model" in options:
        playground.model.setCurrentText(options["model"])
    with qtbot.waitSignal(playground.reply_finished, timeout=10000) as blocker:
        playground.send_button.click()
    return blocker.args[0]


def test_live_estimate_is_computed_off_thread(qtbot, make_bridge, make_window):
    window = make_window(make_bridge())
    pg = window.view("playground")
    pg.prompt.setPlainText("Explain the difference between a process and a thread.")
    qtbot.waitUntil(lambda: pg.last_estimate is not None and pg.last_estimate.input_tokens > 5)
    assert "input tokens" in pg.estimate_label.text()
    assert "worst case $" in pg.estimate_label.text()
    pg.model.setCurrentText("nosuch/thing")
    qtbot.waitUntil(lambda: "unknown model" in pg.estimate_label.text())


def test_send_updates_badges_history_and_dashboard(qtbot, make_bridge, make_window):
    window = make_window(make_bridge())
    pg = window.view("playground")
    history = window.view("history")
    dashboard = window.view("dashboard")
    qtbot.waitUntil(lambda: dashboard.data is not None)

    rec = _send(qtbot, pg, "What is a token?", model="fast")

    assert rec.status == "ok" and rec.simulated
    assert pg.output.toPlainText() == rec.response
    badges = pg.badges.labels
    assert badges["tier"].text() == "fast · gpt-4.1-nano"
    assert "Chosen explicitly" in badges["tier"].toolTip()
    assert badges["routing"].text() == "chosen explicitly"
    assert badges["cache"].text() == "cache miss"
    assert badges["tokens"].text().startswith(f"tokens in {rec.usage.input_tokens} (est. ")
    assert badges["cost"].text() == fmt_usd(rec.cost_usd)
    assert badges["cost"].accessibleName() == f"Cost: {fmt_usd(rec.cost_usd)}"
    assert not badges["simulated"].isHidden() and badges["status"].isHidden()

    qtbot.waitUntil(lambda: history.model.rowCount() == 1)
    qtbot.waitUntil(lambda: history.model.record_at(0) is not None)
    assert history.model.record_at(0).request_id == rec.request_id

    qtbot.waitUntil(lambda: dashboard.data.summary.totals.requests == 1)
    heights = dashboard.tier_bars["fast"].opts["height"]
    assert sum(heights) == pytest.approx(float(rec.cost_usd))
    _, ys = dashboard.month_curve.getData()
    assert ys[-1] == pytest.approx(float(rec.cost_usd))
    _, requests = dashboard.requests_curve.getData()
    assert requests[-1] == 1


def test_auto_routing_reasons_show_on_hover(qtbot, make_bridge, make_window):
    window = make_window(make_bridge())
    pg = window.view("playground")
    prompt = "Step by step, compare three sorting algorithms and write Python code for each."
    rec = _send(qtbot, pg, prompt, model="auto")
    tip = pg.badges.labels["tier"].toolTip()
    assert rec.route_mode == "auto" and f"Complexity score {rec.route_score}" in tip
    assert pg.badges.labels["routing"].text().startswith(f"score {rec.route_score:.2f}")
    for reason in rec.route_reasons:
        assert f"• {reason['feature']}:" in tip


def test_stop_cancels_a_slow_reply(qtbot, make_bridge, make_window):
    bridge = make_bridge(latency_scale=1)
    window = make_window(bridge)
    pg = window.view("playground")
    pg.prompt.setPlainText("Write a long essay about the history of computing, step by step.")
    pg.model.setCurrentText("premium")
    with qtbot.waitSignal(bridge.delta, timeout=10000):
        pg.send_button.click()
    assert pg.running and pg.stop_button.isEnabled()
    with qtbot.waitSignal(pg.reply_finished, timeout=10000) as blocker:
        pg.stop_button.click()
    rec = blocker.args[0]
    assert rec.status == "cancelled"
    assert pg.badges.labels["status"].text() == "status: cancelled"
    assert bridge.engine.get_record(rec.request_id).status == "cancelled"
    assert not pg.running and pg.send_button.isEnabled()
    assert window.error_banner.isHidden()


def test_ctrl_enter_sends_and_escape_stops(qtbot, make_bridge, make_window):
    bridge = make_bridge(latency_scale=1)
    window = make_window(bridge)
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    pg = window.view("playground")
    pg.prompt.setPlainText("Tell me about tokens.")
    pg.model.setCurrentText("premium")
    pg.prompt.setFocus()
    with qtbot.waitSignal(bridge.delta, timeout=10000):
        qtbot.keyClick(pg.prompt, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert pg.running and pg.prompt.toPlainText() == "Tell me about tokens."
    with qtbot.waitSignal(pg.reply_finished, timeout=10000) as blocker:
        qtbot.keyClick(pg.prompt, Qt.Key.Key_Escape)
    assert blocker.args[0].status == "cancelled"


def test_escape_stops_while_waiting_for_the_first_token(qtbot, make_bridge, make_window):
    bridge = make_bridge(latency_scale=1)
    window = make_window(bridge)
    window.show()
    qtbot.waitExposed(window)
    pg = window.view("playground")
    pg.prompt.setPlainText("Tell me about tokens.")
    pg.model.setCurrentText("premium")
    pg.prompt.setFocus()
    with qtbot.waitSignal(pg.reply_finished, timeout=10000) as blocker:
        pg.send()
        pg.stop()  # before the first token arrives
    assert blocker.args[0].status == "cancelled"


def test_budget_refusal_is_a_readable_message_not_a_traceback(qtbot, make_bridge, make_window):
    window = make_window(make_bridge("[budget]\ndaily_usd = 0.0000001\n"))
    pg = window.view("playground")
    rec = _send(qtbot, pg, "Explain tokens", model="premium")
    assert rec.status == "refused"
    assert not window.error_banner.isHidden()
    text = window.error_banner.text()
    assert text.startswith("Refused by a budget: refused by the daily budget")
    assert "Traceback" not in text and "Error(" not in text
    assert window.statusBar().currentMessage() == text
    assert pg.badges.labels["status"].text() == "status: refused"
    dialogs = [
        w for w in QApplication.topLevelWidgets() if isinstance(w, QDialog) and w.isVisible()
    ]
    assert dialogs == []


def test_budget_alert_shows_a_banner_and_status(qtbot, make_bridge, make_window):
    window = make_window(make_bridge("[budget]\ndaily_usd = 0.000001\nhard_limit = false\n"))
    pg = window.view("playground")
    _send(qtbot, pg, "Explain tokens", model="premium")
    qtbot.waitUntil(lambda: not window.alert_banner.isHidden())
    assert window.alert_banner.text().startswith("Budget alert: daily budget for ")
    assert "Budget alert" in window.statusBar().currentMessage()


def test_simulator_banner_and_restored_view(qtbot, make_bridge, make_window, settings):
    bridge = make_bridge()
    window = make_window(bridge)
    assert window.windowTitle().startswith("Centwise")
    assert window.simulator_banner.text() == SIMULATOR_NOTICE
    assert not window.simulator_banner.isHidden()
    window.show_view("history")
    window.resize(900, 640)
    window.close()
    again = make_window(bridge)
    assert again.current_view_key() == "history"
    assert settings.value("window/view") == "history"


def test_a_repeated_prompt_shows_the_cache_hit_and_what_it_saved(qtbot, make_bridge, make_window):
    window = make_window(make_bridge())
    pg = window.view("playground")
    first = _send(qtbot, pg, "What is a token?", model="balanced")
    second = _send(qtbot, pg, "What is a token?", model="balanced")
    assert first.cache_outcome == "miss" and second.cache_outcome in ("exact", "semantic")
    badges = pg.badges.labels
    assert badges["cache"].text().startswith(f"cache hit · {second.cache_outcome}")
    assert badges["cache"].property("tone") == "good"
    assert first.request_id in badges["cache"].toolTip()
    assert badges["saved"].text() == f"saved {fmt_usd(second.saved_usd)}"
    assert not badges["saved"].isHidden()
    assert second.saved_usd > 0
