"""Small pyqtgraph helpers shared by the dashboard's charts (palette-aware, unit-labelled)."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QWidget

__all__ = [
    "BUDGET_PEN",
    "FORECAST_PEN",
    "add_right_axis",
    "apply_palette",
    "make_plot",
    "series_color",
]

# Mid-brightness hues read on light and dark backgrounds alike.
BUDGET_PEN = pg.mkPen((220, 60, 50), width=2, style=pg.QtCore.Qt.PenStyle.DashLine)
FORECAST_PEN = pg.mkPen((230, 140, 20), width=2, style=pg.QtCore.Qt.PenStyle.DotLine)


def series_color(i: int, n: int) -> tuple[int, int, int]:
    hues = [(52, 120, 198), (46, 160, 90), (160, 90, 200), (200, 120, 40), (120, 120, 120)]
    return hues[i % len(hues)] if n <= len(hues) else pg.intColor(i, n).getRgb()[:3]


def make_plot(
    title: str,
    left: str,
    bottom: str,
    *,
    date_axis: bool = False,
    parent: QWidget | None = None,
) -> pg.PlotWidget:
    """A plot with a title and axis labels that carry their units in words."""
    axes = {"bottom": pg.DateAxisItem(orientation="bottom")} if date_axis else None
    plot = pg.PlotWidget(parent=parent, axisItems=axes)
    item = plot.getPlotItem()
    item.setTitle(title)
    for side, label in (("left", left), ("bottom", bottom)):
        axis = item.getAxis(side)
        axis.setLabel(label)
        axis.enableAutoSIPrefix(False)
    item.showGrid(x=False, y=True, alpha=0.25)
    item.setMenuEnabled(False)
    item.hideButtons()
    plot.setMouseEnabled(x=False, y=False)
    return plot


def add_right_axis(plot: pg.PlotWidget, label: str) -> pg.ViewBox:
    """A second y axis on the right with its own ViewBox, x-linked to the main one."""
    item = plot.getPlotItem()
    box = pg.ViewBox()
    box.setMouseEnabled(x=False, y=False)
    item.showAxis("right")
    item.scene().addItem(box)
    axis = item.getAxis("right")
    axis.linkToView(box)
    axis.setLabel(label)
    axis.enableAutoSIPrefix(False)
    box.setXLink(item)

    def sync() -> None:
        box.setGeometry(item.vb.sceneBoundingRect())
        box.linkedViewChanged(item.vb, box.XAxis)

    item.vb.sigResized.connect(sync)
    sync()
    return box


def apply_palette(plot: pg.PlotWidget, palette: QPalette) -> None:
    """Follow the OS theme: background, axes and title from the widget palette."""
    base = palette.color(QPalette.ColorRole.Base)
    text = palette.color(QPalette.ColorRole.Text)
    plot.setBackground(base)
    item = plot.getPlotItem()
    for side in ("left", "bottom", "right"):
        axis = item.getAxis(side)
        axis.setPen(pg.mkPen(text))
        axis.setTextPen(pg.mkPen(text))
    title = item.titleLabel.text
    item.setTitle(title, color=text.name())
