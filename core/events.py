"""A tiny plain-Python event hub: the core announces, adapters in the app listen.

Handlers run synchronously on the thread that emits; the GUI's adapter re-posts to
the UI thread by signal. One hub per engine, never module-level.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["BUDGET_ALERT", "REQUEST_FINISHED", "WARNING", "EventHub"]

log = logging.getLogger(__name__)

REQUEST_FINISHED = "request_finished"
BUDGET_ALERT = "budget_alert"
WARNING = "warning"

Handler = Callable[[Any], None]


class EventHub:
    """Subscribe with :meth:`on`; the returned callable unsubscribes."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = {}
        self._lock = threading.Lock()

    def on(self, event: str, handler: Handler) -> Callable[[], None]:
        with self._lock:
            self._handlers.setdefault(event, []).append(handler)

        def off() -> None:
            with self._lock:
                handlers = self._handlers.get(event, [])
                if handler in handlers:
                    handlers.remove(handler)

        return off

    def emit(self, event: str, payload: Any) -> None:
        with self._lock:
            handlers = list(self._handlers.get(event, ()))
        for handler in handlers:
            try:
                handler(payload)
            except Exception:  # a broken listener must not break a request
                log.exception("event handler for %s failed", event)
