"""WAL checkpoints on a background thread, for processes that keep a ledger open.

By default SQLite checkpoints inside the commit that pushes the write-ahead log past
1,000 pages: that commit copies the log into the database file and syncs it, which on
a busy gateway is a stall of several milliseconds (tens on a slow disk) for every
stream the event loop serves. A :class:`Checkpointer` takes that work onto its own
thread and its own connection: every ``interval_s`` it runs a ``PASSIVE`` checkpoint,
which copies what it can without waiting for, or blocking, readers and writers (and
releases the GIL while it does). Commits are unaffected: they are durable in the log
either way.

Under steady writes a checkpoint that runs beside them never finds the log fully
copied when it ends, so SQLite never rewinds the log on its own. The ledger's own
connection therefore keeps an automatic checkpoint at :data:`SAFETY_NET_PAGES`: at
that size the writer checkpoints inline once, finds nearly everything already copied,
and the next write starts the log afresh. In the gateway benchmark (125 requests a
second) that is one short inline checkpoint every ten seconds or so instead of one
with a full copy every second, and the log file stays near 16 MB.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

__all__ = ["SAFETY_NET_PAGES", "Checkpointer"]

log = logging.getLogger(__name__)

#: The writer's own automatic checkpoint while a :class:`Checkpointer` runs (4 KiB
#: pages: about 16 MB of log): it rewinds the log, and bounds it if the thread stalls.
SAFETY_NET_PAGES = 4_000


class Checkpointer:
    """A daemon thread that checkpoints the WAL of the SQLite file at ``path``."""

    def __init__(self, path: Path, interval_s: float = 1.0) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be > 0")
        self.path = path
        self.interval_s = interval_s
        #: Checkpoint passes completed (each copies whatever the log holds that is new).
        self.passes = 0
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ledger-checkpoint", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def nudge(self) -> None:
        """Checkpoint now rather than at the next interval."""
        self._wake.set()

    def stop(self) -> None:
        """Stop the thread and wait for it; a checkpoint under way finishes first."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=True)
        except sqlite3.Error as exc:  # the ledger's own connection is open: unlikely
            log.warning("ledger checkpoints stay inline: cannot open %s: %s", self.path, exc)
            return
        try:
            while not self._stop.is_set():
                self._wake.wait(self.interval_s)
                self._wake.clear()
                self._checkpoint(conn)
        finally:
            conn.close()

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as exc:  # busy or damaged: the next turn (or the net) retries
            log.debug("ledger checkpoint skipped: %s", exc)
            return
        self.passes += 1
