"""What a replay found, shown: cumulative spend curves, totals, and its tables.

:class:`ReplayReportPanel` takes a :class:`core.replay.ReplayReport` in :meth:`show_report`
and shows actual against projected cumulative spend on one plot (x: day, y: USD), the
totals, the savings of each lever (positive: the copy spends less), spend per tier, the
days the copy's budgets would have refused requests, quality retention and the notes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from itertools import accumulate
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QAbstractTableModel, QEvent, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGridLayout,
    QGroupBox,
    QHeaderView,
    QLabel,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.widgets.charts import apply_palette, make_plot, series_color
from app.widgets.formatting import fmt_usd
from core.replay import ReplayReport, SpendRow

__all__ = ["ReplayReportPanel", "RowsModel", "cumulative", "day_stamp", "savings_rows"]

_Index = QModelIndex | QPersistentModelIndex


class RowsModel(QAbstractTableModel):
    """Read-only rows of text under fixed headers; numbers align right."""

    def __init__(self, headers: Sequence[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.headers = tuple(headers)
        self.rows: list[tuple[str, ...]] = []

    def set_rows(self, rows: Sequence[Sequence[str]]) -> None:
        self.beginResetModel()
        self.rows = [tuple(r) for r in rows]
        self.endResetModel()

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.headers)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < len(self.rows)):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self.rows[index.row()][index.column()]
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() > 0:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if (
            role == Qt.ItemDataRole.DisplayRole
            and orientation == Qt.Orientation.Horizontal
            and 0 <= section < len(self.headers)
        ):
            return self.headers[section]
        return None


def day_stamp(key: str, fallback: int) -> float:
    """A day key (``2026-11-02``) as the epoch seconds of its local midnight."""
    try:
        day = date.fromisoformat(key)
    except ValueError:
        return float(fallback)
    return datetime(day.year, day.month, day.day).timestamp()


def cumulative(rows: Sequence[SpendRow]) -> tuple[list[Decimal], list[Decimal]]:
    """Running totals of actual and projected spend, day by day."""
    actual = list(accumulate((r.actual_usd for r in rows), initial=Decimal(0)))[1:]
    projected = list(accumulate((r.projected_usd for r in rows), initial=Decimal(0)))[1:]
    return actual, projected


def _signed(v: Decimal) -> str:
    """``+$0.000894``, ``-$0.000894`` or ``$0.000000``: the sign before the dollar."""
    amount = fmt_usd(abs(v))
    return ("+" if v > 0 else "-" if v < 0 else "") + amount


def savings_rows(report: ReplayReport) -> list[tuple[str, str]]:
    """(lever, $ saved with its sign): positive when the copy spends less (the totals
    line above the tables stays exact to the micro-dollar)."""
    s = report.savings
    return [
        ("Models & prices", _signed(s.models_prices_usd)),
        ("Routing", _signed(s.routing_usd)),
        ("Context", _signed(s.context_usd)),
        ("Cache", _signed(s.cache_usd)),
        ("Total", _signed(s.total_usd)),
    ]


def _table(model: RowsModel) -> QTableView:
    view = QTableView()
    view.setModel(model)
    view.verticalHeader().hide()
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.verticalHeader().setDefaultSectionSize(view.fontMetrics().height() + 8)
    header = view.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setStretchLastSection(True)
    view.setMinimumHeight(120)
    return view


class ReplayReportPanel(QWidget):
    """The answer to "what would my history have cost under this copy?"."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.report: ReplayReport | None = None
        self.plot = make_plot(
            "Cumulative spend: recorded vs this copy",
            "Cumulative spend (USD, $)",
            "Day",
            date_axis=True,
            usd_axis="left",
        )
        self.plot.setMinimumHeight(220)
        self.plot.getPlotItem().addLegend(offset=(10, 10))
        self.actual_curve = self.plot.plot([], [], name="actual", symbol="o")
        self.projected_curve = self.plot.plot([], [], name="projected", symbol="t")
        for curve in (self.actual_curve, self.projected_curve):
            curve.setSymbolSize(5)
        self._apply_palette()
        self.totals_label = QLabel("Run a replay to see what this copy would have cost.")
        self.totals_label.setObjectName("whatif_totals")
        self.totals_label.setWordWrap(True)
        self.totals_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.savings_model = RowsModel(("Lever", "Saved (USD)"), self)
        self.tier_model = RowsModel(("Tier", "Actual (n)", "Projected (n)", "Change"), self)
        self.budget_model = RowsModel(("Day", "Budget", "Refused", "Refused (USD)"), self)
        self.prompt_cache_model = RowsModel(
            ("Provider caching", "Input (USD)", "Cached", "Written"), self
        )
        self.quality_label = QLabel("")
        self.notes_label = QLabel("")
        for label in (self.quality_label, self.notes_label):
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        grid = QGridLayout()
        savings = _box("Savings by lever (+: the copy spends less)", _table(self.savings_model))
        grid.addWidget(savings, 0, 0)
        grid.addWidget(_box("Per tier", _table(self.tier_model)), 0, 1)
        self.prompt_cache_table = _table(self.prompt_cache_model)
        self.prompt_cache_table.setAccessibleName(
            "Provider prompt caching: input cost with caching off, and on with either TTL"
        )
        self.lower_tabs = QTabWidget()
        self.lower_tabs.setAccessibleName("Quality and notes, provider prompt caching")
        self.lower_tabs.addTab(self._notes_page(), "Quality and notes")
        self.lower_tabs.addTab(self.prompt_cache_table, "Prompt caching")
        grid.addWidget(self.lower_tabs, 1, 0)
        grid.addWidget(_box("Budget refusals of the copy", _table(self.budget_model)), 1, 1)
        grid.setColumnStretch(0, 2)
        grid.setColumnStretch(1, 3)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot, 3)
        layout.addWidget(self.totals_label)
        layout.addLayout(grid, 2)

    def changeEvent(self, event: QEvent) -> None:
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self._apply_palette()
        super().changeEvent(event)

    def _apply_palette(self) -> None:
        """Chart colours from the current theme (again on a theme switch)."""
        apply_palette(self.plot, self.palette())
        for curve, i, style in (
            (self.actual_curve, 0, Qt.PenStyle.SolidLine),
            (self.projected_curve, 1, Qt.PenStyle.DashLine),
        ):
            color = series_color(i, 2)
            curve.setPen(pg.mkPen(color, width=2, style=style))
            curve.setSymbolPen(pg.mkPen(color))
            curve.setSymbolBrush(pg.mkBrush(color))

    def _notes_page(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.quality_label)
        layout.addWidget(self.notes_label)
        layout.addStretch(1)
        return page

    def show_report(self, report: ReplayReport) -> None:
        """Show ``report`` (plot items are updated, never re-created)."""
        self.report = report
        days = report.by_day
        xs = [day_stamp(r.key, i) for i, r in enumerate(days)]
        actual, projected = cumulative(days)
        self.actual_curve.setData(xs, [float(v) for v in actual])
        self.projected_curve.setData(xs, [float(v) for v in projected])
        self.plot.getPlotItem().enableAutoRange()
        changed = ", ".join(report.changed) if report.changed else "nothing (identical copy)"
        self.totals_label.setText(
            f"{report.requests:,} requests replayed in {report.seconds:.2f} s, offline. "
            f"Actual {fmt_usd(report.actual_usd)} → projected {fmt_usd(report.projected_usd)} "
            f"({_signed(report.change_usd)}). Changed: {changed}."
        )
        self.savings_model.set_rows(savings_rows(report))
        self.tier_model.set_rows(
            [
                (
                    r.key,
                    f"{fmt_usd(r.actual_usd)} ({r.actual_requests:,})",
                    f"{fmt_usd(r.projected_usd)} ({r.projected_requests:,})",
                    _signed(r.projected_usd - r.actual_usd),
                )
                for r in report.by_tier
            ]
        )
        self.budget_model.set_rows(
            [(b.day, b.budget, f"{b.refused:,}", fmt_usd(b.refused_usd)) for b in report.budgets]
        )
        self.prompt_cache_model.set_rows(prompt_cache_rows(report))
        self.quality_label.setText(_quality_text(report))
        notes = [f"• {n}" for n in report.notes]
        if not report.budgets:
            notes.insert(0, "• The copy's budgets would have refused nothing.")
        self.notes_label.setText("\n".join(notes))


