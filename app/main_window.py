"""The main window: a list of views on the left, banners on top, a status bar below.

Views are registered in :data:`VIEWS`; adding one is one line there. A view that has
``on_ledger_changed()`` is called whenever the ledger gains rows, from this process or
another; a view with an ``action_requested(action)`` signal (its empty state's
buttons, :mod:`app.widgets.empty_state`) has the window do it. The View and Help menus
and the keys of every shortcut come from :data:`app.widgets.shortcuts_dialog.SHORTCUTS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSettings, QSize, Qt
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QIcon
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.history.view import HistoryView
from app.playground.view import PlaygroundView
from app.runtime.config_file import default_config_path
from app.runtime.engine_bridge import EngineBridge
from app.runtime.engine_events import EngineEvents
from app.runtime.ledger_watcher import LedgerWatcher
from app.widgets.alerts import AlertMonitor, DesktopNotifier
from app.widgets.banner import MessageBanner
from app.widgets.empty_state import OPEN_PLAYGROUND, START_GATEWAY
from app.widgets.errors import show_error
from app.widgets.gateway_switch import GatewaySwitch
from app.widgets.icons import icon
from app.widgets.navigation import ViewList, ViewPage, first_control, nav_icon, takes_focus
from app.widgets.shortcuts_dialog import KeyboardShortcutsDialog, key_sequences, key_text
from app.widgets.theme import theme_manager
from core.accounting.budget import BudgetAlert
from core.engine import Engine
from core.keys import KeyStore
from core.quality.feedback import QualityAlert
from core.resources import resource_path

if TYPE_CHECKING:
    from app.runtime.app_engine import EngineOpener

__all__ = ["KEYS", "SIMULATOR_NOTICE", "VIEWS", "AppContext", "MainWindow", "ViewSpec", "app_icon"]

SIMULATOR_NOTICE = (
    "Running on the offline Simulator — costs are what the real models would charge. "
    "Add an API key in Settings (or `centwise keys set openai`)."
)
STATUS_TIMEOUT_MS = 15000


@dataclass(frozen=True, slots=True)
class AppContext:
    """What every view may be built from.

    ``config_path`` is where Settings saves (default: the user config dir); ``keys``
    holds API keys (default: the OS keyring); ``open_engine`` re-opens the engine
    after a save (without it, Settings asks for a restart).
    """

    bridge: EngineBridge
    config_path: Path | None = None
    keys: KeyStore | None = None
    open_engine: EngineOpener | None = None

    def key_store(self) -> KeyStore:
        return self.keys if self.keys is not None else KeyStore()

    def settings_path(self) -> Path:
        return self.config_path if self.config_path is not None else default_config_path()


@dataclass(frozen=True, slots=True)
class ViewSpec:
    """A view: its key, its title and icon in the sidebar, how it is built, and the
    attribute naming the control that takes the focus when it is opened by keyboard
    (empty: its first control)."""

    key: str
    title: str
    icon: str
    build: Callable[[AppContext], QWidget]
    focus: str = ""


def _dashboard(c: AppContext) -> QWidget:
    from app.spend.view import SpendDashboard  # pyqtgraph loads when first shown

    return SpendDashboard(c.bridge)


def _cache(c: AppContext) -> QWidget:
    from app.cache.view import CacheView

    return CacheView(c.bridge, c.settings_path(), c.open_engine)


def _compare(c: AppContext) -> QWidget:
    from app.compare.view import CompareView

    return CompareView(c.bridge)


def _whatif(c: AppContext) -> QWidget:
    from app.whatif.view import WhatIfView

    return WhatIfView(c.bridge, c.settings_path(), c.open_engine)


def _settings(c: AppContext) -> QWidget:
    from app.settings.view import SettingsView

    return SettingsView(c.bridge, c.key_store(), c.settings_path(), c.open_engine)


VIEWS: tuple[ViewSpec, ...] = (
    ViewSpec(
        "playground", "Playground", "message-square", lambda c: PlaygroundView(c.bridge), "prompt"
    ),
    ViewSpec("compare", "Compare", "columns-2", _compare, "prompt"),
    ViewSpec("dashboard", "Spend", "chart-column", _dashboard),
    ViewSpec("history", "History", "history", lambda c: HistoryView(c.bridge), "table"),
    ViewSpec("cache", "Cache", "database-zap", _cache, "search_field"),
    ViewSpec("whatif", "What if…", "flask-conical", _whatif),
    ViewSpec("settings", "Settings", "settings", _settings),
)
KEYS = [spec.key for spec in VIEWS]


def app_icon() -> QIcon:
    """The Centwise icon (SVG, with the 256 px PNG for platforms without SVG icons)."""
    icon = QIcon()
    for name in ("icons/centwise.svg", "icons/centwise-256.png"):
        path = resource_path(name)
        if path.exists():
            icon.addFile(str(path))
    return icon


class MainWindow(QMainWindow):
    """Holds the views over one engine bridge; remembers geometry and the last view."""

    def __init__(
        self,
        context: AppContext,
        settings: QSettings,
        *,
        poll_interval_ms: int = 1500,
    ) -> None:
        super().__init__()
        self.context = context
        self.bridge = context.bridge
        self.settings = settings
        self.setWindowTitle("Centwise — what every LLM call costs, and why")
        self.setWindowIcon(app_icon())
        self.events = EngineEvents(self.bridge.engine.events, self)
        self.watcher = LedgerWatcher(self.bridge, poll_interval_ms)

        self.simulator_banner = MessageBanner()
        self.alert_banner = MessageBanner()
        self.error_banner = MessageBanner()
        self.nav = ViewList()
        self.stack = QStackedWidget()
        # Views are built the first time they are shown: start-up pays for one.
        self.views: dict[str, QWidget] = {}
        self._retired: list[QWidget] = []
        self.shortcuts_dialog: KeyboardShortcutsDialog | None = None
        for spec in VIEWS:
            self.stack.addWidget(QWidget())
            item = QListWidgetItem(spec.title)
            tip = f"{spec.title} ({key_text(f'view.{spec.key}')})"
            item.setToolTip(tip)
            item.setData(Qt.ItemDataRole.AccessibleTextRole, tip)
            self.nav.addItem(item)
        self.nav.currentRowChanged.connect(self._show_row)
        self.nav.itemActivated.connect(lambda item: self.open_view(KEYS[self.nav.row(item)]))
        self.alerts = AlertMonitor(self.bridge, self)
        self.notifier = DesktopNotifier(self.windowIcon(), self)

        body = QHBoxLayout()
        body.addWidget(self._sidebar())
        body.addWidget(self.stack, 1)
        central = QWidget()
        layout = QVBoxLayout(central)
        for banner in (self.simulator_banner, self.alert_banner, self.error_banner):
            layout.addWidget(banner)
        layout.addLayout(body, 1)
        self.setCentralWidget(central)
        self._build_menus()
        self._draw_icons()
        theme_manager().changed.connect(self._draw_icons)
        self.statusBar().showMessage("Ready")
        self.gateway = GatewaySwitch(self.bridge, context.key_store)
        self.gateway.setAccessibleName("Gateway")
        self.statusBar().addPermanentWidget(self.gateway)

        self.bridge.error_occurred.connect(lambda err: show_error(err, self))
        self.events.budget_alert.connect(self.on_budget_alert)
        self.events.quality_alert.connect(self.on_quality_alert)
        self.events.warning.connect(lambda text: self.show_message(text, "warning"))
        self.events.request_finished.connect(lambda _rec: self.watcher.poll_now())
        self.events.request_finished.connect(self.alerts.on_request_finished)
        self.alerts.alert.connect(lambda _kind, text: self.raise_alert(text))
        self.alerts.resolved.connect(
            lambda _kind, text: self.statusBar().showMessage(text, STATUS_TIMEOUT_MS)
        )
        self.watcher.changed.connect(self._ledger_changed)
        self.simulator_banner.dismissed.connect(
            lambda: self.settings.setValue("banners/simulator_dismissed", True)
        )
        self._restore()
        self._startup_notices()
        self.watcher.start()

    # -- layout --------------------------------------------------------------------

    def _sidebar(self) -> QWidget:
        """The app's name over the list of views."""
        self.logo = QLabel()
        self.logo.setPixmap(app_icon().pixmap(QSize(24, 24), self.devicePixelRatio()))
        name = QLabel("Centwise")
        name.setProperty("role", "subtitle")
        brand = QHBoxLayout()
        brand.setContentsMargins(6, 2, 6, 6)
        brand.addWidget(self.logo)
        brand.addWidget(name, 1)
        sidebar = QWidget()
        sidebar.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Preferred)
        column = QVBoxLayout(sidebar)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(brand)
        column.addWidget(self.nav, 1)
        return sidebar

    def _build_menus(self) -> None:
        """View: one checkable action per view and the list's focus; Help: shortcuts, About."""
        menu = self.menuBar().addMenu("&View")
        self.view_actions: dict[str, QAction] = {}
        group = QActionGroup(self)
        group.setExclusive(True)
        for spec in VIEWS:
            action = QAction(spec.title, self)
            action.setCheckable(True)
            action.setShortcuts(key_sequences(f"view.{spec.key}"))
            action.triggered.connect(lambda _checked=False, key=spec.key: self.open_view(key))
            group.addAction(action)
            menu.addAction(action)
            self.view_actions[spec.key] = action
        menu.addSeparator()
        self.focus_nav_action = menu.addAction("Go to the list of views")
        self.focus_nav_action.setShortcuts(key_sequences("nav.focus"))
        self.focus_nav_action.triggered.connect(self.focus_nav)

        help_menu = self.menuBar().addMenu("&Help")
        self.shortcuts_action = help_menu.addAction("&Keyboard shortcuts…")
        self.shortcuts_action.setShortcuts(key_sequences("help.shortcuts"))
        self.shortcuts_action.triggered.connect(self.show_shortcuts)
        self.about_action = help_menu.addAction("&About Centwise")
        self.about_action.triggered.connect(self.show_about)

    def _draw_icons(self, *_theme: object) -> None:
        """Icons are drawn in the theme's text colour: again whenever the theme changes."""
        for row, spec in enumerate(VIEWS):
            self.nav.item(row).setIcon(nav_icon(spec.icon))
            self.view_actions[spec.key].setIcon(icon(spec.icon))
        self.shortcuts_action.setIcon(icon("keyboard"))
        self.about_action.setIcon(icon("circle-help"))

    # -- views -----------------------------------------------------------------------

    def view(self, key: str) -> QWidget:
        """The view called ``key``, built now if it has not been shown yet."""
        if key not in self.views:
            index = KEYS.index(key)
            view = VIEWS[index].build(self.context)
            view.setObjectName(f"view_{key}")
            placeholder = self.stack.widget(index)
            current = self.stack.currentIndex()
            self.stack.insertWidget(index, ViewPage(view))
            self.stack.removeWidget(placeholder)
            placeholder.deleteLater()
            self.stack.setCurrentIndex(current)
            self.views[key] = view
            if key in ("settings", "whatif", "cache"):  # each can save a config and re-open
                view.engine_reopened.connect(  # type: ignore[attr-defined]
                    partial(self.on_engine_reopened, source=key)
                )
            status = getattr(view, "status_message", None)
            if status is not None:  # a view's short confirmations go to the status bar
                status.connect(lambda text: self.statusBar().showMessage(text, STATUS_TIMEOUT_MS))
            requested = getattr(view, "action_requested", None)
            if requested is not None:  # its empty state's buttons
                requested.connect(self.on_view_action)
        return self.views[key]

    def show_view(self, key: str) -> None:
        self.nav.setCurrentRow(KEYS.index(key))

    def open_view(self, key: str) -> None:
        """Show view ``key`` and move the keyboard focus into it (menus, shortcuts)."""
        self.show_view(key)
        view = self.view(key)
        name = VIEWS[KEYS.index(key)].focus
        target = getattr(view, name, None) if name else None
        if not isinstance(target, QWidget) or not takes_focus(target, view):
            target = first_control(view)
        (target or view).setFocus(Qt.FocusReason.ShortcutFocusReason)

    def focus_nav(self) -> None:
        self.nav.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def _show_row(self, row: int) -> None:
        if 0 <= row < len(VIEWS):
            self.view(KEYS[row])
            self.stack.setCurrentIndex(row)
            self.view_actions[KEYS[row]].setChecked(True)

    def on_view_action(self, action: str) -> None:
        """Do what a view's empty state asked for."""
        if action == OPEN_PLAYGROUND:
            self.open_view("playground")
        elif action == START_GATEWAY and self.gateway.state in ("off", "error"):
            self.gateway.start()
            self.statusBar().showMessage(
                "Starting the gateway: point an app at the address in the status bar",
                STATUS_TIMEOUT_MS,
            )

    def current_view_key(self) -> str:
        return KEYS[max(self.stack.currentIndex(), 0)]

    def on_engine_reopened(self, engine: Engine, source: str = "settings") -> None:
        """Views other than Settings read the config when built: rebuild them lazily.

        A view with ``on_engine_reopened(engine)`` follows the new engine itself and
        is kept (the cache view keeps the user's tuning curve); ``source``, the view
        that re-opened the engine, has followed it already. The old views are hidden
        and kept until the window closes, so answers still on their way to them land
        on live widgets.
        """
        current = self.current_view_key()
        for key in [k for k in self.views if k != "settings"]:
            view = self.views[key]
            if _follows(view):
                if key != source:
                    view.on_engine_reopened(engine)  # type: ignore[attr-defined]
                continue
            old = self.views.pop(key)
            index = KEYS.index(key)
            page = self.stack.widget(index)
            self.stack.insertWidget(index, QWidget())
            self.stack.removeWidget(page)
            page.hide()
            old.hide()
            self._retired.append(page)
        self.stack.setCurrentIndex(KEYS.index(current))
        self.view(current)
        settings = self.views.get("settings")
        if settings is not None:  # a config applied elsewhere (What if…) shows there too
            settings.load(engine.config)  # type: ignore[attr-defined]
        self.statusBar().showMessage("Settings applied", STATUS_TIMEOUT_MS)

    def _ledger_changed(self, _records: list[object]) -> None:
        for view in self.views.values():
            listener = getattr(view, "on_ledger_changed", None)
            if callable(listener):
                listener()

    # -- help ------------------------------------------------------------------------

    def show_shortcuts(self) -> None:
        """The list of keyboard shortcuts (Escape closes it)."""
        if self.shortcuts_dialog is None:
            self.shortcuts_dialog = KeyboardShortcutsDialog(self)
            # The keyboard focus goes back to the window once the list is closed.
            self.shortcuts_dialog.finished.connect(lambda _result: self.activateWindow())
        self.shortcuts_dialog.show()
        self.shortcuts_dialog.raise_()
        self.shortcuts_dialog.activateWindow()

    def show_about(self) -> None:
        try:
            number = version("centwise")
        except PackageNotFoundError:
            number = "development build"
        QMessageBox.about(
            self,
            "About Centwise",
            f"<b>Centwise</b> {number}<p>What every LLM call costs, and why: budgets, a "
            "semantic cache, tier routing and an exact ledger.</p>"
            "<p>Interface icons: Lucide (ISC licence).</p>",
        )

    # -- messages --------------------------------------------------------------------

    def show_message(self, text: str, level: str = "info") -> None:
        """Errors and warnings get a banner; everything goes to the status bar."""
        if level == "error":
            self.error_banner.show_text(text, "error")
        elif level == "warning":
            self.alert_banner.show_text(text, "warning")
        self.statusBar().showMessage(text, STATUS_TIMEOUT_MS)

    def on_budget_alert(self, alert: BudgetAlert) -> None:
        self.raise_alert(f"Budget alert: {alert.message}")

    def on_quality_alert(self, alert: QualityAlert) -> None:
        self.raise_alert(f"Quality alert: {alert.message}")

    def raise_alert(self, text: str) -> None:
        """An alert: the warning banner, the status bar and, with a tray, the desktop."""
        self.alert_banner.show_text(text, "warning")
        self.statusBar().showMessage(text, STATUS_TIMEOUT_MS)
        self.notifier.notify("Centwise", text)

    def _startup_notices(self) -> None:
        dismissed = self.settings.value("banners/simulator_dismissed", False, type=bool)
        if self.bridge.engine.runs_only_on_simulator() and not dismissed:
            self.simulator_banner.show_text(SIMULATOR_NOTICE, "info")
        for text in self.bridge.engine.startup_warnings:
            self.show_message(text, "warning")

    # -- state -----------------------------------------------------------------------

    def _restore(self) -> None:
        geometry = self.settings.value("window/geometry")
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(1280, 820)
        key = str(self.settings.value("window/view", "playground"))
        self.show_view(key if key in KEYS else "playground")

    def save_state(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/view", self.current_view_key())
        self.settings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_state()
        self.watcher.stop()
        self.events.close()
        self.notifier.close()
        self.gateway.shutdown()
        super().closeEvent(event)


def _follows(view: QWidget) -> bool:
    """True for a view that follows a re-opened engine itself (not rebuilt)."""
    return callable(getattr(view, "on_engine_reopened", None))
