"""Thumbs up / down on the playground's last answer (``engine.feedback``).

A vote is stored off the UI thread and can be changed (the engine keeps one per
answer). Thumbs down also keeps the answer out of the cache for good. The two icon
buttons answer to their shortcuts (``playground.thumbs_up`` / ``thumbs_down`` in
:data:`app.widgets.shortcuts_dialog.SHORTCUTS`) anywhere in the view that installs them.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QKeySequence, QShortcut
from PySide6.QtWidgets import QHBoxLayout, QToolButton, QWidget

from app.runtime.engine_bridge import EngineBridge
from app.runtime.error_text import describe_error
from app.widgets.design import SPACE, tone_color
from app.widgets.icons import icon
from app.widgets.shortcuts_dialog import key_text, shortcut_keys
from app.widgets.theme import current_theme, theme_manager
from core.types import RequestRecord

__all__ = ["AnswerFeedback", "feedback_message"]

# The keys come from the app's one list of shortcuts (the Keyboard shortcuts dialog's).
_SHORTCUT_IDS = {"up": "playground.thumbs_up", "down": "playground.thumbs_down"}
_ICON_SIZE = 20
# vote: (icon, tooltip before the shortcut, accessible name, theme colour when checked)
_BUTTONS = {
    "up": ("thumbs-up", "Good answer", "Thumbs up", "good"),
    "down": (
        "thumbs-down",
        "Bad answer — the cache will never serve it again",
        "Thumbs down",
        "bad",
    ),
}


def feedback_message(vote: str, tier: str | None) -> str:
    """The short confirmation for the status bar."""
    on = f" (tier {tier})" if tier else ""
    if vote == "up":
        return f"Thanks: answer marked good{on}."
    return f"Answer marked bad{on}: the cache will not serve it again."


class AnswerFeedback(QWidget):
    """Two checkable buttons; ``stored(vote, message)`` once the engine has the vote,
    ``failed(message)`` when it could not be stored."""

    stored = Signal(str, str)
    failed = Signal(str)

    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.record: RequestRecord | None = None
        self.vote: str | None = None
        self.up_button = QToolButton()
        self.down_button = QToolButton()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(SPACE[0])
        for vote, (_, tip, name, _) in _BUTTONS.items():
            button = self.button_for(vote)
            button.setProperty("feedback", "true")
            button.setCheckable(True)
            button.setAutoRaise(True)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
            button.setIconSize(QSize(_ICON_SIZE, _ICON_SIZE))
            button.setToolTip(f"{tip} ({key_text(_SHORTCUT_IDS[vote])})")
            button.setAccessibleName(name)
            button.clicked.connect(lambda _checked=False, v=vote: self.send_vote(v))
            layout.addWidget(button)
        layout.addStretch(1)
        self.refresh_icons()
        theme_manager().changed.connect(self.refresh_icons)
        self.set_record(None)

    def button_for(self, vote: str) -> QToolButton:
        return self.up_button if vote == "up" else self.down_button

    def install_shortcuts(self, scope: QWidget) -> list[QShortcut]:
        """The votes' shortcuts for as long as the focus is in ``scope`` (the view);
        a shortcut does nothing while its button is disabled."""
        ctx = Qt.ShortcutContext.WidgetWithChildrenShortcut
        return [
            QShortcut(QKeySequence(keys), scope, self.button_for(vote).click, context=ctx)
            for vote, shortcut_id in _SHORTCUT_IDS.items()
            for keys in shortcut_keys(shortcut_id)
        ]

    def refresh_icons(self) -> None:
        """Draw the icons in the current theme: text colour, and the vote's tone once
        checked. Called again whenever the theme changes."""
        theme = current_theme()
        for vote, (name, _, _, tone) in _BUTTONS.items():
            self.button_for(vote).setIcon(
                _two_state_icon(name, theme.text, tone_color(tone, theme))
            )

    def set_record(self, record: RequestRecord | None) -> None:
        """The answer votes go to; only a finished, successful answer takes one."""
        self.record = record
        self.vote = None
        usable = record is not None and record.status == "ok"
        for button in (self.up_button, self.down_button):
            button.setChecked(False)
            button.setEnabled(usable)

    def send_vote(self, vote: str) -> None:
        record = self.record
        if record is None:
            return
        self._show_vote(self.vote)  # until stored, the buttons show the stored vote
        for button in (self.up_button, self.down_button):
            button.setEnabled(False)
        self.bridge.call_slow(
            self.bridge.engine.feedback,
            record.request_id,
            vote,
            on_result=lambda tier: self._stored(record, vote, tier),
            on_error=lambda error: self._failed(record, error),
        )

    def _stored(self, record: RequestRecord, vote: str, tier: str | None) -> None:
        if record is not self.record:
            return  # a newer answer replaced it meanwhile
        self.vote = vote
        self._enable()
        self.stored.emit(vote, feedback_message(vote, tier))

    def _failed(self, record: RequestRecord, error: BaseException) -> None:
        if record is self.record:
            self._enable()
        self.failed.emit(f"Feedback not stored: {describe_error(error)}")

    def _enable(self) -> None:
        self._show_vote(self.vote)
        for button in (self.up_button, self.down_button):
            button.setEnabled(True)

    def _show_vote(self, vote: str | None) -> None:
        self.up_button.setChecked(vote == "up")
        self.down_button.setChecked(vote == "down")


def _two_state_icon(name: str, off: str, on: str) -> QIcon:
    """Icon ``name`` in colour ``off``, and in ``on`` while its button is checked."""
    return icon(name, off, checked=on)
