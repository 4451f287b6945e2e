"""The cache threshold tuner: hit rate and false-hit rate against the threshold.

Runs :meth:`core.engine.Engine.cache_tune` on a labelled pairs file (JSON Lines of
``{"a", "b", "same"}``) off the UI thread and plots both rates in percent, with the
configured threshold and the recommended one marked.
"""

from __future__ import annotations

from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import QEvent, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app.runtime.engine_bridge import EngineBridge
from app.runtime.error_text import describe_error
from app.widgets.charts import BUDGET_PEN, FORECAST_PEN, apply_palette, make_plot
from core.cache.tune import TuneReport

__all__ = ["ThresholdTuner"]

HIT_PEN = pg.mkPen((46, 160, 90), width=2)
FALSE_PEN = pg.mkPen((220, 60, 50), width=2)


class ThresholdTuner(QWidget):
    """Choose a pairs file, tune off-thread, plot. ``tuned(report)`` when done."""

    tuned = Signal(object)

    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.report: TuneReport | None = None
        self.choose_button = QPushButton("Tune on labelled pairs…")
        self.choose_button.setToolTip(
            'A JSON Lines file of {"a": …, "b": …, "same": true|false} prompt pairs'
        )
        self.choose_button.clicked.connect(self._choose)
        self.status = QLabel("Pick a pairs file to see how the threshold trades hits for mistakes.")
        self.status.setWordWrap(True)
        top = QHBoxLayout()
        top.addWidget(self.choose_button)
        top.addWidget(self.status, 1)

        self.plot = make_plot(
            "Cache threshold: pairs served", "pairs served (%)", "similarity threshold"
        )
        self.plot.setMinimumHeight(220)
        legend = self.plot.addLegend(offset=(10, 5))
        self.legend = legend
        self.hit_curve = self.plot.plot(pen=HIT_PEN, symbol="o", symbolSize=5)
        self.false_curve = self.plot.plot(pen=FALSE_PEN, symbol="o", symbolSize=5)
        legend.addItem(self.hit_curve, "paraphrase hit rate (%)")
        legend.addItem(self.false_curve, "false-hit rate (%)")
        self.configured_line = _vline(self.plot, BUDGET_PEN, 0.08)
        self.recommended_line = _vline(self.plot, FORECAST_PEN, 0.9)
        self.plot.setYRange(0, 105, padding=0)
        self.plot.setXRange(0.7, 0.98, padding=0.02)
        self.show_configured()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.plot, 1)
        self._apply_palette()

    def changeEvent(self, event: QEvent) -> None:
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self._apply_palette()
        super().changeEvent(event)

    def _apply_palette(self) -> None:
        apply_palette(self.plot, self.palette())
        text = self.palette().color(QPalette.ColorRole.Text)
        self.legend.setLabelTextColor(text)
        for _sample, label in self.legend.items:
            label.setText(label.text, color=text.name())
        for line in (self.configured_line, self.recommended_line):
            line.label.setColor(text)

    def show_configured(self) -> None:
        threshold = self.bridge.engine.config.cache.similarity_threshold
        self.configured_line.setValue(threshold)
        self.configured_line.label.setFormat(f"configured {threshold:.2f}")

    def _choose(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Labelled prompt pairs", "", "JSON Lines (*.jsonl);;All files (*)"
        )
        if path:
            self.run(Path(path))

    def run(self, path: Path) -> None:
        """Tune on ``path`` off the UI thread (embedding every pair takes a moment)."""
        self.status.setText(f"Tuning on {path.name}…")
        self.choose_button.setEnabled(False)
        self.bridge.call_slow(
            lambda: self.bridge.engine.cache_tune(path),
            on_result=self.show_report,
            on_error=self._failed,
        )

    def _failed(self, error: BaseException) -> None:
        self.choose_button.setEnabled(True)
        self.status.setText(f"✗ {describe_error(error)}")

    def show_report(self, report: TuneReport) -> None:
        self.choose_button.setEnabled(True)
        self.report = report
        xs = [r.threshold for r in report.rows]
        self.hit_curve.setData(xs, [100 * r.hit_rate for r in report.rows])
        self.false_curve.setData(xs, [100 * r.false_hit_rate for r in report.rows])
        if xs:
            self.plot.setXRange(min(xs), max(xs), padding=0.04)
        self.show_configured()
        if report.recommended is None:
            self.recommended_line.hide()
            advice = "no threshold keeps hard false hits within budget"
        else:
            self.recommended_line.setValue(report.recommended)
            self.recommended_line.label.setFormat(f"recommended {report.recommended:.2f}")
            self.recommended_line.show()
            advice = f"recommended {report.recommended:.2f}"
        guard = "with" if report.guard else "without"
        self.status.setText(
            f"{report.pairs} pairs, {guard} the hard-negative guard · {advice} (hard false-hit "
            f"rate ≤ {report.max_hard_false_hit_rate:.0%})"
        )
        self.tuned.emit(report)


def _vline(plot: pg.PlotWidget, pen: object, position: float) -> pg.InfiniteLine:
    line = pg.InfiniteLine(
        angle=90,
        movable=False,
        pen=pen,
        label="",
        labelOpts={"position": position, "anchors": [(0, 0.5), (0, 0.5)]},
    )
    plot.addItem(line)
    return line
