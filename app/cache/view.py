"""The cache browser: cached answers, search by meaning, evict, clear, and the tuner."""

from __future__ import annotations

from PySide6.QtCore import Qt
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
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.cache.model import CacheEntriesModel
from app.cache.tuner import ThresholdTuner
from app.runtime.engine_bridge import EngineBridge
from app.widgets.errors import show_message
from core.engine import Engine

__all__ = ["CacheView"]


class CacheView(QWidget):
    """Entries (paged), similarity search, evict selected, clear, threshold tuner.

    The list refreshes when the ledger changes (new answers get cached) while the
    view is shown; a hidden view refreshes when it is next shown.
    """

    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.model = CacheEntriesModel(bridge)
        self._stale = True
        self.search_field = QLineEdit()
        self.search_field.setPlaceholderText("Search cached prompts by meaning…")
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
        upper = QWidget()
        upper_layout = QVBoxLayout(upper)
        upper_layout.setContentsMargins(0, 0, 0, 0)
        upper_layout.addLayout(top)
        upper_layout.addWidget(self.table, 1)
        upper_layout.addLayout(actions)

        self.tuner = ThresholdTuner(bridge)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(upper)
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

    def _loaded(self) -> None:
        self.table.resizeColumnsToContents()
        self.table.setColumnWidth(0, min(self.table.columnWidth(0), 460))
        self._show_count()
        self._selection()

    def _show_count(self) -> None:
        m = self.model
        if m.similarities is not None:
            self.count_label.setText(f"{len(m.entries)} nearest")
        else:
            self.count_label.setText(f"{len(m.entries):,} of {m.total:,} entries")

    def _selection(self) -> None:
        self.evict_button.setEnabled(bool(self.selected_ids()))

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

    def selected_ids(self) -> list[int]:
        rows = {i.row() for i in self.table.selectionModel().selectedRows()}
        return [self.model.entry_at(r).id for r in sorted(rows)]

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
