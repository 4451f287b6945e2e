"""Compare: one prompt streamed into 2–4 tiers or models side by side, optionally judged.

``Engine.compare`` returns only once every answer is in, so each column here is its
own ``engine.ask(model=target)`` started on the bridge loop (the same request
:mod:`core.quality.compare` makes: explicit target, purpose ``user``, cache only when asked),
and the answers stream concurrently. With "Judge" ticked, the finished answers are
graded by :class:`core.quality.judge.Judge` on the engine's judge tier, as ``core.quality.compare``
does; the best score wins and a tie goes to the cheaper answer. "Pick as winner"
stores thumbs up for that answer and down for the others (``engine.feedback``) off
the UI thread.

The tools, JSON output and images set under the prompt (the Playground's editors,
:class:`RequestExtras`) go to every column alike; a column shows its reply's tool
calls as cards, and the judge reads them with the text.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from decimal import Decimal

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.compare.column import CompareColumn, answer_for_judge
from app.runtime.engine_bridge import EngineBridge
from app.runtime.error_text import describe_error
from app.widgets.content.json_output import check_json_reply
from app.widgets.content.request_extras import RequestExtras
from app.widgets.errors import show_error
from app.widgets.formatting import fmt_usd
from app.widgets.shortcuts_dialog import shortcut_keys
from core.config import CentwiseConfig
from core.engine import Engine
from core.quality.compare import winner_index
from core.quality.judge import Judge, Verdict
from core.types import RequestRecord, ResponseFormat, ToolCallDelta

__all__ = [
    "MAX_TARGETS",
    "MIN_TARGETS",
    "CompareView",
    "judged_winner",
    "target_model",
]

MIN_TARGETS = 2
MAX_TARGETS = 4


def target_model(config: CentwiseConfig, target: str) -> tuple[str, str]:
    """``(provider kind, model)`` a target names: a tier, or PROVIDER/MODEL."""
    tier = config.tier(target)
    provider, model = (tier.provider, tier.model) if tier else target.partition("/")[::2]
    if not model:
        provider, model = "", target
    settings = config.providers.get(provider)
    return (settings.kind if settings else "openai"), model


def judged_winner(entries: Sequence[tuple[Verdict | None, Decimal | None]]) -> int | None:
    """The index of the best score (a tie goes to the cheaper answer), by core's rule."""
    return winner_index([(v.score if v else None, cost) for v, cost in entries])


async def _grade_all(
    engine: Engine, tier: str, prompt: str, answers: Sequence[str | None]
) -> list[Verdict | None]:
    judge = Judge(engine.ask, tier)

    async def one(answer: str | None) -> Verdict | None:
        return None if answer is None else await judge.grade(prompt, answer)

    return list(await asyncio.gather(*(one(a) for a in answers)))


def _store_votes(engine: Engine, votes: Sequence[tuple[str, str]]) -> int:
    for request_id, vote in votes:
        engine.feedback(request_id, vote)
    return len(votes)


