"""Every control of the Playground, Compare, Spend and History has a name a screen reader
reads."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSpinBox,
    QComboBox,
    QHeaderView,
    QLineEdit,
    QPlainTextEdit,
    QScrollBar,
    QTabBar,
    QWidget,
)

from core.types import ToolCall

CONTROLS = (
    QAbstractButton,
    QAbstractSpinBox,
    QComboBox,
    QLineEdit,
    QPlainTextEdit,
    QAbstractItemView,
)


def _part_of_another_control(widget: QWidget, view: QWidget) -> bool:
    if isinstance(widget, QHeaderView) or widget.objectName().startswith("qt_"):
        return True
    parent = widget.parentWidget()
    while parent is not None and parent is not view:
        if isinstance(parent, QAbstractSpinBox | QComboBox | QLineEdit):
            return True
        parent = parent.parentWidget()
    return False


def _unnamed(view: QWidget) -> list[str]:
    missing = []
    for widget in view.findChildren(QWidget):
        if not isinstance(widget, CONTROLS) or isinstance(widget, QScrollBar | QTabBar):
            continue
        parent = widget.parentWidget()
        if _part_of_another_control(widget, view):
            continue  # a combo box's popup, a spin box's editor, a table's header
        if widget.accessibleName():
            continue
        if isinstance(widget, QAbstractButton) and widget.text().strip():
            continue  # a button's text is its accessible name
        missing.append(
            f"{type(widget).__name__} {widget.objectName()!r} in {type(parent).__name__}"
        )
    return missing


@pytest.mark.parametrize("key", ["playground", "compare", "dashboard", "history"])
def test_every_control_is_named(qtbot, make_bridge, make_window, key):
    window = make_window(make_bridge())
    view = window.view(key)
    if key == "playground":  # with a tool-call card and an image card
        view.tool_calls.show_calls([ToolCall("call_1", "get_weather", "{}")])
        image = QImage(64, 64, QImage.Format.Format_RGB32)
        image.fill(QColor("navy"))
        view.extras.images.add_image(image)
        qtbot.waitUntil(lambda: len(view.extras.images.cards) == 1)
    missing = _unnamed(view)
    assert missing == [], "\n".join(missing)
