"""Virtual gateway keys, in Settings → Storage: list, create (shown once), revoke.

A key is what an app sends to the local gateway instead of the gateway's own token; its
name is the ``app`` its requests are recorded under, and it may carry hard daily and
monthly limits. The engine stores only the key's hash and first letters, so the key
itself is shown once, in a read-only field with a Copy button, and never again.
"""

from __future__ import annotations

from decimal import Decimal

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.runtime.engine_bridge import EngineBridge
from app.runtime.error_text import describe_error
from app.widgets.config_forms import parse_decimal
from app.widgets.formatting import fmt_time, fmt_usd
from core.ledger.models import GatewayKey

__all__ = ["KEY_COLUMNS", "GatewayKeysPanel"]

KEY_COLUMNS = ("Name (app)", "Key starts", "Daily limit", "Monthly limit", "Created", "State")


def _limit(amount: Decimal | None) -> str:
    return "–" if amount is None else fmt_usd(amount)


def _cells(key: GatewayKey) -> tuple[str, ...]:
    by = f" by {key.created_by}" if key.created_by else ""
    state = "active" if key.active else f"revoked {fmt_time(key.revoked_at or 0)}"
    return (
        key.name,
        f"{key.prefix}…",
        _limit(key.daily_usd),
        _limit(key.monthly_usd),
        fmt_time(key.created_at) + by,
        state,
    )


class GatewayKeysPanel(QWidget):
    """The engine's virtual gateway keys; every read and write runs off the UI thread."""

    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.keys: list[GatewayKey] = []
        self.table = QTableWidget(0, len(KEY_COLUMNS))
        self.table.setHorizontalHeaderLabels(list(KEY_COLUMNS))
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setAccessibleName("Gateway keys")
        self.table.itemSelectionChanged.connect(self._selection_changed)

        self.name_field = QLineEdit()
        self.name_field.setPlaceholderText("App name, e.g. support-bot")
        self.name_field.setAccessibleName("New gateway key name")
        self.daily_field = QLineEdit()
        self.daily_field.setPlaceholderText("Daily $ (optional)")
        self.daily_field.setAccessibleName("New gateway key daily limit")
        self.monthly_field = QLineEdit()
        self.monthly_field.setPlaceholderText("Monthly $ (optional)")
        self.monthly_field.setAccessibleName("New gateway key monthly limit")
        self.create_button = QPushButton("Create key")
        self.create_button.clicked.connect(self.create_key)
        self.revoke_button = QPushButton("Revoke")
        self.revoke_button.setEnabled(False)
        self.revoke_button.clicked.connect(self.revoke_selected)
        create_row = QHBoxLayout()
        for widget, stretch in (
            (self.name_field, 2),
            (self.daily_field, 1),
            (self.monthly_field, 1),
            (self.create_button, 0),
            (self.revoke_button, 0),
        ):
            create_row.addWidget(widget, stretch)

        self.new_key = QLineEdit()
        self.new_key.setReadOnly(True)
        self.new_key.setAccessibleName("New gateway key (shown once)")
        self.new_key.setPlaceholderText("A new key shows here once; only its hash is stored.")
        self.copy_button = QPushButton("Copy")
        self.copy_button.setEnabled(False)
        self.copy_button.clicked.connect(self._copy)
        key_row = QHBoxLayout()
        key_row.addWidget(self.new_key, 1)
        key_row.addWidget(self.copy_button)
        self.message = QLabel("")
        self.message.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table, 1)
        layout.addLayout(create_row)
        layout.addLayout(key_row)
        layout.addWidget(self.message)

    def refresh(self) -> None:
        self.bridge.call(self.bridge.engine.gateway_keys, on_result=self.show_keys)

    def show_keys(self, keys: list[GatewayKey]) -> None:
        self.keys = list(keys)
        self.table.setRowCount(len(keys))
        for row, key in enumerate(keys):
            for column, text in enumerate(_cells(key)):
                self.table.setItem(row, column, QTableWidgetItem(text))
        self._selection_changed()

    def selected(self) -> GatewayKey | None:
        rows = {i.row() for i in self.table.selectedIndexes()}
        return self.keys[min(rows)] if rows and min(rows) < len(self.keys) else None

    def _selection_changed(self) -> None:
        key = self.selected()
        self.revoke_button.setEnabled(key is not None and key.active)

    def create_key(self) -> None:
        name = self.name_field.text().strip()
        limits: dict[str, Decimal | None] = {}
        for field, word in ((self.daily_field, "daily"), (self.monthly_field, "monthly")):
            text = field.text().strip()
            value = parse_decimal(text) if text else None
            if text and value is None:
                self.message.setText(f"✗ The {word} limit must be a number of dollars.")
                return
            limits[f"{word}_usd"] = value
        self.message.setText(f"Creating {name}…")
        self.bridge.call(
            self.bridge.engine.create_gateway_key,
            name,
            **limits,
            on_result=self._created,
            on_error=self._failed,
        )

    def _created(self, made: tuple[str, GatewayKey]) -> None:
        key, stored = made
        self.new_key.setText(key)
        self.copy_button.setEnabled(True)
        for field in (self.name_field, self.daily_field, self.monthly_field):
            field.clear()
        self.message.setText(
            f"✓ Key for {stored.name} created. Copy it now: it is not shown again. "
            "Apps send it to the gateway as their API key."
        )
        self.refresh()

    def revoke_selected(self) -> None:
        key = self.selected()
        if key is None:
            return
        self.bridge.call(
            self.bridge.engine.revoke_gateway_key,
            key.name,
            on_result=lambda done: self._revoked(key.name, done),
            on_error=self._failed,
        )

    def _revoked(self, name: str, done: bool) -> None:
        self.message.setText(
            f"Key for {name} revoked." if done else f"There was no live key named {name}."
        )
        self.refresh()

    def _copy(self) -> None:
        QGuiApplication.clipboard().setText(self.new_key.text())
        self.message.setText("Copied to the clipboard.")

    def _failed(self, error: BaseException) -> None:
        self.message.setText(f"✗ {describe_error(error)}")
