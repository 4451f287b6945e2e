"""The request history: every ledger row, filterable, with its full JSON and export.

Until the ledger holds a request, an empty state says how to make one; its buttons
come out as ``action_requested(action)`` (:mod:`app.widgets.empty_state`).

Beside the JSON, a request that carried tools, JSON output, images or tool results (or
whose reply called tools), or went to a provider's prompt cache, shows them in words
(:func:`app.history.detail.request_content_text`).
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from PySide6.QtCore import QDate, QItemSelection, Qt, QTimer, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.history.detail import detail_json, request_content_text
from app.history.model import COLUMNS, HistoryTableModel
from app.runtime.engine_bridge import EngineBridge
from app.widgets.empty_state import UntilFirstRequest, no_requests_state
from app.widgets.errors import show_error, show_message
from core.ledger import GroupTotal, LedgerFilter

__all__ = ["ANY", "HistoryView"]

ANY = "any"
CACHE_OUTCOMES = ("miss", "exact", "semantic", "fallback")
STATUSES = ("ok", "error", "refused", "rejected", "cancelled")


class HistoryView(QWidget):
    """Filters on top, the paged table, and the selected request's JSON beside it.

    ``action_requested(action)`` carries the empty state's buttons to the window.
    """

    action_requested = Signal(str)

    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.model = HistoryTableModel(bridge)
        self._text_timer = QTimer(self)
        self._text_timer.setSingleShot(True)
        self._text_timer.setInterval(300)
        self._text_timer.timeout.connect(self.apply_filters)
        self._build()
        self.model.modelReset.connect(self._count_changed)
        self.model.rowsInserted.connect(self._count_changed)
        self.model.dataChanged.connect(self._maybe_show_selected)
        self.apply_filters()
        self.reload_models()
        self.pages.check()

    def _build(self) -> None:
        self.since_enabled = QCheckBox("Since")
        self.since = QDateEdit(QDate.currentDate().addDays(-30))
        self.since.setCalendarPopup(True)
        self.since.setDisplayFormat("yyyy-MM-dd")
        self.since.setEnabled(False)
        self.since_enabled.toggled.connect(self.since.setEnabled)
        self.tier = _choices([t.id for t in self.bridge.engine.config.routing.tiers])
        self.model_choice = _choices([])
        self.cache = _choices(list(CACHE_OUTCOMES))
        self.status = _choices(list(STATUSES))
        self.member_choice = _choices([])
        self.app_choice = _choices([])
        self.filter_labels: dict[str, QLabel] = {}
        self.text = QLineEdit()
        self.text.setPlaceholderText("Search prompt and response")
        self.text.setClearButtonEnabled(True)
        filters = QHBoxLayout()
        filters.addWidget(self.since_enabled)
        filters.addWidget(self.since)
        for label, widget in (
            ("Tier", self.tier),
            ("Model", self.model_choice),
            ("Cache", self.cache),
            ("Status", self.status),
            ("Member", self.member_choice),
            ("App", self.app_choice),
        ):
            self.filter_labels[label] = QLabel(label)
            filters.addWidget(self.filter_labels[label])
            filters.addWidget(widget)
            widget.currentTextChanged.connect(self.apply_filters)
        filters.addWidget(self.text, 1)
        for widget, name in (
            (self.since_enabled, "Filter since a date"),
            (self.since, "Since date"),
            (self.tier, "Tier filter"),
            (self.model_choice, "Model filter"),
            (self.cache, "Cache outcome filter"),
            (self.status, "Status filter"),
            (self.member_choice, "Team member filter"),
            (self.app_choice, "App (gateway key) filter"),
            (self.text, "Search prompt and response"),
        ):
            widget.setAccessibleName(name)
        self.since_enabled.toggled.connect(self.apply_filters)
        self.since.dateChanged.connect(self.apply_filters)
        self.text.textChanged.connect(lambda _text: self._text_timer.start())

        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.setTabKeyNavigation(False)  # Tab moves on to the detail; arrows move rows
        self.table.setWordWrap(False)
        vertical = self.table.verticalHeader()
        vertical.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vertical.setDefaultSectionSize(self.fontMetrics().height() + 8)
        vertical.hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        for col, width in enumerate((150, 75, 80, 110, 70, 65, 65, 95, 95, 80, 75, 85)):
            header.resizeSection(col, width)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        for title, box in (("Member", self.member_choice), ("App", self.app_choice)):
            # Shown once the ledger has team members or gateway keys to tell apart.
            self.table.setColumnHidden([name for name, _ in COLUMNS].index(title), True)
            self.filter_labels[title].hide()
            box.hide()

        self.detail = QPlainTextEdit()
        self.detail.setReadOnly(True)
        self.detail.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.detail.setPlaceholderText("Select a request to see its full record.")
        self.detail.setAccessibleName("Request record (JSON)")
        self.content = QPlainTextEdit()
        self.content.setReadOnly(True)
        self.content.setFont(self.detail.font())
        self.content.setAccessibleName(
            "Request tools, JSON output, images, tool calls and provider cache"
        )
        self.content.hide()
        details = QSplitter(Qt.Orientation.Horizontal)
        details.addWidget(self.content)
        details.addWidget(self.detail)
        details.setStretchFactor(0, 1)
        details.setStretchFactor(1, 1)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(details)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)

        self.table.setAccessibleName("Requests")
        self.count_label = QLabel()
        self.count_label.setAccessibleName("Request count")
        export_csv = QPushButton("Export CSV…")
        export_csv.setAccessibleName("Export CSV")
        export_csv.clicked.connect(lambda: self._ask_export("csv"))
        export_jsonl = QPushButton("Export JSONL…")
        export_jsonl.setAccessibleName("Export JSONL")
        export_jsonl.clicked.connect(lambda: self._ask_export("jsonl"))
        bottom = QHBoxLayout()
        bottom.addWidget(self.count_label, 1)
        bottom.addWidget(QLabel("Export writes every request since the date filter."))
        bottom.addWidget(export_csv)
        bottom.addWidget(export_jsonl)

        self.body = QWidget()
        layout = QVBoxLayout(self.body)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(filters)
        layout.addWidget(splitter, 1)
        layout.addLayout(bottom)
        self.empty_state = no_requests_state("history")
        self.empty_state.triggered.connect(self.action_requested)
        self.pages = UntilFirstRequest(self.bridge, self.body, self.empty_state)
        QVBoxLayout(self).addWidget(self.pages)

    # -- filters ---------------------------------------------------------------------

    def current_filters(self) -> LedgerFilter:
        def pick(box: QComboBox) -> str | None:
            return None if box.currentText() == ANY else box.currentText()

        return LedgerFilter(
            since=self.since_date(),
            tier=pick(self.tier),
            model=pick(self.model_choice),
            cache_outcome=pick(self.cache),
            status=pick(self.status),
            member=pick(self.member_choice),
            app=pick(self.app_choice),
            text=self.text.text().strip() or None,
        )

    def since_date(self) -> date | None:
        if not self.since_enabled.isChecked():
            return None
        return date.fromisoformat(self.since.date().toString("yyyy-MM-dd"))

    def apply_filters(self) -> None:
        self.detail.clear()
        self.content.clear()
        self.content.hide()
        self.model.set_filters(self.current_filters())

    def reload_models(self) -> None:
        """Offer every model, team member and app the ledger has seen (off-thread)."""
        self.bridge.call(
            self.bridge.engine.breakdown,
            "model",
            on_result=lambda groups: _offer(self.model_choice, groups),
        )
        for key, box in (("member", self.member_choice), ("app", self.app_choice)):
            self.bridge.call(
                self.bridge.engine.breakdown,
                key,
                on_result=lambda groups, key=key, box=box: self._offer_team(key, box, groups),
            )

    def _offer_team(self, key: str, box: QComboBox, groups: list[GroupTotal]) -> None:
        """Offer the members (apps) seen; show their column and filter only when there
        is something to tell apart (two members or more; any gateway key), so a ledger
        of one person's requests keeps the Prompt column in view."""
        _offer(box, groups)
        shown = box.count() > (2 if key == "member" else 1) or box.currentText() != ANY
        title = key.capitalize()
        self.table.setColumnHidden([name for name, _ in COLUMNS].index(title), not shown)
        self.filter_labels[title].setVisible(shown)
        box.setVisible(shown)

    def on_ledger_changed(self) -> None:
        self.model.refresh()
        self.pages.check()

    @property
    def has_requests(self) -> bool:
        return self.pages.has_requests

    def _count_changed(self) -> None:
        n = self.model.rowCount()
        self.count_label.setText(f"{n:,} request{'s' if n != 1 else ''}")

    # -- detail ----------------------------------------------------------------------

    def _selection_changed(self, selected: QItemSelection, _deselected: QItemSelection) -> None:
        self._show_row(selected.indexes()[0].row() if selected.indexes() else None)

    def _maybe_show_selected(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if rows and not self.detail.toPlainText():
            self._show_row(rows[0].row())

    def _show_row(self, row: int | None) -> None:
        rec = None if row is None else self.model.record_at(row)
        if rec is None:
            self.detail.clear()
            self.content.clear()
            self.content.hide()
            return
        self.detail.setPlainText(json.dumps(detail_json(rec), indent=2, ensure_ascii=False))
        content = request_content_text(rec)
        self.content.setPlainText(content)
        self.content.setVisible(bool(content))

    # -- export ----------------------------------------------------------------------

    def _ask_export(self, fmt: str) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, f"Export {fmt.upper()}", f"centwise-history.{fmt}", f"{fmt.upper()} (*.{fmt})"
        )
        if path:
            self.export_to(Path(path), fmt)

    def export_to(self, path: Path, fmt: str) -> None:
        """Write the export off-thread; the outcome shows in the banner."""
        self.bridge.call(
            _write_export,
            self.bridge,
            path,
            fmt,
            self.since_date(),
            on_result=lambda n: show_message(self, f"Exported {n:,} requests to {path}", "info"),
            on_error=lambda err: show_error(err, self),
        )


def _write_export(bridge: EngineBridge, path: Path, fmt: str, since: date | None) -> int:
    with path.open("w", encoding="utf-8", newline="") as out:
        return bridge.engine.export(fmt, out, since)


def _offer(box: QComboBox, groups: list[GroupTotal]) -> None:
    """Offer the named groups in ``box``, keeping the current choice if still there."""
    current = box.currentText()
    names = sorted({g.key for g in groups if g.key})
    box.blockSignals(True)
    box.clear()
    box.addItems([ANY, *names])
    box.setCurrentText(current if current in names else ANY)
    box.blockSignals(False)


def _choices(values: list[str]) -> QComboBox:
    box = QComboBox()
    box.addItems([ANY, *values])
    box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
    return box
