"""The cache browser's table model: cached answers, paged in as the view scrolls.

``reload()`` reads the entry count and the first page; Qt's ``canFetchMore`` /
``fetchMore`` ask for the next page when the view reaches the end, and the rows are
appended when it arrives (all reads run on the bridge's worker thread, since opening
the cache loads the embedding model). ``show_search()`` swaps in similarity results.

With the learned pair verifier on, every page comes with its entries' thresholds
(:meth:`core.cache.store.SemanticCache.entry_thresholds`), read on the same worker:
the *Threshold* column shows each entry's, and whether it is the shared one or was
raised or lowered by evidence; *Evidence* counts the serves seen right and wrong.
With ``verifier = "rules"`` there are no per-entry thresholds and both columns go.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from PySide6.QtCore import QModelIndex, Qt, Signal

from app.runtime.engine_bridge import EngineBridge
from app.widgets.formatting import fmt_time, fmt_usd, fmt_usd_exact
from app.widgets.table_model import Index, RecordTableModel
from core.cache.entries import CacheEntry, SearchResult
from core.cache.evidence import EntryThreshold
from core.engine import Engine

__all__ = [
    "COLUMNS",
    "PAGE_SIZE",
    "THRESHOLD_COLUMNS",
    "CacheEntriesModel",
    "EntryPage",
    "evidence_text",
    "saved_by",
    "serves_at",
    "threshold_text",
]

PAGE_SIZE = 200


def saved_by(entry: CacheEntry) -> Decimal | None:
    """What the entry's hits saved, net of what the cache spent on them (None: the
    original call's cost is unknown)."""
    return None if entry.cost_usd is None else entry.saved_usd


COLUMNS: tuple[tuple[str, Callable[[CacheEntry], str]], ...] = (
    ("Prompt", lambda e: " ".join(e.prompt.split())[:160]),
    ("Tier", lambda e: e.tier or "–"),
    ("Model", lambda e: e.model or "–"),
    ("Hits", lambda e: f"{e.hits:,}"),
    ("Saved", lambda e: fmt_usd(saved_by(e))),
    ("Created", lambda e: fmt_time(e.created_at)),
)


def threshold_kind(t: EntryThreshold) -> str:
    """``shared``, ``raised`` or ``lowered``: where the entry's evidence moved it."""
    if t.threshold > t.shared:
        return "raised"
    return "lowered" if t.threshold < t.shared else "shared"


def threshold_text(t: EntryThreshold) -> str:
    """``0.965 shared`` / ``0.994 raised`` / ``0.930 lowered``; ``never (raised)`` once
    a wrong serve lifted it past any score the verifier gives (scores are at most 1)."""
    if t.threshold > 1.0:
        return f"never ({threshold_kind(t)})"
    return f"{t.threshold:.3f} {threshold_kind(t)}"


def evidence_text(t: EntryThreshold) -> str:
    """``2 right · 1 wrong``; a dash when no serve has been settled either way."""
    if not t.right and not t.wrong:
        return "–"
    return f"{t.right:,} right · {t.wrong:,} wrong"


_COLUMN_TEXT = dict(COLUMNS)

#: Shown after "Saved" when the pair verifier is on: (header, threshold -> text).
THRESHOLD_COLUMNS: tuple[tuple[str, Callable[[EntryThreshold], str]], ...] = (
    ("Threshold", threshold_text),
    ("Evidence", evidence_text),
)
_AFTER = [name for name, _ in COLUMNS].index("Saved") + 1


@dataclass(frozen=True, slots=True)
class EntryPage:
    """Entries as read on the worker, with their thresholds (None: verifier off)."""

    entries: list[CacheEntry]
    thresholds: dict[int, EntryThreshold] | None
    total: int = 0
    similarities: list[float] | None = None


def _thresholds(engine: Engine, entries: list[CacheEntry]) -> dict[int, EntryThreshold] | None:
    cache = engine.cache()
    if cache.verifier is None:
        return None
    return cache.entry_thresholds([e.id for e in entries])


def _first_page(engine: Engine, limit: int) -> EntryPage:
    cache = engine.cache()
    total, entries = cache.count(), cache.entries(0, limit)
    return EntryPage(entries, _thresholds(engine, entries), total)


def _next_page(engine: Engine, offset: int, limit: int) -> EntryPage:
    entries = engine.cache().entries(offset, limit)
    return EntryPage(entries, _thresholds(engine, entries))


def _search(engine: Engine, text: str, k: int) -> EntryPage:
    found: list[SearchResult] = engine.cache().search(text, k)
    entries = [r.entry for r in found]
    similarities = [r.similarity for r in found]
    return EntryPage(entries, _thresholds(engine, entries), len(entries), similarities)


