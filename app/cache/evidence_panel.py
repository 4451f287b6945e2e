"""The selected cache entry's threshold and the evidence it was learned from.

Each time an entry's answer is served for another prompt the cache files a piece of
evidence (:mod:`core.cache.evidence`): the pair verifier's score, and whether serving
was right, wrong or not yet known. :class:`EntryEvidencePanel` reads one entry's with
:meth:`core.cache.store.SemanticCache.evidence` on the bridge's worker thread and lists
it newest first under the entry's threshold and its reason.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.cache.model import serves_at
from app.runtime.engine_bridge import EngineBridge
from app.widgets.formatting import fmt_time
from app.widgets.table_model import Column, RecordTableModel
from core.cache.entries import CacheEntry
from core.cache.evidence import EntryThreshold, Evidence

__all__ = ["EVIDENCE_COLUMNS", "EntryEvidencePanel", "EvidenceModel", "outcome_text"]

HINT = "Select one entry to see its threshold and the evidence behind it."
RULES_HINT = (
    'No per-entry thresholds: [cache] verifier = "rules" serves on similarity and the '
    "rule guard alone."
)
SOURCES = {
    "served": "served",
    "verifier": "yes/no verifier",
    "feedback": "feedback",
    "judge": "judge",
}


def outcome_text(ev: Evidence) -> str:
    """``right``, ``wrong`` or ``pending`` (served, no verdict yet)."""
    if ev.correct is None:
        return "pending"
    return "right" if ev.correct else "wrong"


def _short_time(ts: float) -> str:
    # The panel is narrow: month, day and minute here, the full time in the tooltip.
    return datetime.fromtimestamp(ts).strftime("%m-%d %H:%M")


EVIDENCE_COLUMNS: tuple[Column, ...] = (
    ("Time", lambda e: _short_time(e.at)),
    ("Score", lambda e: f"{e.score:.3f}"),
    ("Outcome", outcome_text),
    ("Source", lambda e: SOURCES.get(e.source, e.source)),
)


class EvidenceModel(RecordTableModel):
    """One entry's evidence rows, newest first."""

    columns = EVIDENCE_COLUMNS
    right_aligned = frozenset({"Score"})

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.rows: list[Evidence] = []

    def row_total(self) -> int:
        return len(self.rows)

    def cell(self, row: int, column: int, role: int) -> Any:
        ev = self.rows[row]
        if role == Qt.ItemDataRole.ToolTipRole:
            request = f"\nrequest {ev.request_id}" if ev.request_id else ""
            return f"{fmt_time(ev.at)}{request}"
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        return EVIDENCE_COLUMNS[column][1](ev)

    def show(self, rows: list[Evidence]) -> None:
        self.beginResetModel()
        self.rows = sorted(rows, key=lambda e: -e.at)
        self.endResetModel()


class EntryEvidencePanel(QWidget):
    """The threshold of the entry :meth:`show_entry` was given, its reason, and its
    evidence (loaded off the UI thread). ``loaded`` fires when the rows are shown."""

    loaded = Signal()

    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.entry: CacheEntry | None = None
        self._generation = 0
        self.title = QLabel("<b>Threshold and evidence</b>")
        self.summary = QLabel(HINT)
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.model = EvidenceModel(self)
        self.table = QTableView()
        self.table.setAccessibleName("Evidence behind the selected entry's threshold")
        self.table.setTabKeyNavigation(False)
        self.table.setModel(self.model)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(False)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.summary)
        layout.addWidget(self.table, 1)

    def show_entry(self, entry: CacheEntry | None, limit: EntryThreshold | None) -> None:
        """Show ``entry``'s threshold now and read its evidence on the worker; ``None``
        clears the panel. ``limit`` is None when the cache has no pair verifier."""
        self._generation += 1
        generation = self._generation
        self.entry = entry
        if entry is None:
            self.summary.setText(HINT)
            self.model.show([])
            return
        self.summary.setText(_summary(limit, None))
        self.bridge.call_slow(
            lambda: self.bridge.engine.cache().evidence(entry.id),
            on_result=lambda rows: self._show(generation, limit, rows),
            on_error=self._failed,
        )

    def _show(self, generation: int, limit: EntryThreshold | None, rows: list[Evidence]) -> None:
        if generation != self._generation:
            return  # another entry was selected meanwhile
        self.model.show(rows)
        self.summary.setText(_summary(limit, rows))
        self.table.resizeColumnsToContents()
        self.loaded.emit()

    def _failed(self, error: BaseException) -> None:
        self.bridge.error_occurred.emit(error)


def _summary(limit: EntryThreshold | None, rows: list[Evidence] | None) -> str:
    if limit is None:
        lines = [RULES_HINT]
    else:
        serving = serves_at(limit)
        lines = [f"{serving[:1].upper()}{serving[1:]}: {limit.reason}."]
        if limit.threshold != limit.shared:
            lines.append(f"Shared threshold {limit.shared:.3f}.")
    if rows is not None:
        waiting = sum(e.correct is None for e in rows)
        right = sum(e.correct is True for e in rows)
        if rows:
            lines.append(
                f"{right} right, {len(rows) - right - waiting} wrong, {waiting} pending (served, no verdict yet)."
            )
        else:
            lines.append("No evidence yet.")
    return " ".join(lines)
