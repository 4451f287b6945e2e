"""Light and dark themes: readable colours, the palette and stylesheet they apply, the
OS scheme they follow, the Appearance setting, and charts that redraw in them."""

from __future__ import annotations

import re
import threading
import time
from decimal import Decimal

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor, QFont, QGuiApplication, QPalette
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QLabel,
    QLineEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.launcher import main
from app.main_window import MainWindow
from app.runtime.settings_store import open_settings
from app.settings.appearance import THEME_KEY, AppearancePanel
from app.settings.view import SettingsView
from app.spend.data import OTHER_TIER
from app.spend.view import SpendDashboard
from app.whatif.report import ReplayReportPanel
from app.widgets.banner import MessageBanner
from app.widgets.charts import UsdAxis, add_right_axis, make_plot
from app.widgets.design import (
    DARK,
    LIGHT,
    Theme,
    chart_fill_pairs,
    contrast_ratio,
    field_edge,
    text_pairs,
)
from app.widgets.stylesheet import stylesheet
from app.widgets.theme import current_theme, theme_manager, tier_color
from core.types import RequestRecord, Usage
from tests.gui.conftest import no_keyring


def _same(color: QColor, hex_color: str, tolerance: int = 0) -> bool:
    other = QColor(hex_color)
    return all(
        abs(a - b) <= tolerance for a, b in zip(color.getRgb()[:3], other.getRgb()[:3], strict=True)
    )


# -- colours ---------------------------------------------------------------------------


def test_contrast_ratio_follows_wcag():
    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast_ratio("#ffffff", "#000000") == pytest.approx(21.0)
    assert contrast_ratio("#777777", "#777777") == pytest.approx(1.0)
    assert contrast_ratio("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)


@pytest.mark.parametrize("theme", [LIGHT, DARK], ids=lambda t: t.name)
def test_every_text_colour_meets_wcag_aa(theme: Theme):
    pairs = text_pairs(theme)
    assert len(pairs) > 40  # tones, tiers, banners, links, selection, placeholder…
    failing = [
        (what, fg, bg, round(contrast_ratio(fg, bg), 2))
        for what, fg, bg in pairs
        if contrast_ratio(fg, bg) < 4.5
    ]
    assert not failing


@pytest.mark.parametrize("theme", [LIGHT, DARK], ids=lambda t: t.name)
def test_chart_fills_stand_out_from_the_chart_background(theme: Theme):
    fills = chart_fill_pairs(theme)
    assert {what for what, *_ in fills} >= {f"tier {t}" for t in theme.tiers}
    failing = [(what, fg) for what, fg, bg in fills if contrast_ratio(fg, bg) < 3.0]
    assert not failing
    tiers = list(theme.tiers.values())
    assert len(set(tiers)) == len(tiers)
    for background in (theme.window, theme.surface):  # the focus ring is the accent
        assert contrast_ratio(theme.accent, background) >= 3.0
        assert contrast_ratio(field_edge(theme), background) >= 3.0  # a text field's edge


def test_font_sizes_scale_with_the_application_font():
    small, large = QFont(), QFont()
    small.setPointSizeF(10)
    large.setPointSizeF(20)
    assert 'QLabel[role="title"] { font-size: 14.5pt' in stylesheet(LIGHT, small)
    assert 'QLabel[role="title"] { font-size: 29.0pt' in stylesheet(LIGHT, large)
    assert not re.search(r"font-size:\s*[\d.]+px", stylesheet(DARK, small))


# -- the manager -----------------------------------------------------------------------


def test_dark_mode_applies_palette_and_stylesheet_and_announces_it(qtbot, qapp):
    manager = theme_manager()
    assert theme_manager() is manager
    with qtbot.waitSignal(manager.changed, timeout=1000) as signal:
        manager.set_mode("dark")
    assert signal.args == [DARK]
    assert manager.mode == "dark"
    assert current_theme() is DARK
    palette = QApplication.palette()
    assert palette.color(QPalette.ColorRole.Window) == QColor(DARK.window)
    assert palette.color(QPalette.ColorRole.Base) == QColor(DARK.surface)
    assert palette.color(QPalette.ColorRole.Highlight) == QColor(DARK.accent)
    disabled = palette.color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text)
    assert disabled == QColor(DARK.disabled)
    assert DARK.accent in qapp.styleSheet()
    assert tier_color("premium") == DARK.tiers["premium"]
    assert tier_color("no-such-tier") == DARK.tiers["other"]

    manager.set_mode("light")
    assert QApplication.palette().color(QPalette.ColorRole.Window) == QColor(LIGHT.window)
    assert LIGHT.accent in qapp.styleSheet() and DARK.accent not in qapp.styleSheet()


