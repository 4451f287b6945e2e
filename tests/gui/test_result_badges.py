"""Result badges in three levels, the icon feedback buttons and their shortcuts, and
icons redrawn when the theme changes."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QColor, QIcon, QImage, QKeySequence
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QToolButton

from app.playground.answer_feedback import AnswerFeedback
from app.widgets.formatting import fmt_usd_exact
from app.widgets.result_badges import BADGE_KEYS, ResultBadges, routing_summary
from app.widgets.shortcuts_dialog import shortcut_keys
from app.widgets.theme import current_theme, theme_manager
from core.types import RequestRecord, Usage


def _record(**changes: object) -> RequestRecord:
    """A finished, auto-routed answer from the fast tier that cost $0.000026."""
    base = RequestRecord(
        request_id="req_badges",
        started_at=1000.0,
        finished_at=1001.0,
        provider="simulator",
        model="gpt-4.1-nano",
        tier="fast",
        route_score=0.42,
        route_mode="auto",
        route_reasons=[
            {"feature": "length", "value": 420, "contribution": 0.42},
            {"feature": "code_blocks", "value": 1, "contribution": 0.3},
        ],
        usage=Usage(input_tokens=420, output_tokens=80),
        estimated_input_tokens=418,
        cost_usd=Decimal("0.000026"),
        latency_ms=850.0,
        ttft_ms=120.0,
    )
    return replace(base, **changes)


@pytest.fixture
def badges(qtbot) -> ResultBadges:
    widget = ResultBadges()
    qtbot.addWidget(widget)
    return widget


def _style(badges: ResultBadges, key: str) -> tuple[str, str]:
    label = badges.labels[key]
    return label.property("badge"), label.property("tone")


def test_badges_come_in_three_levels(badges):
    badges.show_record(_record())
    assert set(badges.labels) == set(BADGE_KEYS)
    assert _style(badges, "cost") == ("primary", "neutral")
    assert _style(badges, "cache") == ("primary", "neutral")
    assert _style(badges, "tier") == ("secondary", "tier-fast")
    assert _style(badges, "routing") == ("secondary", "neutral")
    assert _style(badges, "tokens") == ("tertiary", "neutral")
    assert _style(badges, "latency") == ("tertiary", "neutral")
    labels = badges.labels
    assert labels["tier"].text() == "fast · gpt-4.1-nano"
    assert labels["routing"].text() == "score 0.42 · length, code"
    assert "• code_blocks: 1 → +0.3" in labels["routing"].toolTip()
    assert labels["cache"].text() == "cache miss"
    assert labels["latency"].text() == "latency 850 ms · TTFT 120 ms"
    assert labels["status"].isHidden() and labels["saved"].isHidden()
    for label in labels.values():
        assert label.textInteractionFlags() & Qt.TextInteractionFlag.TextSelectableByMouse


def test_a_tier_outside_the_three_shares_the_other_tone(badges):
    badges.show_record(_record(tier="local", model="llama"))
    assert _style(badges, "tier") == ("secondary", "tier-other")
    badges.show_record(_record(tier="premium", model="gpt-4.1"))
    assert _style(badges, "tier") == ("secondary", "tier-premium")


def test_a_tiny_cost_never_reads_as_zero_and_its_tooltip_is_exact(badges):
    badges.show_record(_record())
    cost = badges.labels["cost"]
    assert cost.text() == "$0.000026" and "$0.0000 " not in f"{cost.text()} "
    assert cost.accessibleName() == "Cost: $0.000026"
    badges.show_record(_record(cost_usd=Decimal("0.000026123456")))
    assert fmt_usd_exact(Decimal("0.000026123456")) == "$0.000026123456"
    assert "$0.000026123456" in cost.toolTip()
    assert cost.text() == "$0.0000261"


def test_unknown_cost_warns(badges):
    badges.show_record(_record(cost_usd=None, cost_known=False))
    assert badges.labels["cost"].text() == "cost unknown"
    assert _style(badges, "cost") == ("primary", "warn")
    badges.show_record(_record())  # the tone follows the next record
    assert _style(badges, "cost") == ("primary", "neutral")


def test_saved_shows_only_when_the_cache_saved_something(badges):
    hit = _record(
        cache_outcome="semantic",
        cache_similarity=0.971,
        cache_matched_request_id="req_first",
        cost_usd=Decimal(0),
        saved_usd=Decimal("0.000021123"),
    )
    badges.show_record(hit)
    labels = badges.labels
    assert labels["cache"].text() == "cache hit · semantic 0.97"
    assert _style(badges, "cache") == ("primary", "good")
    assert _style(badges, "cost") == ("primary", "good")  # the cache made it free
    assert not labels["saved"].isHidden() and labels["saved"].text() == "saved $0.0000211"
    assert _style(badges, "saved") == ("primary", "good")
    assert "$0.000021123" in labels["saved"].toolTip()
    badges.show_record(_record())
    assert labels["saved"].isHidden()


def test_a_fallback_from_the_cache_warns(badges):
    badges.show_record(_record(cache_outcome="fallback", cache_similarity=0.91))
    assert badges.labels["cache"].text() == "cache fallback · similarity 0.91"
    assert _style(badges, "cache") == ("primary", "warn")


def test_an_error_shows_its_status_first_and_bad(badges):
    badges.show_record(_record(status="error", error="boom", cost_usd=Decimal(0)))
    status = badges.labels["status"]
    assert not status.isHidden() and status.text() == "status: error"
    assert _style(badges, "status") == ("primary", "bad") and status.toolTip() == "boom"
    badges.clear()
    assert all(label.isHidden() for label in badges.labels.values())


def test_routing_summary_in_a_few_words():
    assert routing_summary(_record(route_mode="explicit")) == "chosen explicitly"
    assert routing_summary(_record(route_mode="disabled", route_score=None)) == "routing off"
    assert routing_summary(_record(route_score=None, route_reasons=[], route_mode=None)) == ""
    many = [
        {"feature": name, "value": 1, "contribution": c}
        for name, c in (("math", 0.1), ("multi_step", 0.9), ("tools", 0.5), ("images", 0.3))
    ]
    skipped = {"feature": "capability", "value": "skipped fast", "contribution": 0.0}
    text = routing_summary(_record(route_score=1.8, route_reasons=[*many, skipped]))
    assert text == "score 1.80 · steps, tools, images, tier skipped"


def test_feedback_buttons_are_icons(qtbot, make_bridge):
    feedback = AnswerFeedback(make_bridge())
    qtbot.addWidget(feedback)
    for button, name in ((feedback.up_button, "Thumbs up"), (feedback.down_button, "Thumbs down")):
        assert isinstance(button, QToolButton) and button.property("feedback") == "true"
        assert button.isCheckable() and button.autoRaise() and not button.isEnabled()
        assert not button.icon().isNull() and button.text() == ""
        assert button.toolButtonStyle() == Qt.ToolButtonStyle.ToolButtonIconOnly
        assert button.accessibleName() == name
    assert feedback.up_button.toolTip() == "Good answer (Ctrl+Shift+Up)"
    assert feedback.down_button.toolTip().startswith("Bad answer — the cache will never serve")
    votes = [shortcut_keys(f"playground.thumbs_{v}")[0] for v in ("up", "down")]
    assert votes == ["Ctrl+Shift+Up", "Ctrl+Shift+Down"]
    for keys in votes:
        assert not QKeySequence(keys).isEmpty()


def _quality(bridge, tier: str):
    return next(q for q in bridge.engine.tier_quality() if q.tier == tier)


def test_shortcuts_vote_from_anywhere_in_the_playground(qtbot, make_bridge, make_window):
    bridge = make_bridge()
    window = make_window(bridge)
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    pg = window.view("playground")
    pg.prompt.setPlainText("What is a token?")
    pg.model.setCurrentText("fast")
    with qtbot.waitSignal(pg.reply_finished, timeout=10000):
        pg.send_button.click()
    pg.prompt.setFocus()
    ctrl_shift = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    with qtbot.waitSignal(pg.feedback.stored, timeout=10000) as blocker:
        QTest.keyClick(pg.prompt, Qt.Key.Key_Up, ctrl_shift)
    assert blocker.args[0] == "up" and pg.feedback.up_button.isChecked()
    assert pg.prompt.toPlainText() == "What is a token?"
    qtbot.waitUntil(lambda: _quality(bridge, "fast").feedback_up == 1)

    pg.max_tokens.setFocus()  # another control of the view
    with qtbot.waitSignal(pg.feedback.stored, timeout=10000) as blocker:
        QTest.keyClick(pg.max_tokens, Qt.Key.Key_Down, ctrl_shift)
    assert blocker.args[0] == "down" and pg.feedback.down_button.isChecked()
    fast = _quality(bridge, "fast")
    assert (fast.feedback_up, fast.feedback_down) == (0, 1)  # one vote per answer


def _drawn_color(icon: QIcon, state: QIcon.State = QIcon.State.Off) -> QColor:
    """The colour of the most opaque pixel of ``icon`` at 48 px."""
    image = icon.pixmap(QSize(48, 48), 1.0, QIcon.Mode.Normal, state).toImage()
    image = image.convertToFormat(QImage.Format.Format_ARGB32)
    pixels = (image.pixelColor(x, y) for x in range(48) for y in range(48))
    return max(pixels, key=QColor.alpha)


def _near(color: QColor, hex_color: str) -> bool:
    want = QColor(hex_color)
    return all(abs(a - b) <= 8 for a, b in zip(color.getRgb()[:3], want.getRgb()[:3], strict=True))


def test_icons_are_redrawn_when_the_theme_changes(qtbot, make_bridge, make_window):
    window = make_window(make_bridge())
    pg = window.view("playground")
    manager = theme_manager()
    before = manager.mode
    up, send = pg.feedback.up_button, pg.send_button
    try:
        manager.set_mode("light")
        light = (up.icon().cacheKey(), send.icon().cacheKey())
        assert _near(_drawn_color(up.icon()), current_theme().text)
        assert _near(_drawn_color(up.icon(), QIcon.State.On), current_theme().good)
        manager.set_mode("dark")
        assert current_theme().is_dark
        assert up.icon().cacheKey() != light[0] and send.icon().cacheKey() != light[1]
        assert _near(_drawn_color(up.icon()), current_theme().text)
        assert _near(_drawn_color(pg.stop_button.icon()), current_theme().text)
    finally:
        manager.set_mode(before)
