"""What a view shows before it has anything to show: an icon, a title, a line, buttons.

A view puts an :class:`EmptyState` where its content will be and switches to the
content once there is some. The buttons only announce what was asked for
(``triggered(action)``); the view passes that on by its own signal and the main window
does it, so views never import the window. :data:`OPEN_PLAYGROUND` and
:data:`START_GATEWAY` are the actions the main window knows.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.runtime.engine_bridge import EngineBridge
from app.widgets.design import SPACE
from app.widgets.icons import icon
from app.widgets.theme import theme_manager

__all__ = [
    "OPEN_PLAYGROUND",
    "START_GATEWAY",
    "EmptyState",
    "UntilFirstRequest",
    "cache_empty_state",
    "no_requests_state",
]

OPEN_PLAYGROUND = "open-playground"
START_GATEWAY = "start-gateway"
_ICON_SIZE = 48


class EmptyState(QFrame):
    """An icon, a title, a line of text and action buttons, centred.

    ``actions`` are ``(action, button text)`` pairs; the first button is the primary
    one. A click emits ``triggered(action)``. ``buttons`` maps each action to its button.
    """

    triggered = Signal(str)

    def __init__(
        self,
        icon_name: str,
        title: str,
        text: str,
        actions: Sequence[tuple[str, str]] = (),
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("emptyState")
        self.icon_name = icon_name
        self.icon_label = QLabel()
        self.icon_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title = QLabel(title)
        self.title.setProperty("role", "title")
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title.setWordWrap(True)
        self.text = QLabel(text)
        self.text.setProperty("role", "muted")
        self.text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.text.setWordWrap(True)
        self.buttons: dict[str, QPushButton] = {}
        row = QHBoxLayout()
        row.addStretch(1)
        for i, (action, label) in enumerate(actions):
            button = QPushButton(label)
            button.setAccessibleName(label)
            if i == 0:
                button.setProperty("primary", "true")
            button.clicked.connect(lambda _checked=False, a=action: self.triggered.emit(a))
            self.buttons[action] = button
            row.addWidget(button)
        row.addStretch(1)

        column = QVBoxLayout(self)
        column.addStretch(1)
        column.addWidget(self.icon_label)
        column.addWidget(self.title)
        column.addWidget(self.text)
        column.setSpacing(SPACE[1])
        column.addSpacing(SPACE[1])
        column.addLayout(row)
        column.addStretch(2)
        self.setAccessibleName(title)
        self.setAccessibleDescription(text)
        self._draw_icon()
        theme_manager().changed.connect(self._draw_icon)

    def _draw_icon(self, *_theme: object) -> None:
        pixmap = icon(self.icon_name).pixmap(QSize(_ICON_SIZE, _ICON_SIZE), self.devicePixelRatio())
        self.icon_label.setPixmap(pixmap)


def no_requests_state(icon_name: str, parent: QWidget | None = None) -> EmptyState:
    """Spend and History (each with its own icon) before the ledger holds anything."""
    return EmptyState(
        icon_name,
        "No requests yet",
        "Send one from the Playground, or point an app at the gateway.",
        [(OPEN_PLAYGROUND, "Open the Playground"), (START_GATEWAY, "Start the gateway")],
        parent,
    )


def cache_empty_state(parent: QWidget | None = None) -> EmptyState:
    """The cache browser before anything is cached."""
    return EmptyState(
        "database-zap",
        "The cache is empty",
        "Answers are cached as you send requests; similar prompts are then answered for free.",
        [(OPEN_PLAYGROUND, "Open the Playground")],
        parent,
    )


class UntilFirstRequest(QStackedWidget):
    """``empty`` until the ledger holds a request, then ``body`` for good (rows are never
    removed). :meth:`check` counts the whole ledger off-thread while it is empty."""

    def __init__(self, bridge: EngineBridge, body: QWidget, empty: EmptyState) -> None:
        super().__init__()
        self.bridge = bridge
        self.body = body
        self.empty = empty
        self.has_requests = False
        self.addWidget(body)
        self.addWidget(empty)

    def check(self) -> None:
        if not self.has_requests:
            self.bridge.call(self.bridge.engine.history_count, on_result=self._counted)

    def _counted(self, count: int) -> None:
        self.has_requests = self.has_requests or count > 0
        self.setCurrentWidget(self.body if self.has_requests else self.empty)
