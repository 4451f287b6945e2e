"""The main window: a list of views on the left, banners on top, a status bar below.

Views are registered in :data:`VIEWS`; adding one is one line there. A view that has ``on_ledger_changed()`` is called whenever
the ledger gains rows, from this process or another.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSettings
from PySide6.QtGui import QCloseEvent, QIcon
from PySide6.QtWidgets import (
    QHBoxLayout,
    QListWidget,
    QMainWindow,
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
from app.widgets.errors import show_error
from app.widgets.gateway_switch import GatewaySwitch
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
    key: str
    title: str
    build: Callable[[AppContext], QWidget]


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
    ViewSpec("playground", "Playground", lambda c: PlaygroundView(c.bridge)),
    ViewSpec("compare", "Compare", _compare),
    ViewSpec("dashboard", "Spend", _dashboard),
    ViewSpec("history", "History", lambda c: HistoryView(c.bridge)),
    ViewSpec("cache", "Cache", _cache),
    ViewSpec("whatif", "What if…", _whatif),
    ViewSpec("settings", "Settings", _settings),
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
        self.nav = QListWidget()
        self.nav.setMaximumWidth(150)
        self.stack = QStackedWidget()
        # Views are built the first time they are shown: start-up pays for one.
        self.views: dict[str, QWidget] = {}
        self._retired: list[QWidget] = []
        for spec in VIEWS:
            self.stack.addWidget(QWidget())
            self.nav.addItem(spec.title)
        self.nav.currentRowChanged.connect(self._show_row)
        self.alerts = AlertMonitor(self.bridge, self)
        self.notifier = DesktopNotifier(self.windowIcon(), self)

        body = QHBoxLayout()
        body.addWidget(self.nav)
        body.addWidget(self.stack, 1)
        central = QWidget()
        layout = QVBoxLayout(central)
        for banner in (self.simulator_banner, self.alert_banner, self.error_banner):
            layout.addWidget(banner)
        layout.addLayout(body, 1)
        self.setCentralWidget(central)
        self.statusBar().showMessage("Ready")
        self.gateway = GatewaySwitch(self.bridge, context.key_store)
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

    # -- views -----------------------------------------------------------------------

    def view(self, key: str) -> QWidget:
        """The view called ``key``, built now if it has not been shown yet."""
        if key not in self.views:
            index = KEYS.index(key)
            view = VIEWS[index].build(self.context)
            view.setObjectName(f"view_{key}")
            placeholder = self.stack.widget(index)
            current = self.stack.currentIndex()
            self.stack.insertWidget(index, view)
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
        return self.views[key]

    def show_view(self, key: str) -> None:
        self.nav.setCurrentRow(KEYS.index(key))

    def _show_row(self, row: int) -> None:
        if 0 <= row < len(VIEWS):
            self.view(KEYS[row])
            self.stack.setCurrentIndex(row)

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
            self.stack.insertWidget(index, QWidget())
            self.stack.removeWidget(old)
            old.hide()
            self._retired.append(old)
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
