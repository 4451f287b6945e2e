"""JSON output: off, any JSON object, or JSON that follows a schema the user types.

The schema is checked against the JSON Schema meta-schema off the UI thread
(:func:`core.content.tools.check_json_schema`); :func:`check_json_reply` says whether a
finished reply is the JSON that was asked for.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

import jsonschema
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.runtime.engine_bridge import OffThread
from app.widgets.content.json_editor import ERROR_STYLE, JsonEditor, JsonTextError, parse_json_text
from core.content.tools import check_json_schema
from core.types import ResponseFormat

__all__ = [
    "EXAMPLE_SCHEMA",
    "MODES",
    "JsonOutputEditor",
    "check_json_reply",
    "check_schema_text",
]

MODES = (("off", "Off (text)"), ("object", "JSON object"), ("schema", "JSON Schema"))
EXAMPLE_SCHEMA: dict[str, object] = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "temperature_c": {"type": "number"},
        "conditions": {"type": "string", "enum": ["sunny", "cloudy", "rain", "snow"]},
    },
    "required": ["city", "temperature_c", "conditions"],
    "additionalProperties": False,
}
#: OpenAI's rule for a schema's name, the strictest of the providers.
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def check_schema_text(text: str) -> Mapping[str, object]:
    """The checked JSON Schema typed in ``text``."""
    value = parse_json_text(text)
    if value is None:
        raise JsonTextError("type a JSON Schema, or choose JSON object for any JSON")
    return check_json_schema(value, "schema")


def _describe_schema(value: object) -> str:
    if not isinstance(value, Mapping):
        return ""
    props = value.get("properties")
    n = len(props) if isinstance(props, Mapping) else 0
    return f"✓ A valid JSON Schema ({n} propert{'y' if n == 1 else 'ies'})."


def check_json_reply(text: str, schema: Mapping[str, object] | None) -> tuple[bool, str]:
    """Whether ``text`` is a JSON object (following ``schema`` when given), in words."""
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as e:
        return False, f"⚠ The reply is not valid JSON ({e})."
    if schema is None:
        if isinstance(value, dict):
            return True, "✓ The reply is a JSON object."
        return False, f"⚠ The reply is JSON but not an object ({type(value).__name__})."
    validator = jsonschema.validators.validator_for(schema, jsonschema.Draft202012Validator)
    errors = sorted(validator(schema).iter_errors(value), key=lambda e: list(e.path))
    if not errors:
        return True, "✓ The reply follows the schema."
    first = errors[0]
    where = "".join(f"[{p!r}]" for p in first.path) or "the reply"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return False, f"⚠ The reply does not follow the schema: {where}: {first.message}{more}"


class JsonOutputEditor(QWidget):
    """Mode, and for a schema: its name, strict, and the schema editor.
    ``changed()`` fires when what would be sent changes."""

    changed = Signal()

    def __init__(self, off_thread: OffThread, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.mode = QComboBox()
        self.mode.setAccessibleName("JSON output mode")
        self.mode.setToolTip("Ask for plain text, any JSON object, or JSON following a schema")
        for key, label in MODES:
            self.mode.addItem(label, key)
        self.name = QLineEdit("response")
        self.name.setAccessibleName("Schema name")
        self.name.setToolTip("The schema's name as sent (letters, digits, _ and -)")
        self.name.setMaximumWidth(220)
        self.strict = QCheckBox("Strict")
        self.strict.setAccessibleName("Strict schema")
        self.strict.setToolTip("Ask the provider to follow the schema exactly (OpenAI strict mode)")
        self.example_button = QPushButton("Insert example")
        self.example_button.setAccessibleName("Insert example schema")
        self.example_button.clicked.connect(self.insert_example)
        self.schema = JsonEditor(
            check_schema_text,
            _describe_schema,
            off_thread,
            name="JSON Schema",
            placeholder='A JSON Schema, e.g. {"type": "object", "properties": {...}}',
        )
        self.name_status = QLabel()
        self.name_status.setAccessibleName("Schema name: check")
        self.name_status.setStyleSheet(ERROR_STYLE)
        head = QHBoxLayout()
        head.addWidget(QLabel("Output"))
        head.addWidget(self.mode)
        head.addSpacing(12)
        self.schema_row = QWidget()
        row = QHBoxLayout(self.schema_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Name"))
        row.addWidget(self.name)
        row.addWidget(self.strict)
        row.addWidget(self.name_status, 1)
        row.addWidget(self.example_button)
        head.addWidget(self.schema_row, 1)
        head.addStretch(0)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(head)
        layout.addWidget(self.schema, 1)
        self.mode.currentIndexChanged.connect(self._mode_changed)
        self.name.textChanged.connect(self._name_changed)
        self.strict.toggled.connect(lambda _on: self.changed.emit())
        self.schema.checked.connect(self.changed.emit)
        self._mode_changed()

    def current_mode(self) -> str:
        return str(self.mode.currentData())

    def set_mode(self, key: str) -> None:
        self.mode.setCurrentIndex(self.mode.findData(key))

    def insert_example(self) -> None:
        self.schema.set_text(json.dumps(EXAMPLE_SCHEMA, indent=2))
        if self.name.text() in ("", "response"):
            self.name.setText("weather_report")

    def response_format(self) -> ResponseFormat | None:
        """What ``engine.ask`` gets (None when off or when the schema is not usable)."""
        mode = self.current_mode()
        if mode == "object":
            return ResponseFormat()
        if mode != "schema" or not self.schema.ok or not isinstance(self.schema.value, Mapping):
            return None
        return ResponseFormat(self.schema.value, self.name.text().strip(), self.strict.isChecked())

    def problem(self) -> str | None:
        """Why JSON output cannot be sent as set, or None."""
        if self.current_mode() != "schema":
            return None
        if self.schema.error is not None:
            return f"JSON Schema: {self.schema.error}"
        if not _NAME.match(self.name.text().strip()):
            return "JSON Schema: the name must be 1-64 letters, digits, _ or -"
        return None

    def _mode_changed(self) -> None:
        schema = self.current_mode() == "schema"
        self.schema_row.setVisible(schema)
        self.schema.setVisible(schema)
        self.changed.emit()

    def _name_changed(self, text: str) -> None:
        ok = bool(_NAME.match(text.strip()))
        self.name_status.setText("" if ok else "⚠ 1-64 letters, digits, _ or -")
        self.changed.emit()
