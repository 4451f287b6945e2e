"""The cache browser: cached answers, search by meaning, evict, clear, and the tuner.

Selecting one entry shows its threshold and the evidence behind it in the panel
beside the table (:class:`~app.cache.evidence_panel.EntryEvidencePanel`). While the
cache holds nothing, an empty state stands in for the entries (the tuner stays).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.cache.evidence_panel import EntryEvidencePanel
from app.cache.model import CacheEntriesModel
from app.cache.tuner import ThresholdTuner
from app.runtime.engine_bridge import EngineBridge
from app.widgets.empty_state import cache_empty_state
from app.widgets.errors import show_message
from core.engine import Engine

if TYPE_CHECKING:
    from app.runtime.app_engine import EngineOpener

__all__ = ["CacheView"]


class CacheView(QWidget):
    """Entries (paged) with their thresholds and evidence, similarity search, evict
    selected, clear, threshold tuner.

    The list refreshes when the ledger changes (new answers get cached) while the
    view is shown; a hidden view refreshes when it is next shown. ``config_path`` and
    ``open_engine`` let the tuner apply a new error bound (as Settings saves);
    ``engine_reopened(engine)`` fires after it did, and :meth:`on_engine_reopened`
    follows an engine re-opened anywhere. ``action_requested(action)`` carries the
    empty state's buttons to the window.
    """

    engine_reopened = Signal(object)
    status_message = Signal(str)
    action_requested = Signal(str)

    def __init__(
        self,
        bridge: EngineBridge,
        config_path: Path | None = None,
        open_engine: EngineOpener | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.model = CacheEntriesModel(bridge)
        self._stale = True
        self.search_field = QLineEdit()
        self.search_field.setPlaceholderText("Search cached prompts by meaning…")
        self.search_field.setAccessibleName("Search cached prompts by meaning")
        self.search_field.returnPressed.connect(self.search)
        self.search_button = QPushButton("Search")
        self.search_button.clicked.connect(self.search)
        self.all_button = QPushButton("Show all")
        self.all_button.clicked.connect(self.show_all)
        self.count_label = QLabel("Loading…")
        top = QHBoxLayout()
        top.addWidget(self.search_field, 1)
        top.addWidget(self.search_button)
        top.addWidget(self.all_button)
        top.addWidget(self.count_label)

        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(False)
        self.table.setAccessibleName("Cached answers")
        self.table.setTabKeyNavigation(False)  # Tab moves on; the arrow keys move rows
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(False)
        header.setDefaultSectionSize(110)
        self.evict_button = QPushButton("Evict selected")
        self.evict_button.setToolTip("Delete the selected answers from the cache")
        self.evict_button.clicked.connect(self.evict_selected)
        self.clear_button = QPushButton("Clear cache…")
        self.clear_button.clicked.connect(self.clear)
        actions = QHBoxLayout()
        actions.addWidget(self.evict_button)
        actions.addWidget(self.clear_button)
        actions.addStretch(1)
        self.detail = EntryEvidencePanel(bridge)
        self.detail.setMinimumWidth(260)
        beside = QSplitter(Qt.Orientation.Horizontal)
        beside.addWidget(self.table)
        beside.addWidget(self.detail)
        beside.setStretchFactor(0, 1)
        beside.setCollapsible(0, False)
        beside.setSizes([780, 320])
        upper = QWidget()
        upper_layout = QVBoxLayout(upper)
        upper_layout.setContentsMargins(0, 0, 0, 0)
        upper_layout.addLayout(top)
        upper_layout.addWidget(beside, 1)
        upper_layout.addLayout(actions)
        self.empty_state = cache_empty_state()
        self.empty_state.triggered.connect(self.action_requested)
        self.entries_pages = QStackedWidget()
        self.entries_pages.addWidget(upper)
        self.entries_pages.addWidget(self.empty_state)
        self.entries_page = upper

        self.tuner = ThresholdTuner(bridge, config_path, open_engine)
        self.tuner.engine_reopened.connect(self._applied)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.entries_pages)
        splitter.addWidget(self.tuner)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

        self.model.loaded.connect(self._loaded)
        self.model.rowsInserted.connect(lambda *_: self._show_count())
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._selection())
        self._selection()

    # -- loading -------------------------------------------------------------------

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._stale:
            self.refresh()

    def refresh(self) -> None:
        self._stale = False
        if self.model.similarities is None:
            self.model.reload()

    def on_ledger_changed(self) -> None:
        if self.isVisible():
            self.refresh()
        else:
            self._stale = True

    def on_engine_reopened(self, engine: Engine) -> None:
        """Settings were applied (here or elsewhere): re-read entries and tuner."""
        self._after_change()
        self.tuner.on_engine_reopened(engine)

    def _applied(self, engine: Engine) -> None:
        self.on_engine_reopened(engine)
        self.status_message.emit("Cache error bound applied")
        self.engine_reopened.emit(engine)

    def _loaded(self) -> None:
        self.table.resizeColumnsToContents()
        self.table.setColumnWidth(0, min(self.table.columnWidth(0), 300))
        self._show_count()
        self._selection()
        empty = self.model.similarities is None and self.model.total == 0
        self.entries_pages.setCurrentWidget(self.empty_state if empty else self.entries_page)

    def _show_count(self) -> None:
        m = self.model
        if m.similarities is not None:
            self.count_label.setText(f"{len(m.entries)} nearest")
        else:
            self.count_label.setText(f"{len(m.entries):,} of {m.total:,} entries")

    def _selection(self) -> None:
        rows = self.selected_rows()
        self.evict_button.setEnabled(bool(rows))
        if len(rows) == 1:
            self.detail.show_entry(self.model.entry_at(rows[0]), self.model.threshold_of(rows[0]))
        elif self.detail.entry is not None:
            self.detail.show_entry(None, None)

    # -- actions -------------------------------------------------------------------

    def search(self) -> None:
        text = self.search_field.text().strip()
        if text:
            self.count_label.setText("Searching…")
            self.model.search(text)
        else:
            self.show_all()

    def show_all(self) -> None:
        self.search_field.clear()
        self.model.similarities = None
        self.model.reload()

    def selected_rows(self) -> list[int]:
        return sorted({i.row() for i in self.table.selectionModel().selectedRows()})

    def selected_ids(self) -> list[int]:
        return [self.model.entry_at(r).id for r in self.selected_rows()]

    def evict_selected(self) -> None:
        ids = self.selected_ids()
        if ids:
            self.bridge.call_slow(
                _evict, self.bridge.engine, ids, on_result=self._evicted, on_error=self._failed
            )

    def _evicted(self, count: int) -> None:
        show_message(self, f"Evicted {count} cached answer{'s' * (count != 1)}.")
        self._after_change()

    def confirm_clear(self) -> bool:
        """Ask before deleting everything (tests replace this)."""
        answer = QMessageBox.question(
            self,
            "Clear the cache",
            "Delete every cached answer? Requests will be paid for again until the cache refills.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        return answer == QMessageBox.StandardButton.Yes

    def clear(self) -> None:
        if self.confirm_clear():
            self.bridge.call_slow(
                lambda: self.bridge.engine.cache().clear(),
                on_result=self._cleared,
                on_error=self._failed,
            )

    def _cleared(self, count: int) -> None:
        show_message(self, f"Cleared the cache ({count} answers).")
        self._after_change()

    def _after_change(self) -> None:
        if self.model.similarities is not None and self.search_field.text().strip():
            self.model.search(self.search_field.text().strip())
        else:
            self.model.reload()

    def _failed(self, error: BaseException) -> None:
        self.bridge.error_occurred.emit(error)


def _evict(engine: Engine, ids: list[int]) -> int:
    cache = engine.cache()
    return sum(cache.evict(i) for i in ids)
