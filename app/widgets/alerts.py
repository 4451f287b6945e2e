"""Alerts beyond budgets: an open circuit breaker, a low cache hit rate; and a desktop
notification for every alert when the desktop has a system tray.

:class:`AlertMonitor` listens to finished requests. After each one it asks the
engine for its breaker states (on the engine loop, where breakers live) and keeps
the cache outcome of the last :data:`HIT_RATE_WINDOW` user requests; each condition
alerts once when it starts and re-arms when it ends.
"""

from __future__ import annotations

from collections import deque

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QSystemTrayIcon

from app.runtime.engine_bridge import EngineBridge
from core.types import RequestRecord

__all__ = ["HIT_RATE_WINDOW", "AlertMonitor", "DesktopNotifier"]

HIT_RATE_WINDOW = 50
_HITS = frozenset({"exact", "semantic", "fallback"})


class AlertMonitor(QObject):
    """``alert(kind, text)`` with kind ``breaker`` or ``cache_hit_rate``;
    ``resolved(kind, text)`` when a condition ends (status bar only)."""

    alert = Signal(str, str)
    resolved = Signal(str, str)

    def __init__(self, bridge: EngineBridge, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.open_breakers: set[tuple[str, str]] = set()
        self.outcomes: deque[bool] = deque(maxlen=HIT_RATE_WINDOW)
        self.low_hit_rate = False

    def on_request_finished(self, record: RequestRecord) -> None:
        self.check_breakers()
        self._count_cache_outcome(record)

    # -- breakers ------------------------------------------------------------------

    def check_breakers(self) -> None:
        self.bridge.call_on_loop(
            self.bridge.engine.breaker_states, on_result=self.show_breakers, on_error=lambda e: None
        )

    def show_breakers(self, states: list[tuple[str, str, str]]) -> None:
        now_open = {(p, m) for p, m, state in states if state == "open"}
        for provider, model in sorted(now_open - self.open_breakers):
            self.alert.emit(
                "breaker",
                f"Circuit breaker open for {provider}/{model}: it failed repeatedly, so calls "
                "to it fail fast (or fall back) until it cools down.",
            )
        for provider, model in sorted(self.open_breakers - now_open):
            self.resolved.emit("breaker", f"{provider}/{model} is being tried again.")
        self.open_breakers = now_open

    # -- cache hit rate ------------------------------------------------------------

    def _count_cache_outcome(self, record: RequestRecord) -> None:
        config = self.bridge.engine.config
        if not config.cache.enabled or record.purpose != "user" or record.status != "ok":
            return
        self.outcomes.append(record.cache_outcome in _HITS)
        if len(self.outcomes) < HIT_RATE_WINDOW:
            return
        rate = sum(self.outcomes) / len(self.outcomes)
        floor = config.observability.min_cache_hit_rate
        if rate < floor and not self.low_hit_rate:
            self.low_hit_rate = True
            self.alert.emit(
                "cache_hit_rate",
                f"Low cache hit rate: {rate:.0%} of the last {HIT_RATE_WINDOW} requests were "
                f"answered from the cache (alert below {floor:.0%}).",
            )
        elif rate >= floor and self.low_hit_rate:
            self.low_hit_rate = False
            self.resolved.emit("cache_hit_rate", f"Cache hit rate back to {rate:.0%}.")


class DesktopNotifier(QObject):
    """Shows alerts as desktop notifications through a tray icon, where there is a tray."""

    def __init__(self, icon: QIcon, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.tray: QSystemTrayIcon | None = None
        if QSystemTrayIcon.isSystemTrayAvailable():
            self.tray = QSystemTrayIcon(icon, self)
            self.tray.setToolTip("Centwise")
            self.tray.show()

    @property
    def available(self) -> bool:
        return self.tray is not None

    def notify(self, title: str, text: str) -> bool:
        """Show a notification; False when the desktop has no tray to show it from."""
        if self.tray is None:
            return False
        self.tray.showMessage(title, text, QSystemTrayIcon.MessageIcon.Warning, 10000)
        return True

    def close(self) -> None:
        if self.tray is not None:
            self.tray.hide()
