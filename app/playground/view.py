"""The Playground: type a prompt, see its projected cost live, send it, watch it stream.

Thumbs up / down rate the last answer. In conversation mode the first Send starts a
stored conversation and each later Send continues it; the pane beside the answer
shows its turns, and the badges say what context management sent and saved.

Under the prompt, tools, JSON output and images fold out (:class:`RequestExtras`); the
estimate counts them. A reply's tool calls show as cards with a result field each, and
Continue sends the results back (:class:`~app.playground.tool_loop.ToolLoop`), its
answer appended to the output.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent, QKeySequence, QShortcut, QTextCursor
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.playground.answer_feedback import AnswerFeedback
from app.playground.conversation_pane import ConversationPane
from app.playground.estimate import RequestEstimate, estimate_request
from app.playground.tool_loop import ToolLoop, results_transcript
from app.runtime.engine_bridge import EngineBridge
from app.runtime.error_text import describe_error
from app.widgets.content.json_editor import ERROR_STYLE
from app.widgets.content.json_output import check_json_reply
from app.widgets.content.request_extras import RequestExtras
from app.widgets.content.tool_calls import ToolCallPanel
from app.widgets.design import SPACE
from app.widgets.errors import show_error, show_message
from app.widgets.formatting import fmt_tokens, fmt_usd
from app.widgets.icons import icon
from app.widgets.result_badges import ResultBadges
from app.widgets.shortcuts_dialog import shortcut_keys
from app.widgets.theme import current_theme, theme_manager
from core.types import RequestRecord, ResponseFormat, ToolCall, ToolCallDelta

__all__ = ["ESTIMATE_DEBOUNCE_MS", "PlaygroundView"]

ESTIMATE_DEBOUNCE_MS = 250
_NO_TEMPERATURE = -0.1
_OUTPUT_PLACEHOLDER = "The reply streams here."


class PlaygroundView(QWidget):
    """Prompt, options, live estimate, Send (Ctrl+Enter) / Stop (Esc), output and badges.

    ``reply_finished(record)`` fires when a reply ends, whatever the outcome;
    ``status_message(text)`` carries short confirmations for the status bar.
    """

    reply_finished = Signal(object)
    status_message = Signal(str)

    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.config = bridge.engine.config
        self._tag: str | None = None
        self._starting = False  # creating the conversation the first Send continues
        self._checking = False  # waiting for the tools/schema check or an image
        self._estimate_generation = 0
        self.last_estimate: RequestEstimate | None = None
        self.tool_loop: ToolLoop | None = None
        self._format: ResponseFormat | None = None
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
            self.extras.changed,
        ):
            signal.connect(lambda *_: self._debounce.start())
        bridge.delta.connect(self._on_delta)
        bridge.tool_delta.connect(self._on_tool_delta)
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
        self.conversation_mode = QCheckBox("Conversation")
        self.conversation_mode.setToolTip(
            "Each Send continues one stored conversation (its history goes with the prompt, "
            "trimmed and summarised by the [context] settings)"
        )
        self.conversation_mode.toggled.connect(self._set_conversation_mode)
        options.addWidget(self.conversation_mode)
        options.addStretch(1)
        for widget, name in (
            (self.model, "Model"),
            (self.max_tokens, "Max output tokens"),
            (self.temperature, "Temperature"),
            (self.conversation_mode, "Conversation mode"),
        ):
            widget.setAccessibleName(name)

        self.system = QPlainTextEdit()
        self.system.setPlaceholderText("System prompt (optional)")
        self.system.setMaximumHeight(70)
        self.prompt = QPlainTextEdit()
        self.prompt.setPlaceholderText(
            "Type a prompt. Ctrl+Enter sends, Esc stops; paste or drop images to attach them."
        )
        self.system.setAccessibleName("System prompt")
        self.prompt.setAccessibleName("Prompt")
        self.system.setTabChangesFocus(True)  # Tab moves on through the form
        self.prompt.setTabChangesFocus(True)
        self.extras = RequestExtras(self.bridge.call_content)
        self.extras.images.watch(self.prompt, self.prompt.viewport())
        self.extras.images.changed.connect(self._images_changed)
        self.estimate_label = QLabel("–")
        self.estimate_label.setWordWrap(True)
        self.estimate_label.setProperty("role", "muted")
        self.estimate_label.setAccessibleName("Estimate")
        self.send_button = QPushButton("Send")
        self.send_button.setProperty("primary", "true")
        self.send_button.setToolTip("Send (Ctrl+Enter)")
        self.send_button.clicked.connect(self.send)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop the reply (Esc)")
        self.stop_button.clicked.connect(self.stop)
        self.send_button.setAccessibleName("Send")
        self.stop_button.setAccessibleName("Stop")
        self._refresh_icons()
        theme_manager().changed.connect(self._refresh_icons)
        actions = QHBoxLayout()
        actions.setSpacing(SPACE[1])
        actions.addWidget(self.estimate_label, 1)
        actions.addWidget(self.send_button)
        actions.addWidget(self.stop_button)

        editor = QWidget()
        form = QFormLayout(editor)
        form.setContentsMargins(0, 0, 0, SPACE[1])
        form.setVerticalSpacing(SPACE[1])
        form.addRow(options)
        form.addRow("System", self.system)
        form.addRow("Prompt", self.prompt)
        form.addRow(self.extras)
        form.addRow(actions)

        self.output = QPlainTextEdit()
        self.output.setReadOnly(True)
        self.output.setPlaceholderText(_OUTPUT_PLACEHOLDER)
        self.output.setAccessibleName("Reply")
        self.json_check = QLabel()
        self.json_check.setWordWrap(True)
        self.json_check.setAccessibleName("JSON check of the reply")
        self.json_check.hide()
        self.tool_calls = ToolCallPanel(with_results=True)
        self.tool_calls.continue_requested.connect(self.continue_with_results)
        self.badges = ResultBadges()
        self.feedback = AnswerFeedback(self.bridge)
        self.feedback.stored.connect(lambda _vote, text: self.status_message.emit(text))
        self.feedback.failed.connect(self.status_message.emit)
        # The reply and what it cost read as one card (``QFrame[card="true"]``).
        answer = QFrame()
        answer.setObjectName("result_card")
        answer.setProperty("card", "true")
        answer.setFrameShape(QFrame.Shape.StyledPanel)
        answer_layout = QVBoxLayout(answer)
        answer_layout.setContentsMargins(SPACE[2], SPACE[2], SPACE[2], SPACE[2])
        answer_layout.setSpacing(SPACE[1])
        # Tool calls beside the reply's text, so a card and its result field fit.
        self.reply_split = QSplitter(Qt.Orientation.Horizontal)
        self.reply_split.addWidget(self.output)
        self.reply_split.addWidget(self.tool_calls)
        self.reply_split.setStretchFactor(0, 1)
        self.reply_split.setStretchFactor(1, 1)
        self.reply_split.setChildrenCollapsible(False)
        answer_layout.addWidget(self.reply_split, 1)
        answer_layout.addWidget(self.json_check)
        answer_layout.addWidget(self.badges)
        answer_layout.addWidget(self.feedback)
        self.conversation = ConversationPane(self.bridge)
        self.conversation.hide()
        result = QSplitter(Qt.Orientation.Horizontal)
        result.addWidget(self.conversation)
        result.addWidget(answer)
        result.setStretchFactor(0, 2)
        result.setStretchFactor(1, 3)

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(editor)
        splitter.addWidget(result)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(SPACE[3], SPACE[3], SPACE[3], SPACE[3])
        layout.addWidget(splitter)

        ctx = Qt.ShortcutContext.WidgetWithChildrenShortcut
        for shortcut_id, slot in (("playground.send", self.send), ("playground.stop", self.stop)):
            for keys in shortcut_keys(shortcut_id):
                QShortcut(QKeySequence(keys), self, slot, context=ctx)
        self.feedback.install_shortcuts(self)
        # The editors take Ctrl+Enter and Esc for themselves; intercept them there.
        self.prompt.installEventFilter(self)
        self.system.installEventFilter(self)

    def _refresh_icons(self) -> None:
        """Send and Stop icons in the current theme's colours (again on a theme change)."""
        theme = current_theme()
        self.send_button.setIcon(icon("send", theme.accent_text))
        self.stop_button.setIcon(icon("square", theme.text))

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
        return self._tag is not None or self._starting or self._checking

    def send(self) -> None:
        """Send the prompt, once the typed tools/schema are checked and images read."""
        if self.running:
            return
        self._checking = True
        self._set_running(True)
        self.extras.when_ready(self._send_checked)

    def _send_checked(self) -> None:
        if not self._checking:
            return  # stopped while the check ran, or a second Send's callback
        self._checking = False
        problem = self.extras.problem()
        if problem is not None:
            self._set_running(False)
            self.extras.set_expanded(True)
            show_message(self, f"Cannot send: {problem}", "error")
            return
        self._set_running(True)
        self.output.clear()
        self.output.setPlaceholderText(_OUTPUT_PLACEHOLDER)
        self.badges.clear()
        self.feedback.set_record(None)
        self.tool_calls.clear()
        self.json_check.hide()
        prompt = self.prompt.toPlainText()
        options = {**self.options(), **self.extras.ask_options()}
        if not self.conversation_mode.isChecked():
            self._start(prompt, options)
        elif self.conversation.conversation_id is not None:
            self._continue(prompt, options, self.conversation.conversation_id)
        else:
            self._starting = True
            title = " ".join(prompt.split())[:60] or "Untitled"
            self.conversation.start(
                options["system"],
                title,
                then=lambda cid: self._continue(prompt, options, cid),
                on_error=self._start_failed,
            )

    def _continue(self, prompt: str, options: dict[str, Any], conversation_id: str) -> None:
        # The conversation keeps the system prompt it was started with.
        self._start(prompt, {**options, "system": None, "conversation_id": conversation_id})

    def _start(self, prompt: str, options: dict[str, Any]) -> None:
        """A new prompt: a tool loop begins when it offers tools."""
        self.tool_loop = ToolLoop.start(prompt, options) if options.get("tools") else None
        self._launch(prompt, options)

    def _launch(self, prompt: str, options: dict[str, Any]) -> None:
        self._starting = False
        self._format = options.get("response_format")
        self._tag = self.bridge.start_reply(prompt, **options)

    def continue_with_results(self, results: list[tuple[ToolCall, str]]) -> None:
        """Send the typed results of the last reply's tool calls; the answer is appended."""
        loop = self.tool_loop
        if self.running or loop is None or not results:
            return
        prompt, options = loop.continuation(results)
        before = "\n\n" if self.output.toPlainText() else ""
        self.output.moveCursor(QTextCursor.MoveOperation.End)
        self.output.insertPlainText(f"{before}{results_transcript(results)}\n\n")
        self.badges.clear()
        self.feedback.set_record(None)
        self.json_check.hide()
        self.tool_calls.set_busy(True)
        self._set_running(True)
        self._launch(prompt, options)

    def _start_failed(self, error: BaseException) -> None:
        self._starting = False
        self._set_running(False)
        show_error(error, self)

    def _set_conversation_mode(self, on: bool) -> None:
        self.conversation.setVisible(on)
        if not on:
            self.conversation.reset()

    def stop(self) -> None:
        if self._checking:  # nothing sent yet: just do not send
            self._checking = False
            self._set_running(False)
        if self._tag is not None:
            self.bridge.cancel_reply(self._tag)

    def _on_delta(self, tag: str, text: str) -> None:
        if tag != self._tag:
            return
        self.output.moveCursor(QTextCursor.MoveOperation.End)
        self.output.insertPlainText(text)

    def _on_tool_delta(self, tag: str, delta: ToolCallDelta) -> None:
        if tag == self._tag:
            self.tool_calls.stream(delta)

    def _on_done(self, tag: str, record: RequestRecord | None, error: BaseException | None) -> None:
        if tag != self._tag:
            return
        self._tag = None
        self._set_running(False)
        self.feedback.set_record(record)
        self.tool_calls.set_busy(False)
        if record is not None:
            self.badges.show_record(record)
            self._show_tool_calls(record)
            self._check_json(record)
        if record is not None and record.conversation_id is not None:
            self.conversation.refresh()
        if error is not None:
            show_error(error, self)
        self.reply_finished.emit(record)

    def _set_running(self, running: bool) -> None:
        self.send_button.setEnabled(not running)
        self.stop_button.setEnabled(running and not self._checking)

    def _show_tool_calls(self, record: RequestRecord) -> None:
        if record.status != "ok":
            return  # the calls still wait for their results: Continue can be retried
        if self.tool_loop is not None:
            self.tool_loop.answered(record)
        if record.tool_calls:
            self.tool_calls.show_calls(record.tool_calls)
            self.output.setPlaceholderText(
                "No text: the model asked for the tool calls beside this."
            )
        else:
            self.tool_calls.clear()

    def _check_json(self, record: RequestRecord) -> None:
        """Say whether a JSON-output reply is the JSON asked for (checked off-thread)."""
        fmt = self._format
        if fmt is None or record.status != "ok" or record.tool_calls:
            return
        request_id = record.request_id
        self.bridge.call_content(
            check_json_reply,
            record.response,
            fmt.schema,
            on_result=lambda verdict: self._show_json_check(request_id, *verdict),
        )

    def _show_json_check(self, request_id: str, ok: bool, text: str) -> None:
        if self.badges.record is None or self.badges.record.request_id != request_id:
            return
        self.json_check.setStyleSheet("" if ok else ERROR_STYLE)
        self.json_check.setText(text)
        self.json_check.show()

    def _images_changed(self) -> None:
        if self.extras.images.images and not self.extras.tabs.isVisible():
            self.extras.show_tab(self.extras.images)

    # -- the live estimate -------------------------------------------------------

    def refresh_estimate(self) -> None:
        """Count tokens and price the worst case off-thread; stale answers are dropped."""
        self._estimate_generation += 1
        generation = self._estimate_generation
        opts = self.options()
        opts.pop("temperature")
        extras = self.extras.ask_options()
        self.bridge.call_on_loop(
            estimate_request,
            self.bridge.engine,
            self.prompt.toPlainText(),
            **opts,
            **extras,
            on_result=lambda est: self._show_estimate(generation, est),
            on_error=lambda err: self._show_estimate_error(generation, err),
        )

    def _show_estimate(self, generation: int, est: RequestEstimate) -> None:
        if generation != self._estimate_generation:
            return
        self.last_estimate = est
        self.extras.set_models([(est.provider_kind, est.model)])
        approx = "≈" if est.estimated else ""
        parts = [
            f"{what} {fmt_tokens(n)}"
            for what, n in (("images", est.image_tokens), ("tools", est.tool_tokens))
            if n
        ]
        of_which = f" ({', '.join(parts)})" if parts else ""
        self.estimate_label.setText(
            f"{approx}{fmt_tokens(est.input_tokens)} input tokens{of_which} · tier {est.tier} "
            f"({est.provider}/{est.model}) · worst case {fmt_usd(est.worst_case_usd)} "
            f"at {fmt_tokens(est.max_output_tokens)} output tokens"
        )
        self.estimate_label.setToolTip(
            "Projected before sending: the prompt's tokens, with its images and tool "
            "definitions, plus the maximum output, at the chosen model's prices"
        )

    def _show_estimate_error(self, generation: int, error: BaseException) -> None:
        if generation == self._estimate_generation:
            self.last_estimate = None
            self.estimate_label.setText(describe_error(error))