def test_an_unknown_mode_is_refused_by_name():
    manager = theme_manager()
    manager.set_mode("light")
    with pytest.raises(ValueError, match="'sepia'"):
        manager.set_mode("sepia")
    assert manager.mode == "light"
    assert current_theme() is LIGHT


def test_system_mode_follows_the_os_colour_scheme(qtbot):
    manager = theme_manager()
    scheme = [Qt.ColorScheme.Unknown]
    manager.scheme_source = lambda: scheme[0]
    manager.set_mode("system")
    assert manager.theme is LIGHT  # an OS that does not say reads light

    scheme[0] = Qt.ColorScheme.Dark
    with qtbot.waitSignal(manager.changed, timeout=1000):
        QGuiApplication.styleHints().colorSchemeChanged.emit(Qt.ColorScheme.Dark)
    assert manager.theme is DARK
    assert QApplication.palette().color(QPalette.ColorRole.Window) == QColor(DARK.window)

    scheme[0] = Qt.ColorScheme.Light
    QGuiApplication.styleHints().colorSchemeChanged.emit(Qt.ColorScheme.Light)
    assert manager.theme is LIGHT

    manager.set_mode("dark")  # a chosen theme stays put when the OS switches
    scheme[0] = Qt.ColorScheme.Light
    QGuiApplication.styleHints().colorSchemeChanged.emit(Qt.ColorScheme.Light)
    assert manager.theme is DARK


# -- widgets in the theme --------------------------------------------------------------


