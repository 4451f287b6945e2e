"""Notices new ledger rows, whichever process wrote them, by polling off-thread."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal

from app.runtime.engine_bridge import EngineBridge
from core.engine import Engine
from core.types import RequestRecord

__all__ = ["LedgerWatcher"]

# Beyond this many new rows (a bulk import elsewhere) we only say "changed".
MAX_RECORDS_PER_POLL = 500


class LedgerWatcher(QObject):
    """Polls ``engine.changes_since(marker)`` every ``interval_ms`` on the ledger thread.

    ``changed(records)`` fires once per poll that found new rows; ``records`` is empty
    when too many arrived at once to be worth reading. :meth:`poll_now` is called when
    this process finishes a request, so the views do not wait for the next tick.
    """

    changed = Signal(list)
    #: Emitted from the listening thread; queued onto this object's thread.
    _notified = Signal()

    def __init__(
        self, bridge: EngineBridge, interval_ms: int = 1500, pushed_interval_ms: int = 30_000
    ) -> None:
        super().__init__(bridge)
        self._pushed_interval_ms = pushed_interval_ms
        self._stop_listening: Callable[[], None] | None = None
        self._notified.connect(self.poll_now)
        self._bridge = bridge
        self._marker: int | None = None
        self._busy = False
        self._again = False
        self._failing = False
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.poll_now)

    def start(self) -> None:
        self._busy = True
        self._bridge.call(
            self._bridge.engine.latest_change, on_result=self._started, on_error=self._failed
        )
        # On a shared PostgreSQL ledger each commit anywhere is pushed (LISTEN/NOTIFY):
        # poll when told, and only rarely otherwise, as a safety net.
        self._stop_listening = self._bridge.engine.follow_changes(self._notified.emit)
        if self._stop_listening is not None:
            self._timer.setInterval(self._pushed_interval_ms)
        self._timer.start()

    @property
    def pushed(self) -> bool:
        """True when changes are pushed by the database rather than found by polling."""
        return self._stop_listening is not None

    def stop(self) -> None:
        self._timer.stop()
        if self._stop_listening is not None:
            self._stop_listening()
            self._stop_listening = None

    def poll_now(self) -> None:
        if self._busy:
            self._again = True
            return
        if self._marker is None:
            return
        self._busy = True
        self._bridge.call(
            _read_changes,
            self._bridge.engine,
            self._marker,
            on_result=self._polled,
            on_error=self._failed,
        )

    def _started(self, marker: int) -> None:
        self._marker, self._busy = marker, False
        if self._again:
            self._again = False
            self.poll_now()

    def _failed(self, error: BaseException) -> None:
        # Report the first failure of a run only; the next good poll re-arms it.
        self._busy = False
        if not self._failing:
            self._failing = True
            self._bridge.error_occurred.emit(error)

    def _polled(self, result: tuple[int, int, list[RequestRecord]]) -> None:
        upto, new_rows, records = result
        self._marker, self._busy, self._failing = upto, False, False
        if new_rows:
            self.changed.emit(records)
        if self._again:
            self._again = False
            self.poll_now()


def _read_changes(engine: Engine, marker: int) -> tuple[int, int, list[RequestRecord]]:
    upto = engine.latest_change()
    if upto <= marker:
        return upto, 0, []
    if upto - marker > MAX_RECORDS_PER_POLL:
        return upto, upto - marker, []
    return upto, upto - marker, engine.changes_since(marker, upto)
