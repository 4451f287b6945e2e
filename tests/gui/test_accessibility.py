"""Every control of every view, and the window's own (the list of views, the banners'
close buttons, the gateway switch), has a name a screen reader reads."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt
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

from app.main_window import KEYS
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
        if isinstance(widget, QAbstractButton) and any(c.isalnum() for c in widget.text()):
            continue  # a button's text is its accessible name (a bare "✕" is not)
        missing.append(
            f"{type(widget).__name__} {widget.objectName()!r} in {type(parent).__name__}"
        )
    return missing


@pytest.mark.parametrize("key", KEYS)
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


def test_the_windows_own_controls_are_named(qtbot, make_bridge, make_window):
    window = make_window(make_bridge())
    window.show()
    for banner in (window.simulator_banner, window.alert_banner, window.error_banner):
        banner.show_text("Something happened", "warning")
    window.gateway.token = "cw-0123456789abcdef"
    window.gateway.state = "on"
    window.gateway._show()  # the copy-token button shows while the gateway is on
    parts = [window.simulator_banner, window.alert_banner, window.error_banner]
    parts += [window.statusBar(), window.nav.parentWidget()]  # the sidebar
    missing = [name for part in parts for name in _unnamed(part)]
    assert missing == [], "\n".join(missing)
    assert window.nav.accessibleName() == "Views"
    for row in range(window.nav.count()):
        item = window.nav.item(row)
        assert item.data(Qt.ItemDataRole.AccessibleTextRole) == item.toolTip()
        assert item.toolTip() == f"{item.text()} (Ctrl+{row + 1})"