def test_roles_and_focus_are_drawn_from_the_theme(qtbot, qapp):
    theme_manager().set_mode("light")
    page = QWidget()
    qtbot.addWidget(page)
    title = QLabel("Spend")
    title.setProperty("role", "title")
    edit = QLineEdit()
    button = QToolButton()
    button.setProperty("feedback", "true")
    button.setCheckable(True)
    button.setText("👍")
    layout = QVBoxLayout(page)
    for widget in (title, edit, button):
        layout.addWidget(widget)
    page.show()
    qtbot.waitExposed(page)
    base = qapp.font().pointSizeF()
    assert title.font().pointSizeF() == pytest.approx(base * 1.45, abs=0.1)

    edit.setFocus()
    qtbot.waitUntil(edit.hasFocus)
    mid = edit.height() // 2
    assert _same(edit.grab().toImage().pixelColor(0, mid), LIGHT.accent, 8)  # focus ring
    edit.clearFocus()
    qtbot.waitUntil(lambda: not edit.hasFocus())
    assert _same(edit.grab().toImage().pixelColor(0, mid), field_edge(LIGHT), 8)

    def inside() -> QColor:
        return button.grab().toImage().pixelColor(3, button.height() // 2)

    unchecked = inside()
    button.setChecked(True)
    assert inside() != unchecked  # a checked vote reads as checked


def test_banner_colours_follow_level_and_theme(qtbot):
    theme_manager().set_mode("light")
    banner = MessageBanner()
    qtbot.addWidget(banner)
    banner.resize(400, 60)
    banner.show_text("Budget alert: 80% of the daily budget", "warning")
    close = banner.close_button
    assert close.accessibleName() == "Dismiss message"
    assert close.toolTip() == "Dismiss message"
    assert not close.icon().isNull()

    def drawn() -> tuple[QColor, QColor]:
        corner = banner.grab().toImage().pixelColor(1, 1)
        return corner, banner.label.palette().color(QPalette.ColorRole.WindowText)

    background, text = drawn()
    assert _same(background, LIGHT.banners["warning"][0])
    assert _same(text, LIGHT.banners["warning"][1])

    theme_manager().set_mode("dark")
    background, text = drawn()
    assert _same(background, DARK.banners["warning"][0])
    assert _same(text, DARK.banners["warning"][1])

    banner.show_text("Could not reach the provider", "error")
    assert _same(drawn()[0], DARK.banners["error"][0])
    with qtbot.waitSignal(banner.dismissed, timeout=1000):
        close.click()
    assert banner.isHidden()


# -- the Appearance setting ------------------------------------------------------------


def test_appearance_combo_switches_the_theme_and_is_remembered(qtbot, tmp_path):
    theme_manager().set_mode("light")
    settings = open_settings(tmp_path / "qt")
    panel = AppearancePanel(settings)
    qtbot.addWidget(panel)
    combo = panel.findChild(QComboBox, "theme_mode")
    assert combo.accessibleName() == "Theme"
    assert [combo.itemText(i) for i in range(combo.count())] == [
        "Follow the system",
        "Light",
        "Dark",
    ]
    assert combo.currentData() == "system"  # nothing stored yet

    with qtbot.waitSignal(theme_manager().changed, timeout=1000):
        combo.setCurrentIndex(combo.findData("dark"))
    assert theme_manager().mode == "dark"
    assert current_theme() is DARK
    assert settings.value(THEME_KEY) == "dark"

    again = AppearancePanel(open_settings(tmp_path / "qt"))
    qtbot.addWidget(again)
    assert again.findChild(QComboBox, "theme_mode").currentData() == "dark"


def test_settings_view_ends_with_the_appearance_tab(qtbot, make_bridge, tmp_path, monkeypatch):
    monkeypatch.setenv("CENTWISE_SETTINGS_DIR", str(tmp_path / "qt"))
    open_settings().setValue(THEME_KEY, "light")
    view = SettingsView(make_bridge(), no_keyring(), tmp_path / "config.toml")
    qtbot.addWidget(view)
    last = view.tabs.count() - 1
    assert view.tabs.tabText(last) == "Appearance"
    combo = view.tabs.widget(last).findChild(QComboBox, "theme_mode")
    assert combo.currentData() == "light"


def test_the_app_starts_in_the_stored_theme(qapp, tmp_path, monkeypatch):
    monkeypatch.setenv("CENTWISE_SETTINGS_DIR", str(tmp_path / "qt"))
    open_settings().setValue(THEME_KEY, "dark")
    seen: list[QColor] = []
    qapp.setQuitOnLastWindowClosed(False)

    def close() -> None:  # quit exactly once (see test_main)
        for widget in QApplication.topLevelWidgets():
            if isinstance(widget, MainWindow) and widget.isVisible():
                seen.append(widget.palette().color(QPalette.ColorRole.Window))
                widget.close()
        QApplication.quit()

    QTimer.singleShot(800, close)
    try:
        assert main(["--data-dir", str(tmp_path / "data")]) == 0
    finally:
        qapp.setQuitOnLastWindowClosed(True)
    assert seen == [QColor(DARK.window)]
    assert theme_manager().mode == "dark"
    assert not [t for t in threading.enumerate() if t.name.startswith("centwise")]


# -- charts ----------------------------------------------------------------------------


def test_usd_axis_ticks_read_as_dollars(qtbot):
    axis = UsdAxis("left")
    strings = axis.tickStrings([0, 2.5e-5, 5e-5], 1.0, 2.5e-5)
    assert strings[1] == "$0.000025"
    assert all(s.startswith("$") and "e-" not in s for s in strings)

    plot = make_plot("Spend", "count", "day", usd_axis="left")
    qtbot.addWidget(plot)
    add_right_axis(plot, "saved ($)", usd=True)
    for side in ("left", "right"):
        assert isinstance(plot.getPlotItem().getAxis(side), UsdAxis)
    assert plot.getPlotItem().getAxis("right").labelText == "saved ($)"


def _tiny_records(n: int) -> list[RequestRecord]:
    now = time.time()
    return [
        RequestRecord(
            request_id=f"req_tiny_{i:04d}",
            started_at=now - 3600 * i - 1,
            finished_at=now - 3600 * i,
            provider="simulator",
            model="gpt-4.1-nano",
            tier=("fast", "balanced", "premium", "custom")[i % 4],
            cache_outcome="miss",
            usage=Usage(input_tokens=3, output_tokens=2),
            estimated_input_tokens=3,
            cost_usd=Decimal("0.0000007"),
            saved_usd=Decimal("0.0000003"),
            latency_ms=100.0,
            status="ok",
            simulated=True,
            prompt="hi",
            response="hello",
        )
        for i in range(n)
    ]


def _tick_strings(axis) -> list[str]:
    low, high = axis.range
    out = []
    for spacing, values in axis.tickValues(low, high, max(axis.height(), axis.width(), 100)):
        out += axis.tickStrings(values, axis.autoSIPrefixScale, spacing)
    return out


def test_dashboard_dollar_axes_never_show_an_exponent(qtbot, make_bridge):
    theme_manager().set_mode("light")
    bridge = make_bridge()
    bridge.engine.ledger.record_many(_tiny_records(40))
    dash = SpendDashboard(bridge)
    qtbot.addWidget(dash)
    dash.resize(1200, 800)
    dash.show()
    qtbot.waitUntil(lambda: dash.data is not None)
    qtbot.waitExposed(dash)
    for plot in dash.plots():
        assert isinstance(plot.getPlotItem().getAxis("left"), UsdAxis)
    money = [_tick_strings(plot.getPlotItem().getAxis("left")) for plot in dash.plots()]
    assert all(strings for strings in money)
    assert all(s.startswith("$") for strings in money for s in strings)
    every = [
        s
        for plot in dash.plots()
        for side in ("left", "bottom", "right")
        if plot.getPlotItem().getAxis(side).isVisible()
        for s in _tick_strings(plot.getPlotItem().getAxis(side))
    ]
    assert not [s for s in every if "e-" in s or "e+" in s]


def test_whatif_plot_has_a_dollar_axis(qtbot):
    panel = ReplayReportPanel()
    qtbot.addWidget(panel)
    assert isinstance(panel.plot.getPlotItem().getAxis("left"), UsdAxis)


def test_tier_bars_use_tier_colours_and_follow_the_theme(qtbot, make_bridge):
    theme_manager().set_mode("light")
    dash = SpendDashboard(make_bridge())
    qtbot.addWidget(dash)

    def brushes() -> dict[str, str]:
        return {k: bars.opts["brush"].color().name() for k, bars in dash.tier_bars.items()}

    assert OTHER_TIER == "other"
    assert brushes() == {t: tier_color(t) for t in ("fast", "balanced", "premium", "other")}
    assert brushes()["fast"] == LIGHT.tiers["fast"]
    assert dash.month_plot.backgroundBrush().color() == QColor(LIGHT.surface)

    theme_manager().set_mode("dark")
    qtbot.waitUntil(lambda: brushes()["fast"] == DARK.tiers["fast"], timeout=1000)
    assert brushes() == {t: DARK.tiers[t] for t in ("fast", "balanced", "premium", "other")}
    assert dash.month_plot.backgroundBrush().color() == QColor(DARK.surface)
