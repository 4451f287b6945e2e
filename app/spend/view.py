"""The spend dashboard: the month against its budget, today, per-day spend by tier and
cache savings, savings by source, quality per tier and provider prompt caching, updated
live as the ledger changes (in this process or another)."""

from __future__ import annotations

from decimal import Decimal

import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QButtonGroup,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.runtime.engine_bridge import EngineBridge
from app.spend.data import OTHER_TIER, RANGES, DashboardData, load_dashboard_data
from app.spend.provider_cache import ProviderCachePanel, tab_title
from app.spend.tables import NO_APP, NO_MEMBER, QualityTable, SavingsTable, SpendByTable
from app.widgets.charts import (
    add_right_axis,
    apply_palette,
    budget_pen,
    forecast_pen,
    make_plot,
    series_color,
    tier_series_color,
)
from app.widgets.empty_state import UntilFirstRequest, no_requests_state
from app.widgets.formatting import fmt_usd
from app.widgets.theme import current_theme

__all__ = ["SpendDashboard"]

DAY = 86400.0


class SpendDashboard(QWidget):
    """Four charts over one :class:`~app.spend.data.DashboardData` snapshot.

    Plot items are created once here and updated with ``setData``/``setOpts``;
    :meth:`refresh` reloads off-thread and coalesces overlapping requests. Until the
    ledger holds a request an empty state stands in for the charts; its buttons come
    out as ``action_requested(action)``.
    """

    action_requested = Signal(str)

    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.tier_ids = [t.id for t in bridge.engine.config.routing.tiers]
        self.range_label = "30 days"
        self.data: DashboardData | None = None
        self.loads = 0
        self._loading = False
        self._dirty = False
        self._build()
        self.refresh()
        self.pages.check()

    # -- layout ------------------------------------------------------------------

    def _build(self) -> None:
        top = QHBoxLayout()
        self.range_buttons = QButtonGroup(self)
        for label in RANGES:
            button = QToolButton()
            button.setText(label)
            button.setCheckable(True)
            button.setChecked(label == self.range_label)
            self.range_buttons.addButton(button)
            top.addWidget(button)
        self.range_buttons.buttonClicked.connect(lambda b: self.set_range(b.text()))
        self.summary_label = QLabel("Loading…")
        self.summary_label.setWordWrap(True)
        top.addSpacing(12)
        top.addWidget(self.summary_label, 1)

        self.month_plot = make_plot(
            "This month: cumulative spend vs monthly budget",
            "spend ($)",
            "day of month",
            usd_axis="left",
        )
        self.month_curve = self.month_plot.plot(name="spent")
        self.forecast_curve = self.month_plot.plot(name="forecast")
        self.monthly_line = _budget_line(self.month_plot, "monthly budget")

        self.today_plot = make_plot("Today vs daily budget", "spend ($)", "", usd_axis="left")
        self.today_bars = pg.BarGraphItem(x=[0, 1], height=[0, 0], width=0.6)
        self.today_plot.addItem(self.today_bars)
        self.today_plot.getPlotItem().getAxis("bottom").setTicks(
            [[(0, "spent so far"), (1, "forecast by midnight")]]
        )
        self.today_plot.setXRange(-0.6, 1.6)
        self.daily_line = _budget_line(self.today_plot, "daily budget")

        self.tier_plot = make_plot(
            "Spend per day by tier", "spend ($)", "day", date_axis=True, usd_axis="left"
        )
        legend = self.tier_plot.addLegend(offset=(10, 5))
        self.legends = [legend]
        self.tier_bars: dict[str, pg.BarGraphItem] = {}
        for key in [*self.tier_ids, OTHER_TIER]:
            bars = pg.BarGraphItem(x=[], height=[], width=0.8 * DAY)
            self.tier_plot.addItem(bars)
            legend.addItem(bars, key)
            self.tier_bars[key] = bars
        self.requests_box = add_right_axis(self.tier_plot, "requests")
        self.requests_curve = pg.PlotDataItem(symbol="o", symbolSize=5)
        self.requests_box.addItem(self.requests_curve)
        legend.addItem(self.requests_curve, "requests")

        self.cache_plot = make_plot(
            "Cache savings", "saved ($ per day)", "day", date_axis=True, usd_axis="left"
        )
        self.saved_curve = self.cache_plot.plot(symbol="o", symbolSize=5, name="saved")
        self.hit_rate_box = add_right_axis(self.cache_plot, "cache hit rate (%)")
        self.hit_rate_box.setYRange(0, 100)
        self.hit_rate_curve = pg.PlotDataItem(connect="finite")
        self.hit_rate_box.addItem(self.hit_rate_curve)
        floor = 100 * self.bridge.engine.config.observability.min_cache_hit_rate
        self.hit_rate_alert = pg.InfiniteLine(
            pos=floor,
            angle=0,
            movable=False,
            label=f"hit-rate alert below {floor:.0f}%",
            labelOpts={"position": 0.8, "anchors": [(0.5, 1.0), (0.5, 1.0)]},
        )
        self.hit_rate_box.addItem(self.hit_rate_alert)
        cache_legend = self.cache_plot.addLegend(offset=(10, 5))
        cache_legend.addItem(self.saved_curve, "saved ($)")
        cache_legend.addItem(self.hit_rate_curve, "hit rate (%)")
        self.legends.append(cache_legend)
        for item in (self.month_curve, self.saved_curve, self.requests_curve, self.hit_rate_curve):
            item.setDownsampling(auto=True, method="peak")
            item.setClipToView(True)

        grid = QGridLayout()
        grid.addWidget(self.month_plot, 0, 0)
        grid.addWidget(self.today_plot, 0, 1)
        grid.addWidget(self.tier_plot, 1, 0)
        grid.addWidget(self.cache_plot, 1, 1)
        grid.setColumnStretch(0, 3)
        grid.setColumnStretch(1, 2)
        self.body = QWidget()
        layout = QVBoxLayout(self.body)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addLayout(grid, 1)
        layout.addWidget(self._build_tables())
        self.empty_state = no_requests_state("chart-column")
        self.empty_state.triggered.connect(self.action_requested)
        self.pages = UntilFirstRequest(self.bridge, self.body, self.empty_state)
        QVBoxLayout(self).addWidget(self.pages)
        self._apply_palette()

    def _build_tables(self) -> QTabWidget:
        """Savings by source and quality per tier side by side; provider prompt caching
        on a tab of its own (the three do not fit side by side beside the sidebar), its
        headline figures in the tab's title."""
        self.savings_table = SavingsTable()
        self.quality_table = QualityTable()
        tables = QWidget()
        row = QHBoxLayout(tables)
        row.setContentsMargins(0, 0, 0, 0)
        for title, table, stretch in (
            ("Savings by source", self.savings_table, 2),
            ("Quality per tier", self.quality_table, 3),
        ):
            box = QGroupBox(title)
            QVBoxLayout(box).addWidget(table)
            row.addWidget(box, stretch)
        self.provider_cache = ProviderCachePanel()
        self.bottom_tabs = QTabWidget()
        self.member_table = SpendByTable(
            "Member", NO_MEMBER, "Spend per team member ([team] member) over the selected range"
        )
        self.app_table = SpendByTable(
            "App", NO_APP, "Spend per app (virtual gateway key) over the selected range"
        )
        people = QWidget()
        row = QHBoxLayout(people)
        row.setContentsMargins(0, 0, 0, 0)
        for title, table in (("By member", self.member_table), ("By app", self.app_table)):
            box = QGroupBox(title)
            QVBoxLayout(box).addWidget(table)
            row.addWidget(box, 1)
        self.people_tab = people
        self.bottom_tabs.setAccessibleName("Savings, quality and provider cache")
        self.bottom_tabs.setDocumentMode(True)
        self.bottom_tabs.addTab(tables, "Savings and quality")
        self.bottom_tabs.addTab(self.provider_cache, tab_title(None))
        self.bottom_tabs.addTab(people, "Members and apps")
        return self.bottom_tabs

    def plots(self) -> list[pg.PlotWidget]:
        return [self.month_plot, self.today_plot, self.tier_plot, self.cache_plot]

    def changeEvent(self, event: QEvent) -> None:
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self._apply_palette()
        super().changeEvent(event)

    def _apply_palette(self) -> None:
        """Chart colours from the current theme (called again on every palette change,
        which a theme switch is)."""
        text = self.palette().color(QPalette.ColorRole.Text)
        for plot in self.plots():
            apply_palette(plot, self.palette())
        for legend in self.legends:
            legend.setLabelTextColor(text)
            for _sample, label in legend.items:  # existing labels keep their old colour
                label.setText(label.text, color=text.name())
        for line in (self.monthly_line, self.daily_line, self.hit_rate_alert):
            line.label.setColor(text)
        theme = current_theme()
        spent, forecast, saved, hit_rate, requests = (series_color(i, 5) for i in (0, 1, 2, 3, 4))
        self.month_curve.setPen(pg.mkPen(spent, width=2))
        self.forecast_curve.setPen(forecast_pen())
        self.today_bars.setOpts(brushes=[pg.mkBrush(spent), pg.mkBrush(forecast)])
        for i, (key, bars) in enumerate(self.tier_bars.items()):
            bars.setOpts(brush=pg.mkBrush(tier_series_color(key, i)), pen=pg.mkPen(theme.surface))
        for curve, color in ((self.requests_curve, requests), (self.saved_curve, saved)):
            curve.setPen(pg.mkPen(color, width=2))
            curve.setSymbolPen(pg.mkPen(color))
            curve.setSymbolBrush(pg.mkBrush(color))
        self.hit_rate_curve.setPen(pg.mkPen(hit_rate, width=2, style=Qt.PenStyle.DashLine))
        self.hit_rate_alert.setPen(pg.mkPen(theme.bad, width=1, style=Qt.PenStyle.DotLine))
        for line in (self.monthly_line, self.daily_line):
            line.setPen(budget_pen())

    # -- data --------------------------------------------------------------------

    def set_range(self, label: str) -> None:
        self.range_label = label
        for button in self.range_buttons.buttons():
            button.setChecked(button.text() == label)
        self.refresh()

    def refresh(self) -> None:
        """Reload off-thread; a refresh asked for while loading runs once afterwards."""
        if self._loading:
            self._dirty = True
            return
        self._loading = True
        self.bridge.call(
            load_dashboard_data,
            self.bridge.engine,
            self.range_label,
            self.tier_ids,
            on_result=self.show_data,
            on_error=self._failed,
        )

    def on_ledger_changed(self) -> None:
        self.refresh()
        self.pages.check()

    @property
    def has_requests(self) -> bool:
        return self.pages.has_requests

    def _failed(self, error: BaseException) -> None:
        from app.widgets.errors import show_error

        self._loading = False
        show_error(error, self)

    def show_data(self, data: DashboardData) -> None:
        self._loading = False
        self.data = data
        self.loads += 1
        self._show_summary(data)
        self._show_month(data)
        self._show_today(data)
        self._show_days(data)
        if data.savings is not None:
            self.savings_table.show_savings(data.savings)
        self.quality_table.show_quality(data.quality)
        self.member_table.show_groups(data.members)
        self.app_table.show_groups(data.apps)
        if data.provider_cache is not None:
            self.provider_cache.show_report(data.provider_cache)
            index = self.bottom_tabs.indexOf(self.provider_cache)
            self.bottom_tabs.setTabText(index, tab_title(data.provider_cache))
        if self._dirty:
            self._dirty = False
            self.refresh()

    def _show_summary(self, data: DashboardData) -> None:
        t = data.summary.totals
        rate = f"{100 * t.cache_hits / t.requests:.0f}%" if t.requests else "–"
        unknown = (
            f" · {t.unknown_cost_requests} of unknown price" if t.unknown_cost_requests else ""
        )
        self.summary_label.setText(
            f"{data.range_label}: {t.requests:,} requests · spent {fmt_usd(t.cost_usd)}"
            f" · saved {fmt_usd(t.saved_usd)} · cache hit rate {rate}"
            f" · {t.errors:,} errors · {t.refused:,} refused{unknown}"
        )

    def _show_month(self, data: DashboardData) -> None:
        s = data.summary
        self.month_curve.setData(data.month_days, data.month_cumulative)
        spent = data.month_cumulative[-1]
        projected = max(float(s.forecast.month_projected_usd), spent)
        self.forecast_curve.setData([data.today_day, data.days_in_month], [spent, projected])
        self.forecast_curve.setToolTip(s.forecast.method)
        _show_budget(self.monthly_line, "monthly budget", s.monthly_usd)
        budget = float(s.monthly_usd) if s.monthly_usd is not None else 0.0
        self.month_plot.setXRange(0, data.days_in_month, padding=0.02)
        self.month_plot.setYRange(0, max(projected, budget, 1e-6) * 1.1, padding=0)

    def _show_today(self, data: DashboardData) -> None:
        s = data.summary
        spent = float(s.today.cost_usd)
        projected = max(float(s.forecast.day_projected_usd), spent)
        self.today_bars.setOpts(height=[spent, projected])
        _show_budget(self.daily_line, "daily budget", s.daily_usd)
        budget = float(s.daily_usd) if s.daily_usd is not None else 0.0
        self.today_plot.setYRange(0, max(projected, budget, 1e-6) * 1.1, padding=0)

    def _show_days(self, data: DashboardData) -> None:
        xs = data.day_stamps
        centers = [x + DAY / 2 for x in xs]
        base = [0.0] * len(xs)
        for key, bars in self.tier_bars.items():
            heights = data.tier_costs.get(key, [0.0] * len(xs))
            bars.setOpts(x=centers, height=heights, y0=list(base), width=0.8 * DAY)
            base = [b + h for b, h in zip(base, heights, strict=True)]
        self.requests_curve.setData(centers, data.requests)
        self.requests_box.setYRange(0, max([*data.requests, 1]) * 1.15, padding=0)
        self.saved_curve.setData(centers, data.saved)
        self.hit_rate_curve.setData(centers, data.hit_rate_pct)
        self.hit_rate_box.setYRange(0, 105, padding=0)
        self.tier_plot.setYRange(0, max([*base, 1e-6]) * 1.15, padding=0)
        self.cache_plot.setYRange(0, max([*data.saved, 1e-6]) * 1.15, padding=0)
        if xs:
            for plot in (self.tier_plot, self.cache_plot):
                plot.setXRange(xs[0], xs[-1] + DAY, padding=0.02)


def _budget_line(plot: pg.PlotWidget, name: str) -> pg.InfiniteLine:
    line = pg.InfiniteLine(
        angle=0,
        movable=False,
        pen=budget_pen(),
        label=name,
        labelOpts={"position": 0.5, "anchors": [(0.5, 1.0), (0.5, 1.0)]},
    )
    line.hide()
    plot.addItem(line)
    return line


def _show_budget(line: pg.InfiniteLine, name: str, limit: Decimal | None) -> None:
    if limit is None:
        line.hide()
        return
    line.setValue(float(limit))
    line.show()  # first: a hidden line's label ignores a new format
    line.label.setFormat(f"{name} {fmt_usd(limit)}")
