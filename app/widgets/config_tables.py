"""Editable tables of the Settings view: routing tiers and per-model price overrides.

Both keep the fields they do not show (a tier's other keys, a price entry's other
LiteLLM fields) from the config they were loaded from, so saving never drops them.
Prices are typed per million tokens, as providers quote them, and stored per token
(``input_cost_per_token``) exactly: ``Decimal.scaleb(-6)`` shifts digits, never rounds.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.widgets.config_forms import parse_decimal

__all__ = ["PriceOverridesEditor", "TableEditor", "TiersEditor", "per_million", "per_token"]

_ORIGINAL = Qt.ItemDataRole.UserRole


def per_token(per_million_text: str) -> Any:
    """``"2.50"`` per 1M tokens -> ``Decimal("0.00000250")`` per token (text if invalid)."""
    value = parse_decimal(per_million_text)
    return per_million_text if value is None else value.scaleb(-6)


def per_million(per_token_value: Any) -> str:
    value = parse_decimal(str(per_token_value)) if per_token_value is not None else None
    if value is None:
        return ""
    return format(value.scaleb(6).normalize(), "f")


class TableEditor(QWidget):
    """A table with Add and Remove buttons; ``changed`` on any edit."""

    changed = Signal()
    headers: tuple[str, ...] = ()
    accessible_name = "Table"  # what a screen reader calls the table

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = QTableWidget(0, len(self.headers))
        self.table.setAccessibleName(self.accessible_name)
        self.table.setHorizontalHeaderLabels(list(self.headers))
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.itemChanged.connect(lambda _item: self.changed.emit())
        self.add_button = QPushButton("Add")
        self.remove_button = QPushButton("Remove selected")
        self.add_button.clicked.connect(lambda: self.add_row())
        self.remove_button.clicked.connect(self.remove_selected)
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)

    def add_row(self, cells: list[str] | None = None, original: Any = None) -> int:
        row = self.table.rowCount()
        self.table.blockSignals(True)
        self.table.insertRow(row)
        for col, text in enumerate(cells or [""] * len(self.headers)):
            item = QTableWidgetItem(text)
            if col == 0:
                item.setData(_ORIGINAL, original)
            self.table.setItem(row, col, item)
        self.table.blockSignals(False)
        if cells is None:
            self.table.editItem(self.table.item(row, 0))
            self.changed.emit()
        return row

    def remove_selected(self) -> None:
        rows = sorted({i.row() for i in self.table.selectedIndexes()}, reverse=True)
        for row in rows:
            self.table.removeRow(row)
        if rows:
            self.changed.emit()

    def set_cell(self, row: int, col: int, text: str) -> None:
        self.table.item(row, col).setText(text)

    def cells(self, row: int) -> list[str]:
        return [
            (item.text().strip() if (item := self.table.item(row, c)) else "")
            for c in range(len(self.headers))
        ]

    def original(self, row: int) -> Any:
        item = self.table.item(row, 0)
        return item.data(_ORIGINAL) if item else None

    def clear_rows(self) -> None:
        self.table.blockSignals(True)
        self.table.setRowCount(0)
        self.table.blockSignals(False)


class TiersEditor(TableEditor):
    """``[[routing.tiers]]``: id, provider, model, max complexity, fallbacks."""

    headers = ("Tier id", "Provider", "Model", "Max complexity (0–10)", "Fallbacks")
    accessible_name = "Routing tiers"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table.setToolTip(
            "Requests go to the first tier (by max complexity) whose max complexity is at "
            "least their score; the top tier needs 10. Fallbacks: PROVIDER/MODEL, comma "
            "separated."
        )

    def load(self, tiers: list[dict[str, Any]]) -> None:
        self.clear_rows()
        for tier in tiers:
            fallbacks = ", ".join(
                f"{f['provider']}/{f['model']}" for f in tier.get("fallbacks", ())
            )
            cells = [
                str(tier["id"]),
                str(tier["provider"]),
                str(tier["model"]),
                f"{float(tier['max_complexity']):g}",
                fallbacks,
            ]
            self.add_row(cells, dict(tier))

    def tiers(self) -> list[dict[str, Any]]:
        out = []
        for row in range(self.table.rowCount()):
            tier_id, provider, model, complexity, fallbacks = self.cells(row)
            tier = dict(self.original(row) or {})
            tier.update(id=tier_id, provider=provider, model=model)
            try:
                tier["max_complexity"] = float(complexity)
            except ValueError:
                tier["max_complexity"] = complexity
            tier["fallbacks"] = [_fallback(f) for f in fallbacks.split(",") if f.strip()]
            out.append(tier)
        return out


def _fallback(text: str) -> dict[str, str]:
    provider, _, model = text.strip().partition("/")
    return {"provider": provider.strip(), "model": model.strip()}


class PriceOverridesEditor(TableEditor):
    """``[prices."MODEL"]`` overrides: input and output USD per 1M tokens."""

    headers = ("Model", "Input (USD per 1M tokens)", "Output (USD per 1M tokens)")
    accessible_name = "Price overrides"

    def load(self, prices: dict[str, dict[str, Any]]) -> None:
        self.clear_rows()
        for model, fields in prices.items():
            cells = [
                model,
                per_million(fields.get("input_cost_per_token")),
                per_million(fields.get("output_cost_per_token")),
            ]
            self.add_row(cells, dict(fields))

    def problems(self) -> list[str]:
        """What is wrong with the typed prices (the config does not check them)."""
        out = []
        for row in range(self.table.rowCount()):
            model, *prices = self.cells(row)
            if not model:
                out.append(f"prices row {row + 1}: the model name is empty")
            for what, text in zip(("input", "output"), prices, strict=True):
                value = parse_decimal(text)
                if value is None or value < 0:
                    out.append(
                        f'prices."{model}": {what} price must be a number of USD ≥ 0'
                        f" per 1M tokens (got {text!r})"
                    )
        return out

    def prices(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for row in range(self.table.rowCount()):
            model, inp, outp = self.cells(row)
            fields = dict(self.original(row) or {})
            fields["input_cost_per_token"] = per_token(inp)
            fields["output_cost_per_token"] = per_token(outp)
            out[model] = fields
        return out