class CompareView(QWidget):
    """Targets (tier checkboxes and an optional PROVIDER/MODEL), prompt, Judge; columns.

    ``compared()`` fires once every column has finished (and been judged, when asked);
    ``feedback_stored(request_id)`` once a picked winner's votes are stored.
    """

    compared = Signal()
    feedback_stored = Signal(str)
    status_message = Signal(str)

    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.config = bridge.engine.config
        self._tags: dict[str, CompareColumn] = {}
        self._judging = False
        self._checking = False
        self._prompt = ""
        self._format: ResponseFormat | None = None
        self._build()
        bridge.delta.connect(self._on_delta)
        bridge.tool_delta.connect(self._on_tool_delta)
        bridge.reply_done.connect(self._on_done)
        self._targets_changed()

    def _build(self) -> None:
        targets = QHBoxLayout()
        self.tier_boxes: dict[str, QCheckBox] = {}
        for tier in self.config.routing.tiers:
            box = QCheckBox(tier.id)
            box.setToolTip(f"{tier.provider}/{tier.model}")
            box.setChecked(len(self.tier_boxes) < MAX_TARGETS)
            box.setAccessibleName(f"Compare tier {tier.id}")
            box.toggled.connect(self._targets_changed)
            self.tier_boxes[tier.id] = box
            targets.addWidget(box)
        self.other_model = QLineEdit()
        self.other_model.setPlaceholderText("and/or PROVIDER/MODEL")
        self.other_model.setMaximumWidth(260)
        self.other_model.setAccessibleName("Other model to compare")
        self.other_model.editingFinished.connect(self._targets_changed)
        targets.addWidget(self.other_model)
        targets.addSpacing(12)
        self.use_cache = QCheckBox("Use cache")
        self.use_cache.setToolTip("Let the cache answer (off: every target is really asked)")
        self.judge = QCheckBox("Judge")
        self.judge.setToolTip(f"Score each answer with the judge tier ({self.judge_tier})")
        self.use_cache.setAccessibleName("Use cache")
        self.judge.setAccessibleName("Judge the answers")
        targets.addWidget(self.use_cache)
        targets.addWidget(self.judge)
        targets.addStretch(1)

        self.system = QPlainTextEdit()
        self.system.setPlaceholderText("System prompt (optional)")
        self.system.setMaximumHeight(50)
        self.prompt = QPlainTextEdit()
        self.prompt.setPlaceholderText("One prompt, sent to every target at once.")
        self.prompt.setMaximumHeight(90)
        self.system.setAccessibleName("System prompt")
        self.prompt.setAccessibleName("Prompt")
        for editor in (self.system, self.prompt):  # Tab moves on; Ctrl+Enter compares
            editor.setTabChangesFocus(True)
        self.extras = RequestExtras(self.bridge.call_content)
        self.extras.images.watch(self.prompt, self.prompt.viewport())
        self.hint = QLabel(f"Choose {MIN_TARGETS}–{MAX_TARGETS} tiers or models.")
        self.hint.setWordWrap(True)
        self.hint.setAccessibleName("Compare status")
        self.compare_button = QPushButton("Compare")
        self.compare_button.setAccessibleName("Compare")
        self.compare_button.clicked.connect(self.run)
        actions = QHBoxLayout()
        actions.addWidget(self.hint, 1)
        actions.addWidget(self.compare_button)

        form = QFormLayout()
        form.addRow("Targets", targets)
        form.addRow("System", self.system)
        form.addRow("Prompt", self.prompt)
        form.addRow(self.extras)
        form.addRow(actions)

        self.columns = [CompareColumn() for _ in range(MAX_TARGETS)]
        row = QHBoxLayout()
        for column in self.columns:
            column.picked.connect(self.pick_winner)
            row.addWidget(column, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(row, 1)
        for keys in shortcut_keys("compare.run"):
            QShortcut(
                QKeySequence(keys),
                self,
                self.run,
                context=Qt.ShortcutContext.WidgetWithChildrenShortcut,
            )

    @property
    def judge_tier(self) -> str:
        return self.bridge.engine.judge_tier

    def targets(self) -> list[str]:
        """The ticked tiers, then the typed model; each once."""
        chosen = [tier for tier, box in self.tier_boxes.items() if box.isChecked()]
        other = self.other_model.text().strip()
        if other and other not in chosen:
            chosen.append(other)
        return chosen

    @property
    def running(self) -> bool:
        return bool(self._tags) or self._judging or self._checking

    def _targets_changed(self) -> None:
        """Image token counts follow the chosen targets' providers."""
        config = self.bridge.engine.config
        self.extras.set_models([target_model(config, t) for t in self.targets()])

    def active_columns(self) -> list[CompareColumn]:
        return [c for c in self.columns if not c.isHidden()]

    # -- the run -----------------------------------------------------------------

    def run(self) -> None:
        """Start every target's reply at once (once the typed tools and schema are
        checked and the images read); each streams into its column."""
        if self.running:
            return
        self._checking = True
        self.compare_button.setEnabled(False)
        self.extras.when_ready(self._run_checked)

    def _run_checked(self) -> None:
        self._checking = False
        self.compare_button.setEnabled(True)
        problem = self.extras.problem()
        if problem is not None:
            self.extras.set_expanded(True)
            self.hint.setText(f"Cannot send: {problem}")
            return
        targets = self.targets()
        prompt = self.prompt.toPlainText().strip()
        if not prompt:
            self.hint.setText("Type a prompt first.")
            return
        if not MIN_TARGETS <= len(targets) <= MAX_TARGETS:
            self.hint.setText(
                f"Choose {MIN_TARGETS}–{MAX_TARGETS} tiers or models ({len(targets)} chosen)."
            )
            return
        self._prompt = prompt
        system = self.system.toPlainText().strip() or None
        extras = self.extras.ask_options()
        self._format = extras.get("response_format")
        for column in self.columns[len(targets) :]:
            column.hide()
        for column, target in zip(self.columns, targets, strict=False):
            column.start(target)
            tag = self.bridge.start_reply(
                prompt,
                system=system,
                model=target,
                use_cache=self.use_cache.isChecked(),
                purpose="user",
                **extras,
            )
            self._tags[tag] = column
        self.hint.setText(f"Asking {len(targets)} targets…")
        self.compare_button.setEnabled(False)

    def _on_delta(self, tag: str, text: str) -> None:
        column = self._tags.get(tag)
        if column is not None:
            column.append(text)

    def _on_tool_delta(self, tag: str, delta: ToolCallDelta) -> None:
        column = self._tags.get(tag)
        if column is not None:
            column.tool_calls.stream(delta)

    def _on_done(self, tag: str, record: RequestRecord | None, error: BaseException | None) -> None:
        column = self._tags.pop(tag, None)
        if column is None:
            return
        column.finish(record, error)
        fmt = self._format
        if fmt is not None and record is not None and column.answered and not record.tool_calls:
            request_id = record.request_id
            self.bridge.call_content(
                check_json_reply,
                record.response,
                fmt.schema,
                on_result=lambda v, c=column: c.show_json_check(request_id, *v),
            )
        if not self._tags:
            self._all_answered()

    def _all_answered(self) -> None:
        columns = self.active_columns()
        if not self.judge.isChecked() or not any(c.answered for c in columns):
            self._finished("Done.")
            return
        self._judging = True
        tier = self.judge_tier
        self.hint.setText(f"Judging with tier {tier}…")
        answers = [answer_for_judge(c.record) if c.answered and c.record else None for c in columns]
        self.bridge.run(
            _grade_all(self.bridge.engine, tier, self._prompt, answers),
            on_result=self._show_verdicts,
            on_error=self._judge_failed,
        )

    def _show_verdicts(self, verdicts: list[Verdict | None]) -> None:
        self._judging = False
        columns = self.active_columns()
        costs = [c.record.cost_usd if c.record else None for c in columns]
        winner = judged_winner(list(zip(verdicts, costs, strict=True)))
        for i, (column, verdict) in enumerate(zip(columns, verdicts, strict=True)):
            column.show_verdict(verdict, i == winner)
        judged_cost = sum((v.cost_usd for v in verdicts if v is not None), Decimal(0))
        name = columns[winner].target if winner is not None else "none (no scores)"
        self._finished(f"Judged by {self.judge_tier} for {fmt_usd(judged_cost)}; winner: {name}.")

    def _judge_failed(self, error: BaseException) -> None:
        self._judging = False
        self._finished(f"Judging failed: {describe_error(error)}")

    def _finished(self, text: str) -> None:
        self.hint.setText(text)
        self.compare_button.setEnabled(True)
        self.compared.emit()

    # -- feedback ----------------------------------------------------------------

    def pick_winner(self, winner: CompareColumn) -> None:
        """Thumbs up for ``winner``'s answer and down for the other answers, off-thread."""
        if winner.record is None:
            return
        votes = [
            (c.record.request_id, "up" if c is winner else "down")
            for c in self.active_columns()
            if c.answered and c.record is not None
        ]
        for column in self.active_columns():
            column.pick_button.setEnabled(False)
        request_id = winner.record.request_id
        self.bridge.call_slow(
            _store_votes,
            self.bridge.engine,
            votes,
            on_result=lambda _n: self._votes_stored(winner, request_id),
            on_error=self._votes_failed,
        )

    def _votes_stored(self, winner: CompareColumn, request_id: str) -> None:
        for column in self.active_columns():
            column.show_picked(column is winner)
            column.pick_button.setEnabled(column.answered)
        text = f"Feedback stored: {winner.target} up, the others down."
        self.hint.setText(text)
        self.status_message.emit(text)
        self.feedback_stored.emit(request_id)

    def _votes_failed(self, error: BaseException) -> None:
        for column in self.active_columns():
            column.pick_button.setEnabled(column.answered)
        show_error(error, self)
