"""One Compare column: a target's streamed answer, its tool calls, what it cost and
took, its score and the winner mark.

The column's ``tier`` property (``fast``, ``balanced``, ``premium``, ``other``, or empty
before it is known) lets the stylesheet draw the tier's colour along its top edge;
the labels take ``role`` and ``badge``/``tone`` properties (:mod:`app.widgets.theme`).
"""

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
from app.widgets.design import SPACE
from app.widgets.formatting import fmt_ms, fmt_tokens, fmt_usd, fmt_usd_exact
from app.widgets.theme import repolish
from core.quality.judge import Verdict
from core.types import RequestRecord

__all__ = ["CompareColumn", "answer_for_judge"]

_TIER_ACCENTS = ("fast", "balanced", "premium")


class CompareColumn(QFrame):
    """One target's streamed answer, what it cost and took, its score and the winner mark.

    ``picked(column)`` fires when the user presses "Pick as winner".
    """

    picked = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setProperty("tier", "")
        self.target = ""
        self.record: RequestRecord | None = None
        self.verdict: Verdict | None = None
        self.title = QLabel()
        self.title.setProperty("role", "subtitle")
        self.title.setWordWrap(True)
        self.winner_label = QLabel("★ Winner")
        _badge(self.winner_label, "primary", "good")
        self.output = QPlainTextEdit()
        self.output.setReadOnly(True)
        self.json_check = QLabel()
        self.json_check.setWordWrap(True)
        self.json_check.hide()
        self.tool_calls = ToolCallPanel(with_results=False)
        self.cost_label = QLabel()
        _badge(self.cost_label, "primary", "neutral")
        self.timing_label = QLabel()
        self.tokens_label = QLabel()
        for label in (self.timing_label, self.tokens_label):
            _badge(label, "tertiary", "neutral")
            label.setWordWrap(True)
        self.judge_label = QLabel()
        self.judge_label.setWordWrap(True)
        self.pick_button = QPushButton("Pick as winner")
        self.pick_button.setToolTip(
            "Thumbs up for this answer and down for the others (feeds the tier quality)"
        )
        self.pick_button.clicked.connect(lambda: self.picked.emit(self))
        head = QHBoxLayout()
        head.addWidget(self.title, 1)
        head.addWidget(self.winner_label, 0, Qt.AlignmentFlag.AlignTop)
        cost = QHBoxLayout()
        cost.addWidget(self.cost_label)
        cost.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(SPACE[2], SPACE[2], SPACE[2], SPACE[2])
        layout.setSpacing(SPACE[1])
        layout.addLayout(head)
        layout.addWidget(self.output, 1)
        layout.addWidget(self.json_check)
        layout.addWidget(self.tool_calls)
        layout.addLayout(cost)
        for label in (self.timing_label, self.tokens_label, self.judge_label):
            layout.addWidget(label)
        for label in (self.cost_label, self.timing_label, self.tokens_label, self.judge_label):
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.pick_button)
        self._name_accessibility("Compare column")
        self.hide()

    def start(self, target: str) -> None:
        self.target = target
        self.record = None
        self.verdict = None
        self.title.setText(target)
        self._set_tier(target if target in _TIER_ACCENTS else "")
        self._name_accessibility(target)
        self.tool_calls.clear()
        self.json_check.hide()
        self.output.clear()
        self.output.setPlaceholderText("Waiting for the first token…")
        for label in (self.cost_label, self.timing_label, self.tokens_label, self.judge_label):
            label.clear()
        for badge in (self.cost_label, self.timing_label, self.tokens_label):
            badge.hide()  # an empty pill would still draw
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
            self.title.setText(f"{self.target} · {record.provider}/{record.model}")
            self._set_tier(record.tier if record.tier in _TIER_ACCENTS else "other")
            self._show_cost(record)
            self._show(
                self.timing_label,
                "timing",
                f"latency {fmt_ms(record.latency_ms)} · TTFT {fmt_ms(record.ttft_ms)}",
            )
            u = record.usage
            self._show(
                self.tokens_label,
                "tokens",
                f"tokens in {fmt_tokens(u.input_tokens)} · out {fmt_tokens(u.output_tokens)}"
                f" · cache {record.cache_outcome}",
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

    def _show_cost(self, record: RequestRecord) -> None:
        """The cost first and boldest; an unknown price warns."""
        cost = record.cost_usd if record.cost_known else None
        if cost is None:
            text, tone, tip = "cost unknown", "warn", "No known price for this model"
        else:
            text, tone = fmt_usd(cost), "neutral"
            tip = f"Cost {fmt_usd_exact(cost)}, exact at the price table's rates"
        if self.cost_label.property("tone") != tone:
            self.cost_label.setProperty("tone", tone)
            repolish(self.cost_label)
        self.cost_label.setToolTip(tip)
        self._show(self.cost_label, "cost", text)

    def _show(self, label: QLabel, what: str, text: str) -> None:
        """A fact's text, named with its value for a screen reader (``fast cost: $0.25``)."""
        label.setText(text)
        label.setAccessibleName(f"{self.target} {what}: {text}")
        label.show()

    def _set_tier(self, tier: str) -> None:
        if self.property("tier") != tier:
            self.setProperty("tier", tier)
            repolish(self)

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


def _badge(label: QLabel, level: str, tone: str) -> None:
    label.setProperty("badge", level)
    label.setProperty("tone", tone)
