"""One Compare column: a target's streamed answer, its tool calls, what it cost and
took, its score and the winner mark."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.runtime.error_text import describe_error
from app.widgets.content.json_editor import ERROR_STYLE
from app.widgets.content.tool_calls import ToolCallPanel
from app.widgets.formatting import fmt_ms, fmt_tokens, fmt_usd
from core.quality.judge import Verdict
from core.types import RequestRecord

__all__ = ["CompareColumn", "answer_for_judge"]


class CompareColumn(QFrame):
    """One target's streamed answer, what it cost and took, its score and the winner mark.

    ``picked(column)`` fires when the user presses "Pick as winner".
    """

    picked = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.target = ""
        self.record: RequestRecord | None = None
        self.verdict: Verdict | None = None
        self.title = QLabel()
        self.title.setStyleSheet("font-weight: bold")
        self.winner_label = QLabel("★ Winner")
        self.winner_label.setStyleSheet("font-weight: bold")
        self.output = QPlainTextEdit()
        self.output.setReadOnly(True)
        self.json_check = QLabel()
        self.json_check.setWordWrap(True)
        self.json_check.hide()
        self.tool_calls = ToolCallPanel(with_results=False)
        self.cost_label = QLabel()
        self.timing_label = QLabel()
        self.tokens_label = QLabel()
        self.judge_label = QLabel()
        self.judge_label.setWordWrap(True)
        self.pick_button = QPushButton("Pick as winner")
        self.pick_button.setToolTip(
            "Thumbs up for this answer and down for the others (feeds the tier quality)"
        )
        self.pick_button.clicked.connect(lambda: self.picked.emit(self))
        head = QHBoxLayout()
        head.addWidget(self.title, 1)
        head.addWidget(self.winner_label)
        layout = QVBoxLayout(self)
        layout.addLayout(head)
        layout.addWidget(self.output, 1)
        layout.addWidget(self.json_check)
        layout.addWidget(self.tool_calls)
        for label in (self.cost_label, self.timing_label, self.tokens_label, self.judge_label):
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            layout.addWidget(label)
        layout.addWidget(self.pick_button)
        self._name_accessibility("Compare column")
        self.hide()

    def start(self, target: str) -> None:
        self.target = target
        self.record = None
        self.verdict = None
        self.title.setText(target)
        self._name_accessibility(target)
        self.tool_calls.clear()
        self.json_check.hide()
        self.output.clear()
        self.output.setPlaceholderText("Waiting for the first token…")
        for label in (self.cost_label, self.timing_label, self.tokens_label, self.judge_label):
            label.clear()
        self.winner_label.hide()
        self.pick_button.setEnabled(False)
        self.pick_button.setText("Pick as winner")
        self.show()

    def _name_accessibility(self, target: str) -> None:
        for widget, what in (
            (self.title, "target"),
            (self.output, "answer"),
            (self.json_check, "JSON check"),
            (self.cost_label, "cost"),
            (self.timing_label, "timing"),
            (self.tokens_label, "tokens"),
            (self.judge_label, "judge"),
            (self.winner_label, "winner mark"),
        ):
            widget.setAccessibleName(f"{target}: {what}")
        self.pick_button.setAccessibleName(f"Pick {target} as winner")

    def append(self, text: str) -> None:
        self.output.moveCursor(QTextCursor.MoveOperation.End)
        self.output.insertPlainText(text)

    def finish(self, record: RequestRecord | None, error: BaseException | None) -> None:
        self.record = record
        calls = record is not None and bool(record.tool_calls)
        self.output.setPlaceholderText(
            "No text: the model asked for a tool call." if calls else "No text."
        )
        if record is not None:
            cost = record.cost_usd if record.cost_known else None
            self.title.setText(f"{self.target} · {record.provider}/{record.model}")
            self.cost_label.setText(f"cost: {fmt_usd(cost)}")
            self.timing_label.setText(
                f"latency {fmt_ms(record.latency_ms)} · TTFT {fmt_ms(record.ttft_ms)}"
            )
            u = record.usage
            self.tokens_label.setText(
                f"tokens in {fmt_tokens(u.input_tokens)} · out {fmt_tokens(u.output_tokens)}"
                f" · cache {record.cache_outcome}"
            )
            if record.tool_calls:
                self.tool_calls.show_calls(record.tool_calls)
            else:
                self.tool_calls.clear()
        if error is not None:
            self.judge_label.setText(describe_error(error))
        elif record is not None and record.status != "ok":
            self.judge_label.setText(f"status: {record.status} {record.error or ''}".strip())
        self.pick_button.setEnabled(self.answered)

    @property
    def answered(self) -> bool:
        return self.record is not None and self.record.status == "ok"

    def show_verdict(self, verdict: Verdict | None, winner: bool) -> None:
        self.verdict = verdict
        if verdict is not None:
            score = "unscored" if verdict.score is None else f"{verdict.score:g}/10"
            self.judge_label.setText(f"judge: {score} — {verdict.reason}")
            self.judge_label.setToolTip(f"Judging cost {fmt_usd(verdict.cost_usd)}")
        self.winner_label.setVisible(winner)

    def show_picked(self, picked: bool) -> None:
        self.pick_button.setText("Picked ✓" if picked else "Pick as winner")

    def show_json_check(self, request_id: str, ok: bool, text: str) -> None:
        if self.record is None or self.record.request_id != request_id:
            return
        self.json_check.setStyleSheet("" if ok else ERROR_STYLE)
        self.json_check.setText(text)
        self.json_check.show()


def answer_for_judge(record: RequestRecord) -> str:
    """The reply as the judge reads it: its text, then its tool calls."""
    calls = "\n".join(f"Tool call: {c.name}({c.arguments})" for c in record.tool_calls)
    return "\n\n".join(part for part in (record.response, calls) if part)
