"""The "What if…" view: edit a copy of the config, replay the history under it, apply it.

The copy is edited with the Settings widgets (:mod:`app.whatif.draft`) and checked as
the config file it would be. *Run replay* calls :meth:`core.engine.Engine.replay` on the
bridge's slow worker (never on the UI thread); the answer comes back by signal and shows
in :class:`~app.whatif.report.ReplayReportPanel`. *Apply this configuration* asks first,
then writes the copy with the same atomic writer as Settings and re-opens the engine.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.runtime.config_apply import write_and_reopen
from app.runtime.engine_bridge import EngineBridge
from app.runtime.error_text import describe_error
from app.whatif.draft import ConfigDraftEditor
from app.whatif.report import ReplayReportPanel
from core.config import CentwiseConfig
from core.engine import Engine
from core.replay import ReplayReport

if TYPE_CHECKING:
    from app.runtime.app_engine import EngineOpener

__all__ = ["SINCE_CHOICES", "WhatIfView"]

# (label, days back; None = the whole history)
SINCE_CHOICES: tuple[tuple[str, int | None], ...] = (
    ("Last 7 days", 7),
    ("Last 30 days", 30),
    ("All history", None),
)


class WhatIfView(QWidget):
    """Replay the recorded history under an edited copy of the running config.

    ``config_path`` is where *Apply* writes; ``open_engine`` (config -> Engine)
    re-opens the engine after it (without it the user is told to restart). Signals:
    ``replayed(report)``, ``applied(path)`` after a write, ``engine_reopened(engine)``.
    """

    replayed = Signal(object)
    applied = Signal(object)
    engine_reopened = Signal(object)
    status_message = Signal(str)

    def __init__(
        self,
        bridge: EngineBridge,
        config_path: Path,
        open_engine: EngineOpener | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.config_path = Path(config_path)
        self.open_engine = open_engine
        self.valid_config: CentwiseConfig | None = None
        self.report: ReplayReport | None = None
        self.running = False
        self.editor = ConfigDraftEditor(lambda model: self.bridge.engine.prices.lookup(model))
        self.panel = ReplayReportPanel()
        self._build()
        self.editor.changed.connect(self.validate)
        self.editor.load(bridge.engine.config)

    def _build(self) -> None:
        intro = QLabel(
            "Edit a copy of the current configuration, then replay your recorded history "
            "under it: offline, no provider called, nothing written until you apply it."
        )
        intro.setWordWrap(True)
        self.since_combo = QComboBox()
        self.since_combo.setAccessibleName("Replay the history since")
        for label, _days in SINCE_CHOICES:
            self.since_combo.addItem(label)
        self.since_combo.setCurrentIndex(1)
        self.run_button = QPushButton("Run replay")
        self.run_button.setDefault(True)
        self.run_button.clicked.connect(self.run_replay)
        self.reset_button = QPushButton("Reset copy")
        self.reset_button.setToolTip("Start again from the running configuration")
        self.reset_button.clicked.connect(lambda: self.editor.load(self.bridge.engine.config))
        self.apply_button = QPushButton("Apply this configuration…")
        self.apply_button.setToolTip("Write the copy as the config file and re-open the engine")
        self.apply_button.clicked.connect(self.apply)
        self.status_label = QLabel("")
        self.status_label.setObjectName("whatif_status")
        self.status_label.setWordWrap(True)

        controls = QHBoxLayout()
        controls.addWidget(QLabel("History:"))
        controls.addWidget(self.since_combo)
        controls.addWidget(self.run_button)
        controls.addStretch(1)
        controls.addWidget(self.reset_button)
        controls.addWidget(self.apply_button)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(intro)
        left_layout.addWidget(self.editor, 1)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(self.panel)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([420, 840])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter, 1)
        layout.addLayout(controls)
        layout.addWidget(self.status_label)

    # -- the copy ----------------------------------------------------------------

    def validate(self) -> CentwiseConfig | None:
        """Check the copy; show what is wrong, or what differs from the running config."""
        config, problems = self.editor.config()
        self.valid_config = config
        if config is None:
            self.editor.problem_label.setText("✗ " + "\n".join(problems))
        elif config == self.bridge.engine.config:
            self.editor.problem_label.setText("✓ Valid · identical to the running configuration")
        else:
            self.editor.problem_label.setText("✓ Valid · differs from the running configuration")
        self.run_button.setEnabled(config is not None and not self.running)
        self.apply_button.setEnabled(config is not None and config != self.bridge.engine.config)
        return config

    def since(self) -> date | None:
        days = SINCE_CHOICES[self.since_combo.currentIndex()][1]
        return None if days is None else date.today() - timedelta(days=days - 1)

    # -- replay ------------------------------------------------------------------

    def run_replay(self) -> bool:
        """Replay the history under the copy on the slow worker; False if invalid."""
        config = self.validate()
        if config is None or self.running:
            return False
        self.running = True
        self.run_button.setEnabled(False)
        self.status_label.setText("Replaying…")
        future = self.bridge.call_slow(
            self.bridge.engine.replay,
            config,
            since=self.since(),
            on_result=self._replayed,
            on_error=self._replay_failed,
        )
        if future is None:
            self.running = False
        return future is not None

    def _replayed(self, report: ReplayReport) -> None:
        self.running = False
        self.report = report
        self.panel.show_report(report)
        self.status_label.setText(f"Replayed {report.requests:,} requests.")
        self.validate()
        self.replayed.emit(report)

    def _replay_failed(self, error: BaseException) -> None:
        self.running = False
        self.status_label.setText(f"✗ Replay failed: {describe_error(error)}")
        self.validate()

    # -- applying ----------------------------------------------------------------

    def apply(self) -> bool:
        """After a confirmation, write the copy atomically and re-open the engine."""
        config = self.validate()
        if config is None:
            return False
        answer = QMessageBox.question(
            self,
            "Apply this configuration?",
            f"Write this configuration to {self.config_path} and use it from now on?\n"
            "The current file is replaced.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        if answer != QMessageBox.StandardButton.Yes:
            self.status_label.setText("Not applied.")
            return False
        return write_and_reopen(
            self.bridge,
            self.config_path,
            config,
            self.open_engine,
            report=self.status_label.setText,
            on_written=lambda: self.applied.emit(self.config_path),
            on_reopened=self._reopened,
            failed_word="applied",
        )

    def _reopened(self, engine: Engine) -> None:
        self.status_label.setText(f"Applied: saved to {self.config_path}.")
        self.status_message.emit("What-if configuration applied")
        self.editor.load(engine.config)
        self.engine_reopened.emit(engine)
