"""The dashboard's small tables: savings by source, quality per tier, spend per team
member and per app, and the read-only table they (and the Provider cache panel) are
built on."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

from app.widgets.formatting import fmt_usd, fmt_usd_exact
from core.context.window import SavingsBreakdown
from core.ledger.models import GroupTotal
from core.quality.feedback import TierQuality

__all__ = [
    "NO_APP",
    "NO_MEMBER",
    "QUALITY_COLUMNS",
    "VISIBLE_ROWS",
    "QualityTable",
    "SavingsTable",
    "SmallTable",
    "SpendByTable",
    "savings_rows",
]

VISIBLE_ROWS = 6  # the tables show this many rows without scrolling (unless told)
QUALITY_COLUMNS = ("Tier", "Judged", "Mean score", "Votes up / down", "Cost per quality point")
NO_MEMBER = "(no member)"  # requests recorded before team mode named who sent them
NO_APP = "(app itself)"  # requests not sent through a virtual gateway key


def savings_rows(s: SavingsBreakdown) -> list[tuple[str, Decimal, str]]:
    """``(source, dollars, explanation)`` rows, the total last."""
    return [
        ("Cache", s.cache_usd, "What the answers served from the cache would have cost"),
        (
            "Routing (est.)",
            s.routing_usd,
            "Auto-routed answers below the top tier, against the top tier's prices",
        ),
        (
            "Context (gross)",
            s.context_usd,
            "Input tokens context management kept out of requests, at each model's price",
        ),
        ("Context summaries", -s.context_cost_usd, "What the history summaries cost"),
        ("Context (net)", s.context_net_usd, "Context savings after the summaries' cost"),
        (
            "Total",
            s.cache_usd + s.routing_usd + s.context_net_usd,
            "Cache, routing and net context savings",
        ),
    ]


class SmallTable(QTableWidget):
    """Read-only, no row numbers, columns sized to their contents, ``visible_rows``
    rows high."""

    def __init__(self, headers: Sequence[str], visible_rows: int = VISIBLE_ROWS) -> None:
        super().__init__(0, len(headers))
        self.setHorizontalHeaderLabels(list(headers))
        self.verticalHeader().hide()
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setAlternatingRowColors(True)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        rows = self.verticalHeader()
        rows.setDefaultSectionSize(self.fontMetrics().height() + 8)
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.setFixedHeight(
            header.sizeHint().height()
            + visible_rows * rows.defaultSectionSize()
            + 2 * self.frameWidth()
            + 2
        )

    def set_cell(self, row: int, column: int, text: str, tip: str = "", *, number: bool) -> None:
        item = QTableWidgetItem(text)
        item.setToolTip(tip)
        if number:
            item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.setItem(row, column, item)

    def set_usd_cell(
        self, row: int, column: int, amount: Decimal | None, tip: str = "", suffix: str = ""
    ) -> None:
        """An amount as it reads everywhere, with every digit in the tooltip."""
        exact = f"{fmt_usd_exact(amount)} exactly" if amount is not None else ""
        self.set_cell(
            row,
            column,
            fmt_usd(amount) + suffix,
            "\n".join(t for t in (exact, tip) if t),
            number=True,
        )

    def text(self, row: int, column: int) -> str:
        item = self.item(row, column)
        return item.text() if item is not None else ""


class SavingsTable(SmallTable):
    """Dollars saved by the cache and by context management over the selected range."""

    def __init__(self) -> None:
        super().__init__(("Source", "Saved ($)"))
        self.setToolTip("Savings by source over the selected range")
        self.setAccessibleName("Savings by source")

    def show_savings(self, savings: SavingsBreakdown) -> None:
        rows = savings_rows(savings)
        self.setRowCount(len(rows))
        for i, (name, amount, tip) in enumerate(rows):
            self.set_cell(i, 0, name, tip, number=False)
            self.set_usd_cell(i, 1, amount, tip)


class QualityTable(SmallTable):
    """Per tier: judged samples, mean judge score, votes and cost per quality point."""

    def __init__(self) -> None:
        super().__init__(QUALITY_COLUMNS)
        self.setToolTip(
            "Running quality per tier (all time): background judge samples and your votes"
        )
        self.setAccessibleName("Quality per tier")

    def show_quality(self, quality: Sequence[TierQuality]) -> None:
        self.setRowCount(len(quality))
        for i, q in enumerate(quality):
            simulated = " (simulated judge)" if q.simulated else ""
            score = "–" if q.mean_score is None else f"{q.mean_score:.1f}/10{simulated}"
            cells = (q.tier, str(q.judged), score, f"{q.feedback_up} / {q.feedback_down}")
            for j, text in enumerate(cells):
                self.set_cell(i, j, text, number=j > 0)
            if q.cost_per_quality_point is None:
                self.set_cell(i, len(cells), "–", number=True)
            else:
                self.set_usd_cell(i, len(cells), q.cost_per_quality_point)


class SpendByTable(SmallTable):
    """Spend per team member or per app (gateway key) over the selected range, the
    biggest spender first; ``empty`` names the group of requests without one."""

    def __init__(self, what: str, empty: str, tip: str) -> None:
        super().__init__((what, "Requests", "Spent ($)", "Share", "Saved ($)"))
        self.empty = empty
        self.setToolTip(tip)
        self.setAccessibleName(f"Spend by {what.lower()}")

    def show_groups(self, groups: Sequence[GroupTotal]) -> None:
        ordered = sorted(groups, key=lambda g: (-g.totals.cost_usd, g.key or ""))
        total = sum((g.totals.cost_usd for g in ordered), Decimal(0))
        self.setRowCount(len(ordered))
        for i, g in enumerate(ordered):
            t = g.totals
            share = f"{100 * t.cost_usd / total:.0f}%" if total else "–"
            unknown = f" (+{t.unknown_cost_requests} of unknown price)"
            self.set_cell(i, 0, g.key or self.empty, number=False)
            self.set_cell(i, 1, f"{t.requests:,}", number=True)
            self.set_usd_cell(i, 2, t.cost_usd, suffix=unknown if t.unknown_cost_requests else "")
            self.set_cell(i, 3, share, number=True)
            self.set_usd_cell(i, 4, t.saved_usd)
