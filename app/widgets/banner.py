"""A non-modal message strip for the top of the main window (no dialogs)."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QStyle, QToolButton, QWidget

from app.widgets.design import SPACE, banner_colors
from app.widgets.icons import icon
from app.widgets.theme import current_theme, theme_manager

__all__ = ["MessageBanner"]

# level: (icon, what a screen reader calls it)
_LEVELS = {
    "info": ("info", "Information"),
    "warning": ("triangle-alert", "Warning"),
    "error": ("circle-x", "Error"),
}


class MessageBanner(QFrame):
    """An icon, a wrapped message and a close button, in the theme's colours for the
    message's level (info, warning, error); re-coloured when the theme changes."""

    dismissed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("messageBanner")
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setAutoFillBackground(True)
        self.level = "info"
        self._icon = QLabel()
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.close_button = QToolButton()
        self.close_button.setAutoRaise(True)
        self.close_button.setToolTip("Dismiss message")
        self.close_button.setAccessibleName("Dismiss message")
        self.close_button.clicked.connect(self.dismiss)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(SPACE[2], SPACE[1], SPACE[0], SPACE[1])
        layout.setSpacing(SPACE[1])
        layout.addWidget(self._icon, 0, Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.close_button, 0, Qt.AlignmentFlag.AlignTop)
        self.recolor()
        theme_manager().changed.connect(self.recolor)
        self.hide()

    def show_text(self, text: str, level: str = "info") -> None:
        self.level = level if level in _LEVELS else "info"
        self.label.setText(text)
        self.recolor()
        self.show()

    def colors(self) -> tuple[str, str]:
        """(background, text) of the current level in the current theme."""
        return banner_colors(self.level, current_theme())

    def recolor(self) -> None:
        """Background, text and icons from the current theme for the current level."""
        background, text = self.colors()
        palette = self.palette()
        for role in (QPalette.ColorRole.Window, QPalette.ColorRole.Button):
            palette.setColor(role, QColor(background))
        for role in (
            QPalette.ColorRole.WindowText,
            QPalette.ColorRole.Text,
            QPalette.ColorRole.ButtonText,
        ):
            palette.setColor(role, QColor(text))
        # Children too: under the application stylesheet they do not inherit it.
        for widget in (self, self._icon, self.label, self.close_button):
            widget.setPalette(palette)
        name, spoken = _LEVELS[self.level]
        size = self.style().pixelMetric(QStyle.PixelMetric.PM_SmallIconSize)
        self._icon.setPixmap(icon(name, text).pixmap(QSize(size, size)))
        self._icon.setAccessibleName(spoken)
        self.close_button.setIcon(icon("x", text))

    def text(self) -> str:
        return self.label.text()

    def dismiss(self) -> None:
        self.hide()
        self.dismissed.emit()
