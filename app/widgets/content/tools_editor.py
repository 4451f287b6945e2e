"""The tools a request offers the model, typed as JSON, and which it may or must call.

The editor takes OpenAI's shape (``[{"type": "function", "function": {...}}]``) or
Anthropic's (``[{"name", "description", "input_schema"}]``); :func:`core.content.tools.parse_tools`
checks it, and its message names the field that is wrong.
"""

from __future__ import annotations

import json

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app.runtime.engine_bridge import OffThread
from app.widgets.content.json_editor import JsonEditor, parse_json_text
from core.content.tools import parse_tools
from core.types import Tool, ToolChoice

__all__ = ["EXAMPLE_TOOLS", "ToolsEditor", "check_tools_text", "describe_tools"]

EXAMPLE_TOOLS: list[dict[str, object]] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The current weather in a city.",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "description": "City name, e.g. Lisbon"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                },
                "required": ["city"],
                "additionalProperties": False,
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_local_time",
            "description": "The local time in an IANA time zone.",
            "parameters": {
                "type": "object",
                "properties": {
                    "timezone": {"type": "string", "description": "e.g. Europe/Lisbon"},
                },
                "required": ["timezone"],
                "additionalProperties": False,
            },
        },
    },
]
_PLACEHOLDER = (
    'No tools. A JSON list, e.g. [{"type": "function", "function": {"name": "get_weather", '
    '"description": "...", "parameters": {"type": "object", "properties": {...}}}}] '
    "(Anthropic's name/description/input_schema works too). Insert example fills one in."
)


def check_tools_text(text: str) -> tuple[Tool, ...]:
    """The checked tools typed in ``text`` (none when it is blank)."""
    return parse_tools(parse_json_text(text), where="tools")


def describe_tools(value: object) -> str:
    tools = value if isinstance(value, tuple) else ()
    if not tools:
        return "No tools: the model answers in text."
    names = ", ".join(t.name for t in tools)
    return f"✓ {len(tools)} tool{'s' if len(tools) != 1 else ''}: {names}"


class ToolsEditor(QWidget):
    """The tools' JSON, "Insert example", and the tool choice (auto, none, required, or
    one named tool). ``changed()`` fires when the checked tools or the choice change."""

    changed = Signal()

    def __init__(self, off_thread: OffThread, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.editor = JsonEditor(
            check_tools_text, describe_tools, off_thread, name="Tools", placeholder=_PLACEHOLDER
        )
        self.example_button = QPushButton("Insert example")
        self.example_button.setToolTip("Replace the text with two example tools (Ctrl+Z undoes)")
        self.example_button.setAccessibleName("Insert example tools")
        self.example_button.clicked.connect(self.insert_example)
        self.choice = QComboBox()
        self.choice.setAccessibleName("Tool choice")
        self.choice.setToolTip(
            "auto: the model decides; none: no calls; required: at least one call; "
            "or force one tool"
        )
        self.choice.currentIndexChanged.connect(lambda _i: self.changed.emit())
        row = QHBoxLayout()
        row.addWidget(QLabel("Tool choice"))
        row.addWidget(self.choice)
        row.addStretch(1)
        row.addWidget(self.example_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.editor, 1)
        layout.addLayout(row)
        self.editor.checked.connect(self._tools_checked)
        self._fill_choices(())

    @property
    def tools(self) -> tuple[Tool, ...]:
        """The last checked tools (none while the text is wrong)."""
        value = self.editor.value
        return value if isinstance(value, tuple) else ()

    def tool_choice(self) -> ToolChoice | None:
        """None for auto (the provider's default), else the chosen mode or tool."""
        data = self.choice.currentData()
        if not self.tools or not data or data == "auto":
            return None
        if data in ("none", "required"):
            return ToolChoice(data)
        return ToolChoice("tool", str(data).removeprefix("tool:"))

    def insert_example(self) -> None:
        self.editor.set_text(json.dumps(EXAMPLE_TOOLS, indent=2))

    def problem(self) -> str | None:
        """Why the tools cannot be sent as typed, or None."""
        if self.editor.error is not None:
            return f"Tools: {self.editor.error}"
        return None

    def _tools_checked(self) -> None:
        self._fill_choices(self.tools)
        self.changed.emit()

    def _fill_choices(self, tools: tuple[Tool, ...]) -> None:
        current = self.choice.currentData()
        self.choice.blockSignals(True)
        self.choice.clear()
        self.choice.addItem("auto (the model decides)", "auto")
        self.choice.addItem("none (answer in text)", "none")
        self.choice.addItem("required (call at least one)", "required")
        for tool in tools:
            self.choice.addItem(f"only {tool.name}", f"tool:{tool.name}")
        index = self.choice.findData(current)
        self.choice.setCurrentIndex(max(index, 0))
        self.choice.setEnabled(bool(tools))
        self.choice.blockSignals(False)
