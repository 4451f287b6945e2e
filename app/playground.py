"""The Playground: type a prompt, see its projected cost live, send it, watch it stream."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent, QKeySequence, QShortcut, QTextCursor
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.engine_bridge import EngineBridge
from app.errors import describe_error, show_error
from app.formatting import fmt_tokens, fmt_usd
from app.result_badges import ResultBadges
from core.engine import Estimate
from core.types import RequestRecord

__all__ = ["ESTIMATE_DEBOUNCE_MS", "PlaygroundView"]

ESTIMATE_DEBOUNCE_MS = 250
_NO_TEMPERATURE = -0.1


class PlaygroundView(QWidget):
    """Prompt, options, live estimate, Send (Ctrl+Enter) / Stop (Esc), output and badges.

    ``reply_finished(record)`` fires when a reply ends, whatever the outcome.
    """

    reply_finished = Signal(object)

    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.config = bridge.engine.config
        self._tag: str | None = None
        self._estimate_generation = 0
        self.last_estimate: Estimate | None = None
        self._build()
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(ESTIMATE_DEBOUNCE_MS)
        self._debounce.timeout.connect(self.refresh_estimate)
        for signal in (
            self.prompt.textChanged,
            self.system.textChanged,
            self.model.currentTextChanged,
            self.max_tokens.valueChanged,
        ):
            signal.connect(lambda *_: self._debounce.start())
        bridge.delta.connect(self._on_delta)
        bridge.reply_done.connect(self._on_done)
        self._set_running(False)
        self._debounce.start()

    # -- layout ------------------------------------------------------------------

    def _build(self) -> None:
        self.model = QComboBox()
        self.model.setEditable(True)
        self.model.setToolTip("auto routes by complexity; or pick a tier; or type PROVIDER/MODEL")
        self.model.addItem("auto")
        for tier in self.config.routing.tiers:
            self.model.addItem(tier.id)
            self.model.setItemData(
                self.model.count() - 1, f"{tier.provider}/{tier.model}", Qt.ItemDataRole.ToolTipRole
            )
        self.max_tokens = QSpinBox()
        self.max_tokens.setRange(1, 1_000_000)
        self.max_tokens.setGroupSeparatorShown(True)
        self.max_tokens.setValue(self.config.budget.max_output_tokens)
        self.max_tokens.setToolTip("Never more than [budget].max_output_tokens or the model's cap")
        self.temperature = QDoubleSpinBox()
        self.temperature.setRange(_NO_TEMPERATURE, 2.0)
        self.temperature.setSingleStep(0.1)
        self.temperature.setDecimals(1)
        self.temperature.setSpecialValueText("default")
        self.temperature.setValue(_NO_TEMPERATURE)
        options = QHBoxLayout()
        for text, widget in (
            ("Model", self.model),
            ("Max output tokens", self.max_tokens),
            ("Temperature", self.temperature),
        ):
            options.addWidget(QLabel(text))
            options.addWidget(widget)
        options.addStretch(1)

        self.system = QPlainTextEdit()
        self.system.setPlaceholderText("System prompt (optional)")
        self.system.setMaximumHeight(70)
        self.prompt = QPlainTextEdit()
        self.prompt.setPlaceholderText("Type a prompt. Ctrl+Enter sends, Esc stops.")
        self.estimate_label = QLabel("–")
        self.estimate_label.setWordWrap(True)
        self.send_button = QPushButton("Send")
        self.send_button.setToolTip("Send (Ctrl+Enter)")
        self.send_button.clicked.connect(self.send)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop the reply (Esc)")
        self.stop_button.clicked.connect(self.stop)
        actions = QHBoxLayout()
        actions.addWidget(self.estimate_label, 1)
        actions.addWidget(self.send_button)
        actions.addWidget(self.stop_button)

        editor = QWidget()
        form = QFormLayout(editor)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow(options)
        form.addRow("System", self.system)
        form.addRow("Prompt", self.prompt)
        form.addRow(actions)

        self.output = QPlainTextEdit()
        self.output.setReadOnly(True)
        self.output.setPlaceholderText("The reply streams here.")
        self.badges = ResultBadges()
        result = QWidget()
        result_layout = QVBoxLayout(result)
        result_layout.setContentsMargins(0, 0, 0, 0)
        result_layout.addWidget(self.output, 1)
        result_layout.addWidget(self.badges)

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(editor)
        splitter.addWidget(result)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

        ctx = Qt.ShortcutContext.WidgetWithChildrenShortcut
        for keys, slot in (("Ctrl+Return", self.send), ("Ctrl+Enter", self.send)):
            QShortcut(QKeySequence(keys), self, slot, context=ctx)
        QShortcut(QKeySequence(Qt.Key.Key_Escape), self, self.stop, context=ctx)
        # The editors take Ctrl+Enter and Esc for themselves; intercept them there.
        self.prompt.installEventFilter(self)
        self.system.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent):
            enter = event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
            if enter and event.modifiers() & Qt.KeyboardModifier.ControlModifier:
                self.send()
                return True
            if event.key() == Qt.Key.Key_Escape and self.running:
                self.stop()
                return True
        return super().eventFilter(watched, event)

    # -- the request -------------------------------------------------------------

    def options(self) -> dict[str, Any]:
        """What ``engine.ask``/``engine.estimate`` get from the form."""
        temperature = self.temperature.value()
        return {
            "system": self.system.toPlainText().strip() or None,
            "model": self.model.currentText().strip() or "auto",
            "max_output_tokens": self.max_tokens.value(),
            "temperature": None if temperature <= _NO_TEMPERATURE + 1e-9 else temperature,
        }

    @property
    def running(self) -> bool:
        return self._tag is not None

    def send(self) -> None:
        if self.running:
            return
        self.output.clear()
        self.badges.clear()
        self._tag = self.bridge.start_reply(self.prompt.toPlainText(), **self.options())
        self._set_running(True)

    def stop(self) -> None:
        if self._tag is not None:
            self.bridge.cancel_reply(self._tag)

    def _on_delta(self, tag: str, text: str) -> None:
        if tag != self._tag:
            return
        self.output.moveCursor(QTextCursor.MoveOperation.End)
        self.output.insertPlainText(text)

    def _on_done(self, tag: str, record: RequestRecord | None, error: BaseException | None) -> None:
        if tag != self._tag:
            return
        self._tag = None
        self._set_running(False)
        if record is not None:
            self.badges.show_record(record)
        if error is not None:
            show_error(error, self)
        self.reply_finished.emit(record)

    def _set_running(self, running: bool) -> None:
        self.send_button.setEnabled(not running)
        self.stop_button.setEnabled(running)

    # -- the live estimate -------------------------------------------------------

    def refresh_estimate(self) -> None:
        """Count tokens and price the worst case off-thread; stale answers are dropped."""
        self._estimate_generation += 1
        generation = self._estimate_generation
        opts = self.options()
        opts.pop("temperature")
        self.bridge.call_on_loop(
            self.bridge.engine.estimate,
            self.prompt.toPlainText(),
            **opts,
            on_result=lambda est: self._show_estimate(generation, est),
            on_error=lambda err: self._show_estimate_error(generation, err),
        )

    def _show_estimate(self, generation: int, est: Estimate) -> None:
        if generation != self._estimate_generation:
            return
        self.last_estimate = est
        approx = "≈" if est.estimated else ""
        self.estimate_label.setText(
            f"{approx}{fmt_tokens(est.input_tokens)} input tokens · tier {est.tier} "
            f"({est.provider}/{est.model}) · worst case {fmt_usd(est.worst_case_usd)} "
            f"at {fmt_tokens(est.max_output_tokens)} output tokens"
        )
        self.estimate_label.setToolTip(
            "Projected before sending: the prompt's tokens plus the maximum output, "
            "at the chosen model's prices"
        )

    def _show_estimate_error(self, generation: int, error: BaseException) -> None:
        if generation == self._estimate_generation:
            self.last_estimate = None
            self.estimate_label.setText(describe_error(error))
