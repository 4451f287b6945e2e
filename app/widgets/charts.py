"""Small pyqtgraph helpers shared by the app's charts: one palette (the current theme's
tier and series colours), unit-labelled axes and dollar axes that never show an exponent."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette, QPen
from PySide6.QtWidgets import QWidget

from app.widgets.theme import current_theme
from core.money import format_usd_ticks

__all__ = [
    "UsdAxis",
    "add_right_axis",
    "apply_palette",
    "budget_pen",
    "forecast_pen",
    "make_plot",
    "series_color",
    "tier_series_color",
]

Side = Literal["left", "right"]


class UsdAxis(pg.AxisItem):
    """A dollar axis: ``$0``, ``$0.000025``, ``$0.00005`` (no SI prefix, no exponent)."""

    def __init__(self, orientation: str, **kwargs: object) -> None:
        super().__init__(orientation, **kwargs)
        self.enableAutoSIPrefix(False)

    def tickStrings(self, values: Sequence[float], scale: float, spacing: float) -> list[str]:
        return format_usd_ticks([v * scale for v in values])


def budget_pen() -> QPen:
    """A budget limit: the theme's "bad" colour, dashed."""
    return pg.mkPen(current_theme().bad, width=2, style=Qt.PenStyle.DashLine)


def forecast_pen() -> QPen:
    """A forecast: the theme's second series colour (orange), dotted."""
    return pg.mkPen(current_theme().series[1], width=2, style=Qt.PenStyle.DotLine)


def series_color(i: int, n: int) -> tuple[int, int, int]:
    """Colour ``i`` of ``n`` series: the theme's series colours, evenly spread hues past
    them."""
    series = current_theme().series
    color = pg.mkColor(series[i % len(series)]) if n <= len(series) else pg.intColor(i, n)
    return color.red(), color.green(), color.blue()


def tier_series_color(tier: str, i: int) -> str:
    """A tier's bar colour: its theme colour for the known tiers (and ``other``), a
    series colour for a tier the theme does not name, so no two bars look alike."""
    theme = current_theme()
    if tier in theme.tiers:
        return theme.tiers[tier]
    return theme.series[i % len(theme.series)]


def make_plot(
    title: str,
    left: str,
    bottom: str,
    *,
    date_axis: bool = False,
    usd_axis: Side | None = None,
    parent: QWidget | None = None,
) -> pg.PlotWidget:
    """A plot with a title and axis labels that carry their units in words; ``usd_axis``
    makes that side a :class:`UsdAxis`."""
    axes: dict[str, pg.AxisItem] = {}
    if date_axis:
        axes["bottom"] = pg.DateAxisItem(orientation="bottom")
    if usd_axis is not None:
        axes[usd_axis] = UsdAxis(usd_axis)
    plot = pg.PlotWidget(parent=parent, axisItems=axes or None)
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
    # Nothing to do in a chart from the keyboard: Tab passes it by.
    plot.setFocusPolicy(pg.QtCore.Qt.FocusPolicy.NoFocus)
    plot.viewport().setFocusPolicy(pg.QtCore.Qt.FocusPolicy.NoFocus)
    return plot


def add_right_axis(plot: pg.PlotWidget, label: str, *, usd: bool = False) -> pg.ViewBox:
    """A second y axis on the right with its own ViewBox, x-linked to the main one
    (a :class:`UsdAxis` when ``usd``)."""
    item = plot.getPlotItem()
    if usd and not isinstance(item.getAxis("right"), UsdAxis):
        item.setAxisItems({"right": UsdAxis("right")})
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
    """Colour a chart from the theme the application carries: background and text from
    ``palette`` (the widget's, which the theme sets), axes and grid in the theme's muted
    colour, the title and legend labels in the text colour."""
    base = palette.color(QPalette.ColorRole.Base)
    text = palette.color(QPalette.ColorRole.Text)
    muted = pg.mkColor(current_theme().muted)
    plot.setBackground(base)
    item = plot.getPlotItem()
    for side in ("left", "bottom", "right"):
        axis = item.getAxis(side)
        axis.setPen(pg.mkPen(muted))  # the grid is drawn in this pen, faded
        axis.setTextPen(pg.mkPen(text))
    item.setTitle(item.titleLabel.text, color=text.name())
    legend = item.legend
    if legend is not None:
        legend.setLabelTextColor(text)
        for _sample, label in legend.items:  # existing labels keep their old colour
            label.setText(label.text, color=text.name())
