"""Settings (read-only for now): where the config is, providers, tiers, budgets, prices."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFormLayout,
    QGroupBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.engine_bridge import EngineBridge
from app.facade_extras import price_source
from app.formatting import fmt_usd_short
from core.config import CentwiseConfig

__all__ = ["SettingsView"]


class SettingsView(QWidget):
    """What the engine runs with. Editing comes later; the config file is the truth."""

    def __init__(
        self, bridge: EngineBridge, config_path: Path | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        engine = bridge.engine
        config = engine.config
        where = QFormLayout()
        self.config_label = _selectable(
            str(config_path) if config_path else "none (built-in defaults)"
        )
        where.addRow("Config file", self.config_label)
        where.addRow("Data directory", _selectable(str(engine.data_dir)))
        self.price_label = _selectable(price_source(engine))
        where.addRow("Price table", self.price_label)
        where.addRow("Budgets", _selectable(_budget_text(config)))
        where.addRow(
            "API keys",
            QLabel("Add one with `centwise keys set openai` (stored in the OS keyring)."),
        )

        self.providers = _table(
            ["Name", "Kind", "Base URL", "Key env var", "Timeout (s)"],
            [
                [
                    name,
                    p.kind,
                    p.base_url or "default",
                    p.api_key_env or "–",
                    f"{p.timeout_seconds:g}",
                ]
                for name, p in config.providers.items()
            ],
        )
        self.tiers = _table(
            ["Tier", "Provider", "Model", "Max complexity", "Fallbacks"],
            [
                [
                    t.id,
                    t.provider,
                    t.model,
                    f"{t.max_complexity:g}",
                    ", ".join(f"{f.provider}/{f.model}" for f in t.fallbacks) or "–",
                ]
                for t in config.routing.tiers
            ],
        )
        layout = QVBoxLayout(self)
        layout.addLayout(where)
        for title, table in (("Providers", self.providers), ("Routing tiers", self.tiers)):
            box = QGroupBox(title)
            inner = QVBoxLayout(box)
            inner.addWidget(table)
            layout.addWidget(box)
        layout.addStretch(1)


def _budget_text(config: CentwiseConfig) -> str:
    b = config.budget

    def limit(value: Decimal | None) -> str:
        return "none" if value is None else fmt_usd_short(value)

    mode = "hard limits (requests are refused)" if b.hard_limit else "alerts only"
    return (
        f"daily {limit(b.daily_usd)} · monthly {limit(b.monthly_usd)} · {mode} · "
        f"max {b.max_input_tokens:,} input / {b.max_output_tokens:,} output tokens per request"
    )


def _selectable(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def _table(headers: list[str], rows: list[list[str]]) -> QTableWidget:
    table = QTableWidget(len(rows), len(headers))
    table.setHorizontalHeaderLabels(headers)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.verticalHeader().hide()
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            table.setItem(r, c, QTableWidgetItem(value))
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setStretchLastSection(True)
    height = table.horizontalHeader().height() + sum(table.rowHeight(r) for r in range(len(rows)))
    table.setMaximumHeight(height + 2 * table.frameWidth() + 4)
    return table
