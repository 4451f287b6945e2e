"""WAL checkpoints on a background thread (core/ledger/checkpoint.py)."""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from pathlib import Path

import pytest

from core.ledger import Ledger
from core.ledger.checkpoint import SAFETY_NET_PAGES, Checkpointer
from tests.unit.test_ledger import make_record


def _rows_in_main_file(path: Path) -> int:
    """Rows the database file itself holds, ignoring the write-ahead log: what has
    been checkpointed (``immutable=1`` reads the file as it is, no WAL, no locks)."""
    uri = f"{path.absolute().as_uri()}?immutable=1"
    with closing(sqlite3.connect(uri, uri=True)) as conn:
        try:
            return int(conn.execute("SELECT count(*) FROM requests").fetchone()[0])
        except sqlite3.OperationalError:  # not even the schema has been copied yet
            return 0


def _wait_for(predicate: object, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def _autocheckpoint(ledger: Ledger) -> int:
    with ledger._read() as conn:
        return int(conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0])


def test_writes_reach_the_database_file_only_through_the_background_thread(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ledger.db"
    with Ledger.open(path) as ledger:
        checkpointer = ledger.checkpoint_in_background(interval_s=3600)  # only when nudged
        assert _autocheckpoint(ledger) == SAFETY_NET_PAGES
        before = _rows_in_main_file(path)
        for i in range(50):
            ledger.record(make_record(i))
        # Fifty commits are far below the safety net: nothing is in the file yet.
        assert _rows_in_main_file(path) == before
        passes = checkpointer.passes
        checkpointer.nudge()
        assert _wait_for(lambda: checkpointer.passes > passes)
        assert _rows_in_main_file(path) == before + 50
        assert ledger.count() == 50


def test_without_it_the_writer_checkpoints_inline(tmp_path: Path) -> None:
    """The contrast that makes the test above meaningful: SQLite's default (1,000
    pages) checkpoints inside a commit once the log is big enough."""
    path = tmp_path / "ledger.db"
    with Ledger.open(path) as ledger:
        assert ledger.checkpointer is None
        assert _autocheckpoint(ledger) == 1000
        big = "x" * 20_000  # about five pages per record
        for i in range(300):
            ledger.record(make_record(i, response=big))
        assert _rows_in_main_file(path) > 0


def test_it_runs_on_its_own_at_the_interval_and_stops_on_close(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    ledger = Ledger.open(path)
    checkpointer = ledger.checkpoint_in_background(interval_s=0.05)
    assert ledger.checkpoint_in_background() is checkpointer  # idempotent
    ledger.record(make_record(1))
    assert _wait_for(lambda: _rows_in_main_file(path) == 1)
    ledger.close()
    assert ledger.checkpointer is None
    assert not checkpointer._thread.is_alive()
    with Ledger.open(path) as again:  # and the file opens cleanly afterwards
        assert again.count() == 1


def test_readers_and_writers_are_not_blocked_while_it_runs(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    with Ledger.open(path) as ledger:
        checkpointer = ledger.checkpoint_in_background(interval_s=0.001)
        for i in range(300):
            ledger.record(make_record(i))
            assert ledger.get(f"r{i:06d}") is not None
        assert checkpointer.passes > 0
        assert ledger.count() == 300


def test_interval_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="interval_s"):
        Checkpointer(tmp_path / "x.db", interval_s=0)
