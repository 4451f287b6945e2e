"""A lazily paged table model over the ledger: smooth at a million rows.

Only the row count is known up front (the ledger answers it from its daily rollup);
rows arrive in pages of :data:`PAGE_SIZE` fetched off-thread when the view first asks
for one, and the last :data:`MAX_PAGES` pages are kept in an LRU cache. Until a page
arrives its cells read "…"; ``dataChanged`` repaints them when it does.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QModelIndex, Qt

from app.runtime.engine_bridge import EngineBridge
from app.widgets.formatting import fmt_ms, fmt_time, fmt_tokens, fmt_usd, fmt_usd_exact
from app.widgets.table_model import RecordTableModel
from core.ledger import LedgerFilter
from core.types import RequestRecord

__all__ = ["COLUMNS", "MAX_PAGES", "PAGE_SIZE", "HistoryTableModel"]

PAGE_SIZE = 200
MAX_PAGES = 64
PENDING = "…"


def _prompt(r: RequestRecord) -> str:
    return " ".join(r.prompt.split())[:120]


COLUMNS: tuple[tuple[str, Callable[[RequestRecord], str]], ...] = (
    ("Time", lambda r: fmt_time(r.finished_at)),
    ("Status", lambda r: r.status),
    ("Tier", lambda r: r.tier or "–"),
    ("Model", lambda r: r.model or "–"),
    ("Cache", lambda r: r.cache_outcome),
    ("In", lambda r: fmt_tokens(r.usage.input_tokens)),
    ("Out", lambda r: fmt_tokens(r.usage.output_tokens)),
    ("Cost", lambda r: fmt_usd(r.cost_usd)),
    ("Saved", lambda r: fmt_usd(r.saved_usd)),
    ("Latency", lambda r: fmt_ms(r.latency_ms)),
    ("Member", lambda r: r.member or "–"),
    ("App", lambda r: r.app or "–"),
    ("Prompt", _prompt),
)


def _tooltip(rec: RequestRecord, column: str) -> str | None:
    """The whole prompt, the exact amount (every digit the ledger holds), or the error."""
    if column == "Prompt":
        return rec.prompt[:2000]
    if column == "Cost":
        return f"{fmt_usd_exact(rec.cost_usd)} exactly" if rec.cost_known else "No known price"
    if column == "Saved":
        return f"{fmt_usd_exact(rec.saved_usd)} exactly"
    return rec.error or None


class HistoryTableModel(RecordTableModel):
    """Rows of ``engine.history`` (newest first) matching :attr:`filters`."""

    columns = COLUMNS
    right_aligned = frozenset({"In", "Out", "Cost", "Saved", "Latency"})

    def __init__(self, bridge: EngineBridge, page_size: int = PAGE_SIZE) -> None:
        super().__init__(bridge)
        self.bridge = bridge
        self.page_size = page_size
        self.filters = LedgerFilter()
        self.pages_fetched = 0
        self._count = 0
        self._generation = 0
        self._pages: OrderedDict[int, list[RequestRecord]] = OrderedDict()
        self._pending: set[int] = set()
        self._counting = False
        self._recount = False
        self._needs_reset = False

    # -- the table (see RecordTableModel) -------------------------------------------

    def row_total(self) -> int:
        return self._count

    def cell(self, row: int, column: int, role: int) -> Any:
        if role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return None
        rec = self.record_at(row)
        if rec is None:
            return PENDING if role == Qt.ItemDataRole.DisplayRole else None
        name, render = COLUMNS[column]
        if role == Qt.ItemDataRole.ToolTipRole:
            return _tooltip(rec, name)
        return render(rec)

    # -- rows ------------------------------------------------------------------------

    def record_at(self, row: int) -> RequestRecord | None:
        """The record at ``row`` if its page is here; otherwise fetch it and say None."""
        page, offset = divmod(row, self.page_size)
        rows = self._pages.get(page)
        if rows is None:
            self._fetch(page)
            return None
        self._pages.move_to_end(page)
        return rows[offset] if offset < len(rows) else None

    def _fetch(self, page: int) -> None:
        if page in self._pending:
            return
        self._pending.add(page)
        generation = self._generation
        self.bridge.call(
            self.bridge.engine.history,
            page * self.page_size,
            self.page_size,
            self.filters,
            on_result=lambda rows: self._page_arrived(generation, page, rows),
            on_error=lambda err: self._page_failed(generation, page, err),
        )

    def _page_arrived(self, generation: int, page: int, rows: list[RequestRecord]) -> None:
        if generation != self._generation:
            return
        self._pending.discard(page)
        self.pages_fetched += 1
        self._pages[page] = rows
        while len(self._pages) > MAX_PAGES:
            self._pages.popitem(last=False)
        first = page * self.page_size
        last = min(first + len(rows), self._count) - 1
        if last >= first:
            self.dataChanged.emit(self.index(first, 0), self.index(last, len(COLUMNS) - 1))

    def _page_failed(self, generation: int, page: int, error: BaseException) -> None:
        if generation == self._generation:
            self._pending.discard(page)
            self.bridge.error_occurred.emit(error)

    # -- filters and live updates ----------------------------------------------------

    def set_filters(self, filters: LedgerFilter) -> None:
        """Show rows matching ``filters``; the table resets when the count is known."""
        self.filters = filters
        self._generation += 1
        self._pending.clear()
        self._pages.clear()
        self._needs_reset = True
        self.refresh()

    def refresh(self) -> None:
        """Re-count (after ledger changes); new rows at the top are inserted in place."""
        if self._counting:
            self._recount = True
            return
        self._counting = True
        generation = self._generation
        self.bridge.call(
            self.bridge.engine.history_count,
            self.filters,
            on_result=lambda n: self._counted(generation, n),
            on_error=self._count_failed,
        )

    def _count_failed(self, error: BaseException) -> None:
        self._counting = False
        self.bridge.error_occurred.emit(error)

    def _counted(self, generation: int, count: int) -> None:
        self._counting = False
        if generation == self._generation:
            if self._needs_reset or count < self._count:
                self._needs_reset = False
                self._replace_all(count)
            elif count > self._count:
                # Newest-first: new rows arrive at the top and every offset shifts.
                self._generation += 1
                self._pages.clear()
                self._pending.clear()
                self.beginInsertRows(QModelIndex(), 0, count - self._count - 1)
                self._count = count
                self.endInsertRows()
        if self._recount:
            self._recount = False
            self.refresh()

    def _replace_all(self, count: int) -> None:
        self.beginResetModel()
        self._generation += 1
        self._pages.clear()
        self._pending.clear()
        self._count = count
        self.endResetModel()
