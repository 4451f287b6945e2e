"""Notices new ledger rows, whichever process wrote them, by polling off-thread."""

from __future__ import annotations

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

    def __init__(self, bridge: EngineBridge, interval_ms: int = 1500) -> None:
        super().__init__(bridge)
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
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

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
