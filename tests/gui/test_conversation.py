"""Playground: thumbs up/down on the last answer, conversation mode, the context badge."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")


def _send(qtbot, pg, prompt: str, model: str = "fast"):
    pg.prompt.setPlainText(prompt)
    pg.model.setCurrentText(model)
    with qtbot.waitSignal(pg.reply_finished, timeout=10000) as blocker:
        pg.send_button.click()
    return blocker.args[0]


def test_thumbs_down_stores_feedback_and_stops_the_cache_serving_it(
    qtbot, make_bridge, make_window
):
    bridge = make_bridge()
    window = make_window(bridge)
    pg = window.view("playground")
    assert not pg.feedback.down_button.isEnabled()  # nothing to rate yet
    first = _send(qtbot, pg, "What is a token?")
    assert first.cache_outcome == "miss" and pg.feedback.down_button.isEnabled()
    with qtbot.waitSignal(pg.feedback.stored, timeout=10000) as blocker:
        pg.feedback.down_button.click()
    assert blocker.args[0] == "down"
    assert "the cache will not serve it again" in window.statusBar().currentMessage()
    assert pg.feedback.down_button.isChecked() and not pg.feedback.up_button.isChecked()
    fast = next(q for q in bridge.engine.tier_quality() if q.tier == "fast")
    assert (fast.feedback_up, fast.feedback_down) == (0, 1)

    again = _send(qtbot, pg, "What is a token?")
    assert again.cache_outcome == "miss"
    assert pg.badges.labels["cache"].text() == "cache miss"
    assert not pg.feedback.down_button.isChecked()  # a new answer, not yet rated


def test_thumbs_up_counts_for_the_tier(qtbot, make_bridge, make_window):
    bridge = make_bridge()
    window = make_window(bridge)
    pg = window.view("playground")
    _send(qtbot, pg, "Name three prime numbers.", model="balanced")
    with qtbot.waitSignal(pg.feedback.stored, timeout=10000):
        pg.feedback.up_button.click()
    assert "marked good (tier balanced)" in window.statusBar().currentMessage()
    balanced = next(q for q in bridge.engine.tier_quality() if q.tier == "balanced")
    assert balanced.feedback_up == 1


def test_conversation_mode_continues_one_conversation(qtbot, make_bridge, make_window):
    bridge = make_bridge("[context]\nmax_history_messages = 1\n")
    window = make_window(bridge)
    window.show()
    pg = window.view("playground")
    pane = pg.conversation
    assert pane.isHidden()
    pg.conversation_mode.setChecked(True)
    assert not pane.isHidden() and pane.conversation_id is None

    first = _send(qtbot, pg, "My name is Ada. What is a token?")
    conversation_id = pane.conversation_id
    assert conversation_id is not None and first.conversation_id == conversation_id
    qtbot.waitUntil(lambda: pane.turns.count() == 2)
    second = _send(qtbot, pg, "And what is my name?")
    assert second.conversation_id == conversation_id
    qtbot.waitUntil(lambda: pane.turns.count() == 4)

    messages = bridge.engine.conversation(conversation_id)
    assert [m.role for m in messages] == ["user", "assistant", "user", "assistant"]
    shown = [pane.turns.item(i).text() for i in range(4)]
    assert shown[0] == "You: My name is Ada. What is a token?"
    assert shown[1].startswith("Assistant: ") and shown[2] == "You: And what is my name?"

    badge = pg.badges.labels["context"]
    assert not badge.isHidden()
    before, after = second.context_tokens_before, second.context_tokens_after
    assert before is not None and after is not None and before > after
    assert badge.text().startswith(f"context {before:,}→{after:,} tokens, saved $")
    for action in second.context_actions:
        assert action in badge.text()

    pane.new_button.click()
    assert pane.conversation_id is None and pane.turns.count() == 0
    third = _send(qtbot, pg, "A new topic: what is a cache?")
    assert pane.conversation_id not in (None, conversation_id)
    assert third.conversation_id == pane.conversation_id
    qtbot.waitUntil(lambda: pane.turns.count() == 2)


def test_without_conversation_mode_there_is_no_context_badge(qtbot, make_bridge, make_window):
    window = make_window(make_bridge())
    pg = window.view("playground")
    rec = _send(qtbot, pg, "What is a token?")
    assert rec.conversation_id is None and not rec.context_actions
    assert pg.badges.labels["context"].isHidden()
