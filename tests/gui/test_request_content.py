"""The shared request-content widgets: tools and schema editors checked off-thread,
images by picker, drop and paste, and tool-call cards."""

from __future__ import annotations

import json
import threading

import pytest

pytest.importorskip("PySide6")

from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QApplication, QFileDialog

from app.widgets.content import images as images_module
from app.widgets.content.images import ImageAttachments
from app.widgets.content.json_editor import CHECK_DEBOUNCE_MS, JsonEditor, parse_json_text
from app.widgets.content.json_output import EXAMPLE_SCHEMA, JsonOutputEditor, check_json_reply
from app.widgets.content.request_extras import RequestExtras
from app.widgets.content.tool_calls import ToolCallPanel
from app.widgets.content.tools_editor import ToolsEditor
from core.content.images import openai_image_tokens
from core.types import ResponseFormat, ToolCall, ToolCallDelta, ToolChoice
from tests.gui.conftest import drop_files, png

BAD_PARAMETERS = json.dumps(
    [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": 12}}},
            },
        }
    ]
)


@pytest.fixture
def off_thread(make_bridge):
    return make_bridge().call_content


# -- the JSON editors ----------------------------------------------------------------


def test_the_check_runs_off_thread_once_typing_pauses(qtbot, off_thread):
    threads: list[tuple[str, str]] = []

    def check(text: str) -> object:
        threads.append((text, threading.current_thread().name))
        return parse_json_text(text)

    editor = JsonEditor(check, lambda v: f"ok {v!r}", off_thread, name="Test JSON")
    qtbot.addWidget(editor)
    assert editor.ok and threads == [("", "MainThread")]  # the empty start is instant
    editor.text.setFocus()
    qtbot.keyClicks(editor.text, "[1, 2, 3]")
    assert editor.pending and not editor.ok
    qtbot.waitUntil(lambda: editor.ok, timeout=CHECK_DEBOUNCE_MS * 10)
    typed = [(text, name) for text, name in threads if text]
    assert typed == [("[1, 2, 3]", typed[0][1])]  # one check for nine keystrokes
    assert typed[0][1].startswith("centwise-content")
    assert editor.value == [1, 2, 3] and editor.status.text() == "ok [1, 2, 3]"


def test_tools_editor_names_the_wrong_field(qtbot, off_thread):
    tools = ToolsEditor(off_thread)
    qtbot.addWidget(tools)
    assert tools.editor.status.text() == "No tools: the model answers in text."
    assert not tools.choice.isEnabled()

    tools.editor.text.setPlainText(BAD_PARAMETERS)
    qtbot.waitUntil(lambda: tools.editor.error is not None)
    assert tools.editor.status.text().startswith(
        "⚠ tools[0].function.parameters['properties']['city']['type']: not a valid JSON Schema"
    )
    assert tools.problem().startswith("Tools: tools[0].function.parameters")
    assert tools.tools == ()

    tools.editor.text.setPlainText('[{"name": "get_weather",')
    qtbot.waitUntil(lambda: "not valid JSON" in tools.editor.status.text())
    assert tools.editor.status.text().startswith("⚠ not valid JSON (line 1, column 25)")

    tools.editor.text.setPlainText('[{"name": "bad name!", "input_schema": {"type": "object"}}]')
    qtbot.waitUntil(lambda: "tools[0].name" in tools.editor.status.text())

    tools.insert_example()
    qtbot.waitUntil(lambda: tools.editor.ok)
    assert tools.editor.status.text() == "✓ 2 tools: get_weather, get_local_time"
    assert tools.problem() is None
    choices = [tools.choice.itemData(i) for i in range(tools.choice.count())]
    assert choices == ["auto", "none", "required", "tool:get_weather", "tool:get_local_time"]
    assert tools.tool_choice() is None  # auto: the provider's default
    tools.choice.setCurrentIndex(tools.choice.findData("tool:get_local_time"))
    assert tools.tool_choice() == ToolChoice("tool", "get_local_time")
    tools.choice.setCurrentIndex(tools.choice.findData("required"))
    assert tools.tool_choice() == ToolChoice("required")
    tools.editor.text.undo()  # Insert example is one undoable edit
    assert tools.editor.plain_text().startswith('[{"name": "bad name!"')


