"""A reply's tool calls as cards: the tool's name, its arguments pretty-printed (or as
sent, with a warning, when they are not valid JSON), and optionally a field for what
the tool returned, for a manual tool loop."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app.widgets.content.json_editor import ERROR_STYLE
from core.types import ToolCall, ToolCallDelta

__all__ = ["ToolCallCard", "ToolCallPanel", "pretty_arguments"]

_ARGUMENT_LINES = 8
_MIN_HEIGHT = 90


def pretty_arguments(arguments: str) -> tuple[str, str | None]:
    """The arguments indented when they are JSON, else as sent with what is wrong."""
    try:
        value = json.loads(arguments or "{}")
    except (json.JSONDecodeError, RecursionError) as e:
        return arguments, f"not valid JSON ({e}); shown as the model sent it"
    return json.dumps(value, indent=2, ensure_ascii=False), None


def _lines_height(edit: QPlainTextEdit, lines: int) -> int:
    return edit.fontMetrics().lineSpacing() * lines + 12


class ToolCallCard(QFrame):
    """One call: name and id, its arguments, a warning when they are not JSON, and
    (``with_result``) a field for the tool's result."""

    def __init__(
        self, name: str, call_id: str, with_result: bool, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.call = ToolCall(call_id, name, "")
        self.title = QLabel()
        self.title.setStyleSheet("font-weight: bold")
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.arguments = QPlainTextEdit()
        self.arguments.setReadOnly(True)
        self.arguments.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.warning = QLabel()
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet(ERROR_STYLE)
        self.warning.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.title)
        layout.addWidget(self.arguments)
        layout.addWidget(self.warning)
        self.result: QPlainTextEdit | None = None
        if with_result:
            self.result = QPlainTextEdit()
            self.result.setPlaceholderText("What the tool returned (text or JSON)")
            self.result.setMaximumHeight(_lines_height(self.result, 3))
            self.result.setTabChangesFocus(True)
            layout.addWidget(QLabel("Result"))
            layout.addWidget(self.result)
        self._name_accessibility()

    def _name_accessibility(self) -> None:
        who = f"{self.call.name} ({self.call.id})" if self.call.id else self.call.name
        name, call_id = html.escape(self.call.name or "…"), html.escape(self.call.id)
        self.title.setText(f"{name}  <span style='color: gray'>{call_id}</span>")
        self.title.setAccessibleName(f"Tool call {who}")
        self.arguments.setAccessibleName(f"Arguments of {who}")
        if self.result is not None:
            self.result.setAccessibleName(f"Result of {who}")

    def stream(self, delta: ToolCallDelta) -> None:
        """Grow the call with a streamed piece (shown raw until the call is whole)."""
        self.call = ToolCall(
            delta.id or self.call.id,
            delta.name or self.call.name,
            self.call.arguments + delta.arguments,
        )
        self._name_accessibility()
        self.arguments.setPlainText(self.call.arguments)
        self.arguments.setFixedHeight(_lines_height(self.arguments, 2))

    def show_call(self, call: ToolCall) -> None:
        """The whole call, as the record has it."""
        self.call = call
        self._name_accessibility()
        text, problem = pretty_arguments(call.arguments)
        self.arguments.setPlainText(text)
        lines = min(max(text.count("\n") + 1, 2), _ARGUMENT_LINES)
        self.arguments.setFixedHeight(_lines_height(self.arguments, lines))
        self.warning.setText(f"⚠ The arguments are {problem}." if problem else "")
        self.warning.setVisible(problem is not None)

    def result_text(self) -> str:
        return "" if self.result is None else self.result.toPlainText().strip()


class ToolCallPanel(QWidget):
    """The tool calls of one reply. ``with_results``: a result field per call and
    Continue, which emits ``continue_requested(list of (call, result))`` once every
    call has a result."""

    continue_requested = Signal(list)

    def __init__(self, with_results: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.with_results = with_results
        self.cards: list[ToolCallCard] = []
        self._by_index: dict[int, ToolCallCard] = {}
        self.heading = QLabel()
        self.heading.setWordWrap(True)
        self.heading.setAccessibleName("Tool calls")
        holder = QWidget()
        self._cards = QVBoxLayout(holder)
        self._cards.setContentsMargins(0, 0, 0, 0)
        self._cards.addStretch(1)
        # Many calls scroll rather than push the window taller than the screen.
        self.scroll = QScrollArea()
        self.scroll.setWidget(holder)
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setMinimumHeight(_MIN_HEIGHT)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.heading)
        layout.addWidget(self.scroll, 1)
        self.continue_button = QPushButton("Continue with results")
        self.continue_button.setAccessibleName("Continue with the tool results")
        self.continue_button.setToolTip("Send each call's result; the model's answer is appended")
        self.continue_button.clicked.connect(self.request_continue)
        self.hint = QLabel()
        self.hint.setWordWrap(True)
        if with_results:
            actions = QHBoxLayout()
            actions.addWidget(self.hint, 1)
            actions.addWidget(self.continue_button)
            layout.addLayout(actions)
        self.clear()

    @property
    def calls(self) -> list[ToolCall]:
        return [card.call for card in self.cards]

    def clear(self) -> None:
        for card in self.cards:
            self._cards.removeWidget(card)
            card.deleteLater()
        self.cards = []
        self._by_index = {}
        self.hint.clear()
        self.hide()

    def stream(self, delta: ToolCallDelta) -> None:
        """A streamed piece of the reply's ``delta.index``-th call."""
        card = self._by_index.get(delta.index)
        if card is None:
            card = self._add(ToolCallCard(delta.name or "", delta.id or "", False))
            self._by_index[delta.index] = card
        card.stream(delta)
        self.heading.setText("The model is calling tools…")
        self.continue_button.setEnabled(False)

    def show_calls(self, calls: Sequence[ToolCall]) -> None:
        """The reply's whole calls (replacing what streamed)."""
        self.clear()
        for call in calls:
            card = self._add(ToolCallCard(call.name, call.id, self.with_results))
            card.show_call(call)
        n = len(calls)
        asked = f"The model asked for {n} tool call{'s' if n != 1 else ''}."
        self.heading.setText(
            asked + (" Type each result, then Continue." if self.with_results else "")
        )
        self.continue_button.setEnabled(True)
        if calls and self.cards[0].result is not None:
            self.cards[0].result.setFocus()

    def _add(self, card: ToolCallCard) -> ToolCallCard:
        self.cards.append(card)
        self._cards.insertWidget(self._cards.count() - 1, card)
        self.show()
        return card

    def results(self) -> list[tuple[ToolCall, str]]:
        return [(card.call, card.result_text()) for card in self.cards]

    def request_continue(self) -> None:
        missing = [card.call.name for card in self.cards if not card.result_text()]
        if missing:
            self.hint.setStyleSheet(ERROR_STYLE)
            self.hint.setText(f"Type a result for {', '.join(missing)} first.")
            return
        self.hint.setStyleSheet("")
        self.hint.clear()
        self.continue_requested.emit(self.results())

    def set_busy(self, busy: bool) -> None:
        self.continue_button.setEnabled(not busy and bool(self.cards))
        for card in self.cards:
            if card.result is not None:
                card.result.setReadOnly(busy)