class CacheEntriesModel(RecordTableModel):
    """Cache entries newest first, or search results with their similarity.

    ``loaded`` fires after a reload or search has been shown.
    """

    loaded = Signal()
    columns = COLUMNS
    right_aligned = frozenset({"Hits", "Saved", "Threshold", "Evidence", "Similarity"})

    def __init__(self, bridge: EngineBridge, page_size: int = PAGE_SIZE) -> None:
        super().__init__(bridge)
        self.bridge = bridge
        self.page_size = page_size
        self.entries: list[CacheEntry] = []
        self.similarities: list[float] | None = None
        #: Each shown entry's threshold; None when the cache has no pair verifier.
        self.thresholds: dict[int, EntryThreshold] | None = None
        self._names = self._column_names()
        self.total = 0
        self._generation = 0
        self._fetching = False

    # -- the table (see RecordTableModel) -------------------------------------------

    def row_total(self) -> int:
        return len(self.entries)

    def column_total(self) -> int:
        return len(self._names)

    def column_name(self, column: int) -> str:
        return self._names[column]

    def column_of(self, name: str) -> int:
        """The index of the column called ``name``; -1 when it is not shown."""
        return self._names.index(name) if name in self._names else -1

    def _column_names(self) -> tuple[str, ...]:
        names = [name for name, _ in COLUMNS]
        if self.thresholds is not None:
            names[_AFTER:_AFTER] = [name for name, _ in THRESHOLD_COLUMNS]
        if self.similarities is not None:
            names.append("Similarity")
        return tuple(names)

    def threshold_of(self, row: int) -> EntryThreshold | None:
        """The threshold of the entry in ``row`` (None with the verifier off)."""
        if self.thresholds is None:
            return None
        return self.thresholds.get(self.entries[row].id)

    def cell(self, row: int, column: int, role: int) -> Any:
        entry, name = self.entries[row], self.column_name(column)
        if role == Qt.ItemDataRole.ToolTipRole:
            if name == "Prompt":
                return f"{entry.prompt[:2000]}\n\n→ {entry.response[:2000]}"
            limit = self.threshold_of(row)
            if limit is not None and name in ("Threshold", "Evidence"):
                return _threshold_tip(limit)
            if name == "Saved" and entry.cost_usd is not None:
                return f"{fmt_usd_exact(entry.saved_usd)} exactly, net of what serving cost"
            return None
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if name == "Similarity":
            assert self.similarities is not None
            return f"{self.similarities[row]:.3f}"
        for header, text in THRESHOLD_COLUMNS:
            if name == header:
                limit = self.threshold_of(row)
                return "–" if limit is None else text(limit)
        return _COLUMN_TEXT[name](entry)

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
            _next_page,
            self.bridge.engine,
            offset,
            self.page_size,
            on_result=lambda page: self._more(generation, offset, page),
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
            on_result=lambda page: self._reset(generation, page),
            on_error=self._failed,
        )

    def search(self, text: str, k: int = 50) -> None:
        """Show the ``k`` cached prompts nearest in meaning to ``text``."""
        self._generation += 1
        generation = self._generation
        self.bridge.call_slow(
            _search,
            self.bridge.engine,
            text,
            k,
            on_result=lambda page: self._reset(generation, page),
            on_error=self._failed,
        )

    def _reset(self, generation: int, page: EntryPage) -> None:
        if generation != self._generation:
            return
        self.beginResetModel()
        self._generation += 1  # pages asked for before this reset are stale
        self._fetching = False
        self.total, self.entries = page.total, list(page.entries)
        self.similarities, self.thresholds = page.similarities, page.thresholds
        self._names = self._column_names()
        self.endResetModel()
        self.loaded.emit()

    def _more(self, generation: int, offset: int, page: EntryPage) -> None:
        if generation != self._generation:
            return
        rows = page.entries
        # Still "fetching" while rows go in, so a view asking for more meanwhile waits.
        if offset == len(self.entries) and rows:
            first = len(self.entries)
            self.beginInsertRows(QModelIndex(), first, first + len(rows) - 1)
            if self.thresholds is not None and page.thresholds is not None:
                self.thresholds.update(page.thresholds)
            self.entries.extend(rows)
            self.endInsertRows()
        elif not rows:
            self.total = len(self.entries)
        self._fetching = False

    def _failed(self, error: BaseException) -> None:
        self._fetching = False
        self.bridge.error_occurred.emit(error)


def _threshold_tip(t: EntryThreshold) -> str:
    shared = "" if t.reason == "shared" else f"\nshared threshold {t.shared:.3f}"
    return f"{serves_at(t)} ({t.reason}){shared}"


def serves_at(t: EntryThreshold) -> str:
    """``serves at verifier score ≥ 0.965``, or that it no longer serves other prompts."""
    if t.threshold > 1.0:
        return f"no longer served for other prompts (threshold {t.threshold:.3f})"
    return f"serves at verifier score ≥ {t.threshold:.3f}"