def test_anthropic_shaped_tools_are_accepted(qtbot, off_thread):
    tools = ToolsEditor(off_thread)
    qtbot.addWidget(tools)
    tools.editor.set_text(
        '[{"name": "lookup", "description": "Find a word",'
        ' "input_schema": {"type": "object", "properties": {"word": {"type": "string"}}}}]'
    )
    qtbot.waitUntil(lambda: tools.editor.ok and bool(tools.tools))
    assert tools.tools[0].name == "lookup" and tools.tools[0].parameters["type"] == "object"


def test_json_output_modes_and_schema_check(qtbot, off_thread):
    editor = JsonOutputEditor(off_thread)
    qtbot.addWidget(editor)
    assert editor.response_format() is None and editor.schema.isHidden()
    editor.set_mode("object")
    assert editor.response_format() == ResponseFormat()
    editor.set_mode("schema")
    assert not editor.schema.isHidden()
    assert editor.problem().startswith("JSON Schema: type a JSON Schema")
    editor.schema.text.setPlainText('{"type": "objekt"}')
    qtbot.waitUntil(lambda: "not a valid JSON Schema" in editor.schema.status.text())
    assert editor.schema.status.text().startswith("⚠ schema['type']: not a valid JSON Schema")
    assert editor.response_format() is None
    editor.insert_example()
    qtbot.waitUntil(lambda: editor.schema.ok)
    assert editor.schema.status.text() == "✓ A valid JSON Schema (3 properties)."
    assert editor.response_format() == ResponseFormat(EXAMPLE_SCHEMA, "weather_report", False)
    editor.name.setText("no spaces allowed")
    assert editor.problem() == "JSON Schema: the name must be 1-64 letters, digits, _ or -"
    assert editor.name_status.text().startswith("⚠")


def test_check_json_reply():
    schema = EXAMPLE_SCHEMA
    good = '{"city": "Lisbon", "temperature_c": 18, "conditions": "sunny"}'
    assert check_json_reply(good, schema) == (True, "✓ The reply follows the schema.")
    ok, text = check_json_reply('{"city": "Lisbon", "temperature_c": "warm"}', schema)
    assert not ok and text.startswith("⚠ The reply does not follow the schema:")
    assert check_json_reply("[1]", None)[0] is False
    assert check_json_reply("not json", None)[1].startswith("⚠ The reply is not valid JSON")


# -- images --------------------------------------------------------------------------


@pytest.fixture
def attachments(qtbot, off_thread):
    widget = ImageAttachments(off_thread)
    qtbot.addWidget(widget)
    widget.set_models([("openai", "gpt-4o")])
    return widget


def test_images_by_picker_with_size_and_tokens(qtbot, attachments, tmp_path, monkeypatch):
    first, second = png(tmp_path / "chart.png"), png(tmp_path / "small.png", 200, 100)
    monkeypatch.setattr(
        QFileDialog, "getOpenFileNames", lambda *a, **k: ([str(first), str(second)], "")
    )
    with qtbot.waitSignals([attachments.changed, attachments.changed], timeout=5000):
        attachments.add_button.click()
    qtbot.waitUntil(lambda: attachments.loading == 0)
    assert sorted(a.name for a in attachments.attachments) == ["chart.png", "small.png"]
    card = next(c for c in attachments.cards if c.attachment.name == "chart.png")
    tokens = openai_image_tokens(640, 480, "auto", "gpt-4o")
    assert card.caption.text().startswith("chart.png\n640×480 · ")
    assert card.caption.text().endswith(f"\n{tokens} tokens")
    assert not card.picture.pixmap().isNull()
    assert card.remove_button.accessibleName() == "Remove image chart.png"
    part = card.attachment.part
    assert (part.media_type, part.width, part.height) == ("image/png", 640, 480)

    attachments.set_models([("openai", "gpt-4o"), ("anthropic", "claude-sonnet-4")])
    assert "–" in card.caption.text().rsplit("\n", 1)[1]  # a range over two providers

    with qtbot.waitSignal(attachments.changed):
        card.remove_button.click()
    assert [a.name for a in attachments.attachments] == ["small.png"]
    assert len(attachments.images) == 1


