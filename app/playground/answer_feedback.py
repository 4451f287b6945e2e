"""Thumbs up / down on the playground's last answer (``engine.feedback``).

A vote is stored off the UI thread and can be changed (the engine keeps one per
answer). Thumbs down also keeps the answer out of the cache for good.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QWidget

from app.runtime.engine_bridge import EngineBridge
from app.runtime.error_text import describe_error
from core.types import RequestRecord

__all__ = ["AnswerFeedback", "feedback_message"]


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
        self.up_button = QPushButton("Thumbs up")
        self.up_button.setToolTip("Thumbs up: counts toward this tier's quality")
        self.down_button = QPushButton("Thumbs down")
        self.down_button.setToolTip(
            "Thumbs down: counts against this tier's quality, and the cache never serves "
            "this answer again"
        )
        self.up_button.setAccessibleName("Thumbs up")
        self.down_button.setAccessibleName("Thumbs down")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for button, vote in ((self.up_button, "up"), (self.down_button, "down")):
            button.setCheckable(True)
            button.clicked.connect(lambda _checked=False, v=vote: self.send_vote(v))
            layout.addWidget(button)
        layout.addStretch(1)
        self.set_record(None)

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
