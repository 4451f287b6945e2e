"""Playground with tools, JSON output and images, end to end on the Simulator."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QApplication, QFileDialog

from app.playground.view import PlaygroundView
from core.content.images import image_tokens
from tests.gui.conftest import drop_files, png

WEATHER = "What is the weather in Lisbon right now?"
RESULT = '{"temperature_c": 18, "conditions": "sunny"}'


def _send(qtbot, pg: PlaygroundView, prompt: str, model: str = "fast"):
    pg.prompt.setPlainText(prompt)
    pg.model.setCurrentText(model)
    with qtbot.waitSignal(pg.reply_finished, timeout=10000) as blocker:
        pg.send_button.click()
    return blocker.args[0]


def _force(pg: PlaygroundView, name: str) -> None:
    choice = pg.extras.tools.choice
    choice.setCurrentIndex(choice.findData(f"tool:{name}"))


def _continue(qtbot, pg: PlaygroundView, result: str = RESULT):
    for card in pg.tool_calls.cards:
        card.result.setPlainText(result)
    with qtbot.waitSignal(pg.reply_finished, timeout=10000) as blocker:
        pg.tool_calls.continue_button.click()
    return blocker.args[0]


@pytest.fixture
def playground(qtbot, make_bridge, make_window):
    window = make_window(make_bridge())
    return window.view("playground")


def test_tool_calls_show_as_cards_and_the_manual_loop_continues(qtbot, playground):
    pg = playground
    pg.extras.tools.insert_example()
    qtbot.waitUntil(lambda: pg.extras.tools.choice.count() == 5)
    _force(pg, "get_weather")
    first = _send(qtbot, pg, WEATHER)

    assert first.status == "ok" and first.finish_reason == "tool_calls"
    assert [c.name for c in first.tool_calls] == ["get_weather"]
    assert [t["name"] for t in first.request_detail["tools"]] == ["get_weather", "get_local_time"]
    assert first.request_detail["tool_choice"] == "tool:get_weather"
    assert not pg.tool_calls.isHidden() and pg.tool_calls.calls == first.tool_calls
    card = pg.tool_calls.cards[0]
    assert json.loads(card.arguments.toPlainText()) == first.tool_calls[0].parsed()
    assert card.warning.isHidden()
    assert "asked for 1 tool call" in pg.tool_calls.heading.text()

    second = _continue(qtbot, pg)

    assert second.status == "ok" and second.tool_calls == [] and second.response
    call = first.tool_calls[0]
    assert second.request_detail["tool_results"] == [{"tool_call_id": call.id, "content": RESULT}]
    assert [t["name"] for t in second.request_detail["tools"]] == ["get_weather", "get_local_time"]
    assert "tool_choice" not in second.request_detail  # a forced choice is not forced again
    assert second.tier == first.tier == "fast"
    out = pg.output.toPlainText()
    before = f"{first.response}\n\n" if first.response else ""
    transcript = f"→ get_weather({call.arguments})\n← {RESULT}\n\n"
    assert out == before + transcript + second.response
    assert pg.tool_calls.isHidden()
    assert pg.badges.record is second
    assert pg.bridge.engine.get_record(second.request_id).request_detail["tool_results"]


def test_send_waits_for_the_tools_being_checked(qtbot, playground):
    pg = playground
    pg.extras.tools.insert_example()
    assert pg.extras.tools.editor.pending
    rec = _send(qtbot, pg, WEATHER)  # pressed before the check came back
    assert [t["name"] for t in rec.request_detail["tools"]] == ["get_weather", "get_local_time"]
    assert rec.tool_calls and not pg.tool_calls.isHidden()


def test_continue_needs_every_result(qtbot, playground):
    pg = playground
    pg.extras.tools.insert_example()
    qtbot.waitUntil(lambda: pg.extras.tools.choice.count() == 5)
    pg.extras.tools.choice.setCurrentIndex(pg.extras.tools.choice.findData("required"))
    _send(qtbot, pg, WEATHER)
    pg.tool_calls.continue_button.click()
    assert not pg.running and "Type a result for" in pg.tool_calls.hint.text()


def test_wrong_tools_json_stops_send_with_the_field_named(qtbot, playground):
    pg = playground
    window = pg.window()
    pg.extras.tools.editor.text.setPlainText('[{"type": "function", "function": {"name": ""}}]')
    pg.prompt.setPlainText(WEATHER)
    pg.send_button.click()
    qtbot.waitUntil(lambda: not pg.running)
    assert window.error_banner.text() == (
        "Cannot send: Tools: tools[0].function.name: a tool needs a name (a non-empty string)"
    )
    assert not pg.extras.tabs.isHidden()
    assert pg.bridge.engine.history_count() == 0


def test_estimate_counts_images_and_tools(qtbot, playground, tmp_path, monkeypatch):
    pg = playground
    pg.model.setCurrentText("balanced")
    pg.prompt.setPlainText("Describe this chart.")
    qtbot.waitUntil(lambda: pg.last_estimate is not None and pg.last_estimate.extra_tokens == 0)
    plain = pg.last_estimate
    path = png(tmp_path / "chart.png", 1024, 768)
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", lambda *a, **k: ([str(path)], ""))
    pg.extras.images.add_button.click()
    pg.extras.tools.insert_example()
    qtbot.waitUntil(
        lambda: (
            pg.last_estimate is not None
            and pg.last_estimate.image_tokens > 0
            and pg.last_estimate.tool_tokens > 0
        ),
        timeout=5000,
    )
    est = pg.last_estimate
    part = pg.extras.images.images[0]
    assert est.image_tokens == image_tokens(part, est.provider_kind, est.model)
    assert est.input_tokens == plain.input_tokens + est.image_tokens + est.tool_tokens
    assert est.worst_case_usd > plain.worst_case_usd
    assert f"images {est.image_tokens:,}" in pg.estimate_label.text()
    card = pg.extras.images.cards[0]
    assert card.caption.text().endswith(f"{est.image_tokens:,} tokens")

    rec = _send(qtbot, pg, "Describe this chart.", model="balanced")
    assert rec.status == "ok"
    [image] = rec.request_detail["images"]
    assert image["sha256"] == part.sha256 and (image["width"], image["height"]) == (1024, 768)
    assert image["tokens"] == est.image_tokens


def test_images_dropped_or_pasted_on_the_prompt(qtbot, playground, tmp_path):
    pg = playground
    pg.window().show()
    qtbot.waitExposed(pg.window())
    pg.prompt.setPlainText("What is in these pictures?")
    with qtbot.waitSignal(pg.extras.images.changed, timeout=5000):
        drop_files(pg.prompt.viewport(), [png(tmp_path / "photo.png", 400, 300)])
    assert pg.prompt.toPlainText() == "What is in these pictures?"  # no file URL typed in

    image = QImage(200, 120, QImage.Format.Format_RGB32)
    image.fill(QColor("purple"))
    QApplication.clipboard().setImage(image)
    pg.prompt.setFocus()
    with qtbot.waitSignal(pg.extras.images.changed, timeout=5000):
        qtbot.keyClick(pg.prompt, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    assert pg.prompt.toPlainText() == "What is in these pictures?"
    names = [a.name for a in pg.extras.images.attachments]
    assert names == ["photo.png", "pasted-1.png"]
    assert not pg.extras.tabs.isHidden()  # the Images tab opened to show them

    QApplication.clipboard().setText(" and this")
    pg.prompt.moveCursor(pg.prompt.textCursor().MoveOperation.End)
    qtbot.keyClick(pg.prompt, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    assert pg.prompt.toPlainText() == "What is in these pictures? and this"  # text pastes as text

    rec = _send(qtbot, pg, "What is in these pictures?")
    assert [(i["width"], i["height"]) for i in rec.request_detail["images"]] == [
        (400, 300),
        (200, 120),
    ]


def test_json_schema_output_is_checked(qtbot, playground):
    pg = playground
    pg.extras.json_output.set_mode("schema")
    pg.extras.json_output.insert_example()
    rec = _send(qtbot, pg, "Give me the weather in Lisbon as JSON.")
    assert rec.status == "ok"
    assert rec.request_detail["response_format"]["type"] == "json_schema"
    assert rec.request_detail["response_format"]["name"] == "weather_report"
    qtbot.waitUntil(lambda: not pg.json_check.isHidden())
    assert pg.json_check.text() == "✓ The reply follows the schema."
    json.loads(pg.output.toPlainText())


def test_tool_loop_in_conversation_mode(qtbot, playground):
    pg = playground
    pg.conversation_mode.setChecked(True)
    pg.extras.tools.insert_example()
    qtbot.waitUntil(lambda: pg.extras.tools.choice.count() == 5)
    _force(pg, "get_local_time")
    first = _send(qtbot, pg, "What time is it in Lisbon?")
    assert first.conversation_id and first.tool_calls
    second = _continue(qtbot, pg, "14:05")
    assert second.status == "ok" and second.conversation_id == first.conversation_id
    qtbot.waitUntil(lambda: len(pg.conversation.messages) == 4)
    roles = [m.role for m in pg.conversation.messages]
    assert roles == ["user", "assistant", "tool", "assistant"]
    texts = [pg.conversation.turns.item(i).text() for i in range(4)]
    assert texts[1].startswith("Assistant: → get_local_time(")
    assert texts[2] == "Tool result: 14:05"