def test_bad_and_oversized_files_are_named(qtbot, attachments, tmp_path, monkeypatch):
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    with qtbot.waitSignal(attachments.failed) as failed:
        attachments.add_paths([str(text)])
    assert failed.args[0].startswith(f"{text}: cannot be decoded")
    assert attachments.status.text().startswith(f"⚠ {text}: cannot be decoded as an image")
    monkeypatch.setattr(images_module, "MAX_IMAGE_BYTES", 100)
    big = png(tmp_path / "big.png")
    attachments.add_paths([str(big)])
    qtbot.waitUntil(lambda: attachments.loading == 0)
    assert attachments.status.text().startswith(f"⚠ {big}: is ")
    assert "can be attached" in attachments.status.text()
    assert attachments.attachments == []


def test_images_by_drop(qtbot, attachments, tmp_path):
    path = png(tmp_path / "dropped.png", 300, 300)
    attachments.show()
    with qtbot.waitSignal(attachments.changed, timeout=5000):
        drop = drop_files(attachments, [path])
    assert drop.isAccepted()
    assert [a.name for a in attachments.attachments] == ["dropped.png"]
    attachments.add_paths([str(path)])  # the same image again
    qtbot.waitUntil(lambda: attachments.loading == 0)
    assert len(attachments.attachments) == 1
    assert attachments.status.text() == "dropped.png is attached already."


def test_images_by_paste(qtbot, attachments):
    image = QImage(320, 200, QImage.Format.Format_ARGB32)
    image.fill(QColor("orange"))
    QApplication.clipboard().setImage(image)
    with qtbot.waitSignal(attachments.changed, timeout=5000):
        attachments.paste_button.click()
    part = attachments.images[0]
    assert (part.media_type, part.width, part.height) == ("image/png", 320, 200)
    assert attachments.attachments[0].name == "pasted-1.png"
    QApplication.clipboard().setText("just text")
    assert attachments.paste() is False
    assert attachments.status.text() == "The clipboard holds no image."


def test_extras_collect_what_engine_ask_gets(qtbot, off_thread, tmp_path):
    extras = RequestExtras(off_thread)
    qtbot.addWidget(extras)
    assert extras.ask_options() == {} and extras.summary.text() == "none set"
    extras.tools.insert_example()
    extras.json_output.set_mode("object")
    extras.images.add_paths([str(png(tmp_path / "a.png"))])
    ready = []
    extras.when_ready(lambda: ready.append(extras.ask_options()))
    qtbot.waitUntil(lambda: bool(ready), timeout=5000)
    options = ready[0]
    assert [t.name for t in options["tools"]] == ["get_weather", "get_local_time"]
    assert options["response_format"] == ResponseFormat()
    assert len(options["images"]) == 1 and "tool_choice" not in options
    assert extras.summary.text() == "2 tools · JSON object · 1 image"


# -- tool-call cards -----------------------------------------------------------------


def test_tool_call_cards_and_results(qtbot):
    panel = ToolCallPanel(with_results=True)
    qtbot.addWidget(panel)
    assert panel.isHidden()
    panel.stream(ToolCallDelta(0, "call_1", "get_weather", ""))
    panel.stream(ToolCallDelta(0, arguments='{"city": '))
    assert panel.cards[0].arguments.toPlainText() == '{"city": '
    calls = [
        ToolCall("call_1", "get_weather", '{"city": "Lisbon", "unit": "celsius"}'),
        ToolCall("call_2", "get_local_time", '{"timezone": Europe/Lisbon}'),
    ]
    panel.show_calls(calls)
    assert not panel.isHidden() and panel.calls == calls
    good, bad = panel.cards
    assert json.loads(good.arguments.toPlainText()) == {"city": "Lisbon", "unit": "celsius"}
    assert good.arguments.toPlainText().startswith('{\n  "city"')
    assert good.warning.isHidden()
    assert bad.arguments.toPlainText() == '{"timezone": Europe/Lisbon}'
    assert not bad.warning.isHidden() and "not valid JSON" in bad.warning.text()
    assert good.result.accessibleName() == "Result of get_weather (call_1)"

    good.result.setPlainText("18 °C, sunny")
    panel.continue_button.click()
    assert panel.hint.text() == "Type a result for get_local_time first."
    bad.result.setPlainText("14:05")
    with qtbot.waitSignal(panel.continue_requested) as blocker:
        panel.continue_button.click()
    assert blocker.args[0] == [(calls[0], "18 °C, sunny"), (calls[1], "14:05")]