def prompt_cache_rows(report: ReplayReport) -> list[tuple[str, str, str, str]]:
    """The recorded input of the requests sent to providers with a prompt cache, then
    each scenario's (the copy's own marked ``← this copy``); none without such requests."""
    pc = report.prompt_cache
    if pc is None or not pc.requests:
        return []
    rows = [("recorded", fmt_usd(pc.recorded_input_usd), f"{pc.recorded_cached_tokens:,}", "")]
    for s in pc.scenarios:
        short = s.name.replace(", 5-minute TTL", " 5m").replace(", 1-hour TTL", " 1h")
        name = f"{short} (this copy)" if s.name == report.prompt_cache_choice else short
        rows.append((name, fmt_usd(s.input_usd), f"{s.cached_tokens:,}", f"{s.write_tokens:,}"))
    return rows


def _quality_text(report: ReplayReport) -> str:
    q = report.quality
    if q is not None:
        return (
            f"Expected quality retention ({q.basis}): {q.retention:.1%} "
            f"(95% interval {q.low:.1%} to {q.high:.1%})"
        )
    return f"Quality retention: not estimated ({report.quality_note or 'no scores'})."


def _box(title: str, widget: QWidget) -> QGroupBox:
    box = QGroupBox(title)
    widget.setAccessibleName(widget.accessibleName() or title)
    layout = QVBoxLayout(box)
    layout.addWidget(widget)
    return box
