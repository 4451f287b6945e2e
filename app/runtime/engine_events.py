"""Core events re-emitted as Qt signals, so widgets hear them on the UI thread.

The engine's :class:`~core.events.EventHub` calls handlers on whichever thread emits
(here the engine loop thread). Each handler only emits a signal; Qt queues it to the
UI thread because this object lives there.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from core.events import BUDGET_ALERT, REQUEST_FINISHED, WARNING, EventHub
from core.quality.feedback import QUALITY_ALERT

__all__ = ["EngineEvents"]


class EngineEvents(QObject):
    """``request_finished(RequestRecord)``, ``budget_alert(BudgetAlert)``,
    ``quality_alert(QualityAlert)``, ``warning(str)``."""

    request_finished = Signal(object)
    budget_alert = Signal(object)
    quality_alert = Signal(object)
    warning = Signal(str)

    def __init__(self, hub: EventHub, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._unsubscribe: list[Callable[[], None]] = [
            hub.on(REQUEST_FINISHED, self.request_finished.emit),
            hub.on(BUDGET_ALERT, self.budget_alert.emit),
            hub.on(QUALITY_ALERT, self.quality_alert.emit),
            hub.on(WARNING, lambda text: self.warning.emit(str(text))),
        ]

    def close(self) -> None:
        """Stop listening (call before the engine closes)."""
        for off in self._unsubscribe:
            off()
        self._unsubscribe.clear()
