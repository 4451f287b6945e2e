"""Form sections of the Settings view, built from the config's own field types.

A :class:`SectionForm` shows the scalar fields of one config section (``budget``,
``cache``, ``context``, ``routing``, ``observability``): a check box for a bool, a
spin box for a number, a text field for exact money and lists. Fields the config
gains later appear without changes here. Nothing is validated in the widgets:
:func:`core.config.parse_config` judges the whole draft and names the key at fault.
"""

from __future__ import annotations

import typing
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLineEdit,
    QSpinBox,
    QWidget,
)

__all__ = ["LABELS", "SectionForm", "parse_decimal"]

LABELS = {
    "daily_usd": "Daily budget (USD)",
    "monthly_usd": "Monthly budget (USD)",
    "hard_limit": "Hard limit (refuse requests over budget)",
    "alert_thresholds": "Alert thresholds (fractions of a budget)",
    "max_input_tokens": "Max input tokens per request",
    "max_output_tokens": "Max output tokens per request",
    "similarity_threshold": "Cosine floor (rules mode: threshold) (0–1)",
    "verifier": "Pair check (learned verifier or rules)",
    "max_error_rate": "Max share of wrong semantic hits (0–0.2)",
    "grey_zone_floor": "Grey zone from verifier score",
    "verify_tier": "Ask this tier in the grey zone (empty: never)",
    "ttl_seconds": "Time to live (seconds)",
    "max_entries": "Max entries",
    "cacheable_max_temperature": "Cache only up to temperature",
    "enabled": "Enabled",
    "min_cache_hit_rate": "Alert below cache hit rate (0–1)",
    "cost_alert_usd_per_day": "Cost alert (USD per day)",
    "otel": "OpenTelemetry export",
}
_INT_MAX = 2**31 - 1
#: Optional text fields shown as a line edit (empty means unset).
OPTIONAL_TEXT = frozenset({"verify_tier"})


def parse_decimal(text: str) -> Decimal | None:
    """An exact decimal from ``text``, or None when it is not a finite number."""
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, ValueError):
        return None
    return value if value.is_finite() else None


def _label(name: str) -> str:
    if name in LABELS:
        return LABELS[name]
    text = name.replace("_", " ").capitalize()
    for suffix, unit in ((" usd", " (USD)"), (" seconds", " (seconds)")):
        if text.endswith(suffix):
            text = text[: -len(suffix)] + unit
    return text


def _kind(annotation: Any) -> tuple[str, tuple[Any, ...]]:
    """``(kind, choices)`` for a field annotation; kind "" means not shown here."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    optional = type(None) in typing.get_args(annotation)
    if optional and len(args) == 1:
        kind, choices = _kind(args[0])
        return ("optional_decimal" if kind == "decimal" else ""), choices
    if typing.get_origin(annotation) is typing.Literal:
        return "choice", typing.get_args(annotation)
    if annotation is bool:
        return "bool", ()
    if annotation is int:
        return "int", ()
    if annotation is float:
        return "float", ()
    if annotation is Decimal:
        return "decimal", ()
    if annotation is str:
        return "str", ()
    if typing.get_origin(annotation) is tuple and args[:1] == [float]:
        return "floats", ()
    return "", ()


class SectionForm(QWidget):
    """The scalar fields of ``section`` (e.g. ``budget``); ``changed`` on any edit."""

    changed = Signal()

    def __init__(
        self,
        section: str,
        model: type[BaseModel],
        *,
        skip: tuple[str, ...] = (),
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.section = section
        self.widgets: dict[str, tuple[str, QWidget]] = {}
        layout = QFormLayout(self)
        for name, info in model.model_fields.items():
            kind, choices = _kind(info.annotation)
            if name in OPTIONAL_TEXT:
                kind = "optional_str"
            if not kind or name in skip:
                continue
            widget = self._make(kind, choices)
            widget.setObjectName(f"{section}.{name}")
            widget.setAccessibleName(_label(name))
            if info.description:
                widget.setToolTip(info.description)
            self.widgets[name] = (kind, widget)
            layout.addRow(_label(name), widget)

    def _make(self, kind: str, choices: tuple[Any, ...]) -> QWidget:
        if kind == "bool":
            box = QCheckBox()
            box.toggled.connect(self.changed)
            return box
        if kind == "int":
            spin = QSpinBox()
            spin.setRange(0, _INT_MAX)
            spin.setGroupSeparatorShown(True)
            spin.valueChanged.connect(self.changed)
            return spin
        if kind == "float":
            dspin = QDoubleSpinBox()
            dspin.setRange(0, 1e9)
            dspin.setDecimals(4)
            dspin.setSingleStep(0.01)
            dspin.valueChanged.connect(self.changed)
            return dspin
        if kind == "choice":
            combo = QComboBox()
            combo.addItems([str(c) for c in choices])
            combo.currentTextChanged.connect(self.changed)
            return combo
        edit = QLineEdit()
        if kind == "optional_decimal":
            edit.setPlaceholderText("none (no limit)")
        elif kind == "optional_str":
            edit.setPlaceholderText("none")
        elif kind == "floats":
            edit.setPlaceholderText("e.g. 0.5, 0.8, 1.0")
        edit.textChanged.connect(self.changed)
        return edit

    def load(self, section: dict[str, Any]) -> None:
        """Show the values of a config section dict (``model_dump()`` shape)."""
        for name, (kind, widget) in self.widgets.items():
            value = section.get(name)
            widget.blockSignals(True)
            if isinstance(widget, QCheckBox):
                widget.setChecked(bool(value))
            elif isinstance(widget, QSpinBox):
                widget.setValue(int(value or 0))
            elif isinstance(widget, QDoubleSpinBox):
                widget.setValue(float(value or 0))
            elif isinstance(widget, QComboBox):
                widget.setCurrentText(str(value))
            elif isinstance(widget, QLineEdit):
                widget.setText(_text(kind, value))
            widget.blockSignals(False)

    def apply(self, section: dict[str, Any]) -> None:
        """Write the widgets' values into ``section``; unparsable text is kept as text
        so that validation names the key and shows what was typed."""
        for name, (kind, widget) in self.widgets.items():
            if isinstance(widget, QCheckBox):
                section[name] = widget.isChecked()
            elif isinstance(widget, QSpinBox):
                section[name] = widget.value()
            elif isinstance(widget, QDoubleSpinBox):
                section[name] = round(widget.value(), widget.decimals())
            elif isinstance(widget, QComboBox):
                section[name] = widget.currentText()
            elif isinstance(widget, QLineEdit):
                section[name] = _parse(kind, widget.text())

    def widget(self, name: str) -> QWidget:
        return self.widgets[name][1]


def _text(kind: str, value: Any) -> str:
    if value is None:
        return ""
    if kind == "floats":
        return ", ".join(f"{v:g}" for v in value)
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def _parse(kind: str, text: str) -> Any:
    text = text.strip()
    if kind == "optional_str":
        return text or None
    if kind in ("decimal", "optional_decimal"):
        if not text:
            return None if kind == "optional_decimal" else text
        value = parse_decimal(text)
        return text if value is None else value
    if kind == "floats":
        parts = [p.strip() for p in text.split(",") if p.strip()]
        try:
            return [float(p) for p in parts]
        except ValueError:
            return text
    return text
