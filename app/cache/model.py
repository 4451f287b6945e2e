"""The cache browser's table model: cached answers, paged in as the view scrolls.

``reload()`` reads the entry count and the first page; Qt's ``canFetchMore`` /
``fetchMore`` ask for the next page when the view reaches the end, and the rows are
appended when it arrives (all reads run on the bridge's worker thread, since opening
the cache loads the embedding model). ``show_search()`` swaps in similarity results.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from PySide6.QtCore import QModelIndex, Qt, Signal

from app.runtime.engine_bridge import EngineBridge
from app.widgets.formatting import fmt_time, fmt_usd
from app.widgets.table_model import Index, RecordTableModel
from core.cache.entries import CacheEntry, SearchResult
from core.engine import Engine

__all__ = ["COLUMNS", "PAGE_SIZE", "CacheEntriesModel", "saved_by"]

PAGE_SIZE = 200


def saved_by(entry: CacheEntry) -> Decimal | None:
    """What the entry's hits saved: each hit is a call not paid for."""
    return None if entry.cost_usd is None else entry.cost_usd * entry.hits


COLUMNS: tuple[tuple[str, Callable[[CacheEntry], str]], ...] = (
    ("Prompt", lambda e: " ".join(e.prompt.split())[:160]),
    ("Tier", lambda e: e.tier or "–"),
    ("Model", lambda e: e.model or "–"),
    ("Hits", lambda e: f"{e.hits:,}"),
    ("Saved", lambda e: fmt_usd(saved_by(e))),
    ("Created", lambda e: fmt_time(e.created_at)),
)


def _first_page(engine: Engine, limit: int) -> tuple[int, list[CacheEntry]]:
    cache = engine.cache()
    return cache.count(), cache.entries(0, limit)


class CacheEntriesModel(RecordTableModel):
    """Cache entries newest first, or search results with their similarity.

    ``loaded`` fires after a reload or search has been shown.
    """

    loaded = Signal()
    columns = COLUMNS
    right_aligned = frozenset({"Hits", "Saved", "Similarity"})

    def __init__(self, bridge: EngineBridge, page_size: int = PAGE_SIZE) -> None:
        super().__init__(bridge)
        self.bridge = bridge
        self.page_size = page_size
        self.entries: list[CacheEntry] = []
        self.similarities: list[float] | None = None
        self.total = 0
        self._generation = 0
        self._fetching = False

    # -- the table (see RecordTableModel) -------------------------------------------

    def row_total(self) -> int:
        return len(self.entries)

    def column_total(self) -> int:
        return len(COLUMNS) + (1 if self.similarities is not None else 0)

    def column_name(self, column: int) -> str:
        return "Similarity" if column == len(COLUMNS) else COLUMNS[column][0]

    def cell(self, row: int, column: int, role: int) -> Any:
        entry, name = self.entries[row], self.column_name(column)
        if role == Qt.ItemDataRole.ToolTipRole and name == "Prompt":
            return f"{entry.prompt[:2000]}\n\n→ {entry.response[:2000]}"
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if name == "Similarity":
            assert self.similarities is not None
            return f"{self.similarities[row]:.3f}"
        return COLUMNS[column][1](entry)

    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008
        if parent.isValid() or self.similarities is not None:
            return False
        return not self._fetching and len(self.entries) < self.total

    def fetchMore(self, parent: Index = QModelIndex()) -> None:  # noqa: B008
        if not self.canFetchMore(parent):
            return
        self._fetching = True
        generation, offset = self._generation, len(self.entries)
        self.bridge.call_slow(
            lambda: self.bridge.engine.cache().entries(offset, self.page_size),
            on_result=lambda rows: self._more(generation, offset, rows),
            on_error=self._failed,
        )

    # -- loading -------------------------------------------------------------------

    def entry_at(self, row: int) -> CacheEntry:
        return self.entries[row]

    def reload(self) -> None:
        """Re-read the count and the first page (after a change, or to leave search)."""
        self._generation += 1
        generation = self._generation
        self.bridge.call_slow(
            _first_page,
            self.bridge.engine,
            self.page_size,
            on_result=lambda res: self._reset(generation, res[0], res[1], None),
            on_error=self._failed,
        )

    def search(self, text: str, k: int = 50) -> None:
        """Show the ``k`` cached prompts nearest in meaning to ``text``."""
        self._generation += 1
        generation = self._generation
        self.bridge.call_slow(
            lambda: self.bridge.engine.cache().search(text, k),
            on_result=lambda found: self._show_search(generation, found),
            on_error=self._failed,
        )

    def _show_search(self, generation: int, found: list[SearchResult]) -> None:
        entries = [r.entry for r in found]
        self._reset(generation, len(entries), entries, [r.similarity for r in found])

    def _reset(
        self,
        generation: int,
        total: int,
        entries: list[CacheEntry],
        similarities: list[float] | None,
    ) -> None:
        if generation != self._generation:
            return
        self.beginResetModel()
        self._generation += 1  # pages asked for before this reset are stale
        self._fetching = False
        self.total, self.entries, self.similarities = total, entries, similarities
        self.endResetModel()
        self.loaded.emit()

    def _more(self, generation: int, offset: int, rows: list[CacheEntry]) -> None:
        if generation != self._generation:
            return
        # Still "fetching" while rows go in, so a view asking for more meanwhile waits.
        if offset == len(self.entries) and rows:
            first = len(self.entries)
            self.beginInsertRows(QModelIndex(), first, first + len(rows) - 1)
            self.entries.extend(rows)
            self.endInsertRows()
        elif not rows:
            self.total = len(self.entries)
        self._fetching = False

    def _failed(self, error: BaseException) -> None:
        self._fetching = False
        self.bridge.error_occurred.emit(error)
