"""The cache tuner: hit rate and false-hit rate against the threshold that serves.

Hit rates read on the left axis (0–100%); false-hit rates on the right, scaled to a
few times the error bound, since the part that matters is a percent or two that would
vanish on the same scale.

What it plots follows ``[cache] verifier``, as ``centwise cache tune`` does:

* **learned** (the pair verifier): rates against the verifier's score threshold. Until
  the user loads labelled pairs it shows the verifier's own curve, measured on its dev
  split out of fold (:attr:`core.cache.verifier.VerifierModel.curve`). The line marks
  the threshold the current settings serve at; the setting to change is the error
  bound, ``max_error_rate`` (:class:`~app.cache.error_bound.ErrorBoundControl`), and
  moving it moves the line to where that bound would serve. On the user's pairs the
  best threshold within the bound is marked *recommended*.
* **rules**: rates against cosine similarity with the rule guard, the configured
  ``similarity_threshold`` and the recommended one marked (the behaviour before the
  verifier).

:meth:`core.engine.Engine.cache_tune` on a pairs file (JSON Lines of ``{"a", "b",
"same"}``) and reading the verifier's model both run off the UI thread.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pyqtgraph as pg
from PySide6.QtCore import QEvent, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app.cache.error_bound import ErrorBoundControl
from app.runtime.engine_bridge import EngineBridge
from app.runtime.error_text import describe_error
from app.widgets.charts import (
    add_right_axis,
    apply_palette,
    budget_pen,
    forecast_pen,
    make_plot,
)
from app.widgets.theme import current_theme
from core.cache.tune import TuneReport
from core.cache.verifier import VerifierModel
from core.engine import Engine

if TYPE_CHECKING:
    from app.runtime.app_engine import EngineOpener

__all__ = ["DEV_CURVE_TITLE", "ThresholdTuner"]

DEV_CURVE_TITLE = "Pair verifier: dev split, out of fold"
AXIS = {"verifier": "verifier score threshold", "cosine": "similarity threshold"}
X_RANGE = {"verifier": (0.5, 1.0), "cosine": (0.7, 0.98)}
FALSE_AXIS_SPAN = 4  # the right axis reaches this many times the error bound
COSINE_BOUND = 0.02  # the rules-mode budget before a report says otherwise


def _verifier_model(engine: Engine) -> VerifierModel | None:
    verifier = engine.cache().verifier  # opening the cache loads the models: off-thread
    return None if verifier is None else verifier.model


class ThresholdTuner(QWidget):
    """Choose a pairs file, tune off-thread, plot.

    Signals: ``tuned(report)`` when a report is shown, ``curve_shown()`` when the
    verifier's dev curve is, ``engine_reopened(engine)`` after the error bound was
    applied (the owner then calls :meth:`on_engine_reopened`).
    """

    tuned = Signal(object)
    curve_shown = Signal()
    engine_reopened = Signal(object)

    def __init__(
        self,
        bridge: EngineBridge,
        config_path: Path | None = None,
        open_engine: EngineOpener | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.report: TuneReport | None = None
        self.dev_model: VerifierModel | None = None
        self.pairs_path: Path | None = None
        self.scale = "cosine"
        self._generation = 0
        self._tuning = False
        self.choose_button = QPushButton("Tune on labelled pairs…")
        self.choose_button.setToolTip(
            'A JSON Lines file of {"a": …, "b": …, "same": true|false} prompt pairs'
        )
        self.choose_button.clicked.connect(self._choose)
        self.status = QLabel()
        self.status.setWordWrap(True)
        top = QHBoxLayout()
        top.addWidget(self.choose_button)
        top.addWidget(self.status, 1)
        self.bound = ErrorBoundControl(bridge, config_path, open_engine)
        self.bound.previewed.connect(lambda _t: self._mark_chosen())
        self.bound.status.connect(self.status.setText)
        self.bound.engine_reopened.connect(self.engine_reopened)

        self.plot = make_plot("", "paraphrase hit rate (%)", AXIS["cosine"])
        self.plot.setMinimumHeight(220)
        legend = self.plot.addLegend(offset=(-10, 5))  # top right: both curves low there
        self.legend = legend
        self.hit_curve = self.plot.plot(symbol="o", symbolSize=5)
        self.false_box = add_right_axis(self.plot, "false-hit rate (%)")
        self.false_curve = pg.PlotDataItem(symbol="o", symbolSize=5)
        self.false_box.addItem(self.false_curve)
        legend.addItem(self.hit_curve, "paraphrase hit rate (%)")
        legend.addItem(self.false_curve, "false-hit rate (%, right axis)")
        #: The threshold the current settings serve at ("configured" in rules mode).
        self.configured_line = _vline(self.plot, budget_pen(), 0.08)
        self.recommended_line = _vline(self.plot, forecast_pen(), 0.55)
        self.recommended_line.hide()
        self.plot.setYRange(0, 105, padding=0)
        self._x_range = X_RANGE["cosine"]

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.bound)
        layout.addWidget(self.plot, 1)
        self._apply_palette()
        self._configure()

    # -- palette -------------------------------------------------------------------

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
        theme = current_theme()  # the curves and lines follow a theme switch too
        for curve, color in ((self.hit_curve, theme.good), (self.false_curve, theme.bad)):
            curve.setPen(pg.mkPen(color, width=2))
            curve.setSymbolPen(pg.mkPen(color))
            curve.setSymbolBrush(pg.mkBrush(color))
        self.configured_line.setPen(budget_pen())
        self.recommended_line.setPen(forecast_pen())

    def _set_scale(self, scale: str, title: str) -> None:
        """Thresholds on the verifier's score or on cosine similarity, and the title."""
        self.scale = scale
        item = self.plot.getPlotItem()
        item.getAxis("bottom").setLabel(AXIS[scale])
        item.setTitle(title, color=self.palette().color(QPalette.ColorRole.Text).name())

    def _set_ranges(self, x_range: tuple[float, float], bound: float) -> None:
        """The thresholds shown, and the false-hit axis up to a few times ``bound``."""
        self._x_range = x_range
        self.plot.setXRange(*x_range, padding=0.02)
        top = min(100.0, 100 * FALSE_AXIS_SPAN * bound)
        self.false_box.setYRange(0, top, padding=0)
        self._place_labels()

    def _place_labels(self) -> None:
        """Each line's label on the side of it with more room."""
        middle = sum(self._x_range) / 2
        for line in (self.configured_line, self.recommended_line):
            side = 1 if line.value() > middle else 0
            line.label.anchors = [(side, 0.5), (side, 0.5)]
            line.label.updatePosition()

    # -- what the settings serve at ------------------------------------------------

    def verifier_on(self) -> bool:
        """True when the running config uses the learned pair verifier."""
        return self.bridge.engine.config.cache.verifier == "learned"

    def _configure(self) -> None:
        """Follow the running config: its mode, its bound, the verifier's curve."""
        self._generation += 1
        generation = self._generation
        self.bound.load(self.bridge.engine.config)
        self.bound.setVisible(self.verifier_on())
        if not self.verifier_on():
            self.dev_model = None
            self.bound.set_model(None)
            self._set_scale("cosine", "Cache threshold: pairs served")
            self.show_configured()
            self._set_ranges(X_RANGE["cosine"], COSINE_BOUND)
            if self.report is None:
                self.status.setText(
                    "Pick a pairs file to see how the threshold trades hits for mistakes."
                )
            return
        self._set_scale("verifier", DEV_CURVE_TITLE)
        self.status.setText("Reading the pair verifier's curve…")
        self.bridge.call_slow(
            _verifier_model,
            self.bridge.engine,
            on_result=lambda model: self._model_loaded(generation, model),
            on_error=self._failed,
        )

    def _model_loaded(self, generation: int, model: VerifierModel | None) -> None:
        if generation != self._generation:
            return
        self.dev_model = model
        self.bound.set_model(model)
        if self.report is None and not self._tuning:
            self.show_dev_curve()

    def show_configured(self) -> None:
        """Mark the threshold the running settings serve at."""
        if self.scale == "cosine":
            threshold = self.bridge.engine.config.cache.similarity_threshold
            _mark(self.configured_line, threshold, f"configured {threshold:.2f}")
        else:
            self._mark_chosen()

    def _mark_chosen(self) -> None:
        """On the verifier's scale: where the bound shown serves (a preview when it is
        not the running one)."""
        if self.scale != "verifier":
            return
        threshold = self.bound.threshold()
        if not self.bound.changed() and self.report is not None and self.report.chosen:
            threshold = self.report.chosen  # what the engine reported it serves at
        if threshold is None:
            self.configured_line.hide()
            return
        verb = "would serve" if self.bound.changed() else "serves"
        _mark(self.configured_line, threshold, f"{verb} at {threshold:.3f}")
        self._place_labels()

    def show_dev_curve(self) -> None:
        """Plot the verifier's dev curve (out of fold), before any pairs are loaded."""
        model = self.dev_model
        if model is None:
            self.status.setText("The cache has no pair verifier to show a curve for.")
            return
        self.report = None
        xs = [p.threshold for p in model.curve]
        self.hit_curve.setData(xs, [100 * p.hit_rate for p in model.curve])
        self.false_curve.setData(xs, [100 * p.false_hit_rate for p in model.curve])
        self._set_scale("verifier", DEV_CURVE_TITLE)
        self.recommended_line.hide()
        self._mark_chosen()
        self._set_ranges(X_RANGE["verifier"], self.bound.rate())
        pairs = model.trained_on.get("pairs")
        size = f" ({pairs} pairs)" if pairs else ""
        self.status.setText(
            f"The verifier's own curve on its dev split{size}, scored out of fold. "
            "Tune on labelled pairs to see it on yours."
        )
        self.curve_shown.emit()

    def on_engine_reopened(self, _engine: Engine) -> None:
        """The engine runs with new settings: show them, and re-tune on the last
        pairs file so its chosen and recommended thresholds are the new ones."""
        self.report = None
        self._configure()
        if self.pairs_path is not None:
            self.run(self.pairs_path)

    # -- tuning on the user's pairs ------------------------------------------------

    def _choose(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Labelled prompt pairs", "", "JSON Lines (*.jsonl);;All files (*)"
        )
        if path:
            self.run(Path(path))

    def run(self, path: Path) -> None:
        """Tune on ``path`` off the UI thread (scoring every pair takes a moment)."""
        self.pairs_path = path
        self._tuning = True
        generation = self._generation
        self.status.setText(f"Tuning on {path.name}…")
        self.choose_button.setEnabled(False)
        self.bridge.call_slow(
            lambda: self.bridge.engine.cache_tune(path),
            on_result=lambda report: self._tuned(generation, report),
            on_error=self._failed,
        )

    def _in_sample(self) -> str:
        """A warning when the pairs file is one the verifier was trained on."""
        sources = self.dev_model.trained_on.get("sources", ()) if self.dev_model else ()
        if self.pairs_path is None or self.pairs_path.stem not in sources:
            return ""
        return " · ⚠ the verifier was trained on these pairs: this curve is in-sample"

    def _tuned(self, generation: int, report: TuneReport) -> None:
        if generation == self._generation:  # else the engine re-opened meanwhile
            self.show_report(report)

    def _failed(self, error: BaseException) -> None:
        self._tuning = False
        self.choose_button.setEnabled(True)
        self.status.setText(f"✗ {describe_error(error)}")

    def show_report(self, report: TuneReport) -> None:
        self._tuning = False
        self.choose_button.setEnabled(True)
        self.report = report
        xs = [r.threshold for r in report.rows]
        self.hit_curve.setData(xs, [100 * r.hit_rate for r in report.rows])
        self.false_curve.setData(xs, [100 * r.false_hit_rate for r in report.rows])
        name = self.pairs_path.name if self.pairs_path is not None else "labelled pairs"
        if report.scale == "verifier":
            self._set_scale("verifier", f"Pair verifier on {name}")
        else:
            self._set_scale("cosine", f"Cache threshold on {name}")
        self.show_configured()
        bound = report.max_hard_false_hit_rate
        digits = 3 if report.scale == "verifier" else 2
        if report.recommended is None:
            self.recommended_line.hide()
            advice = f"no threshold keeps hard false hits within {bound:.1%}"
        else:
            text = f"recommended {report.recommended:.{digits}f}"
            _mark(self.recommended_line, report.recommended, text)
            advice = f"recommended {report.recommended:.{digits}f}"
        self._set_ranges((min(xs), max(xs)) if xs else X_RANGE[report.scale], bound)
        if report.scale == "verifier":
            self.status.setText(
                f"{report.pairs} pairs{_serving(report)} · {advice} (the best hit rate with "
                f"hard false hits ≤ {bound:.1%} on these pairs){self._in_sample()}"
            )
        else:
            guard = "with" if report.guard else "without"
            self.status.setText(
                f"{report.pairs} pairs, {guard} the hard-negative guard · {advice} (hard "
                f"false-hit rate ≤ {bound:.0%})"
            )
        self.tuned.emit(report)


def _serving(report: TuneReport) -> str:
    """`` · current settings serve at 0.965: 61.0% hits, 0.5% false hits``."""
    if report.chosen is None:
        return ""
    at = round(report.chosen, 4)
    row = next((r for r in report.rows if r.threshold == at), None)
    if row is None:
        return f" · current settings serve at {report.chosen:.3f}"
    return (
        f" · current settings serve at {report.chosen:.3f}: {row.hit_rate:.1%} of "
        f"paraphrases, {row.false_hit_rate:.1%} false hits"
    )


def _mark(line: pg.InfiniteLine, value: float, text: str) -> None:
    """Show ``line`` at ``value`` labelled ``text`` (shown first: a hidden line's label
    ignores new text)."""
    line.show()
    line.setValue(value)
    line.label.setFormat(text)


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
