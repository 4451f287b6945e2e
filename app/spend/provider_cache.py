"""The Spend view's Provider cache panel: how much of the prompt the providers read from
their own caches, what that saved, and what breaks and misses cost.

It shows one :class:`~core.prompt_cache.report.ProviderCacheReport` (loaded with the
rest of the dashboard, off-thread): the hit ratio (cached over input tokens), the cached
tokens Centwise expected against those the providers reported, the tokens written, the
dollars provider caching saved net of write premiums (beside the semantic cache's and
context management's savings, which are kept apart), the dollars lost to breaks and
misses, and two small tables: misses by cause and the per-model lines.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.spend.tables import SmallTable
from app.widgets.formatting import fmt_tokens, fmt_usd
from core.prompt_cache.report import ProviderCacheReport

__all__ = [
    "CAUSE_COLUMNS",
    "EMPTY_TEXT",
    "MODEL_COLUMNS",
    "ProviderCachePanel",
    "figures",
    "hit_ratio_text",
    "tab_title",
]

CAUSE_COLUMNS = ("Cause", "Requests", "Tokens lost", "Lost ($)")
MODEL_COLUMNS = ("Model", "Requests", "Hit ratio", "Cached", "Input", "Written", "Saved ($)")
EMPTY_TEXT = (
    "No provider prompt caching in this range. It shows once requests go to a provider "
    "that keeps a prompt cache: Anthropic, OpenAI or Gemini (or the Simulator standing in "
    "for one of their models). Ollama keeps none, and answers from the semantic cache "
    "never reach a provider."
)
_VISIBLE_ROWS = 4  # with the figures above, about as tall as the savings and quality tables
#: The figures, in grid order (column by column), with what each one means.
_FIGURES: dict[str, str] = {
    "hit_ratio": "Input tokens the providers read from their prompt caches, over all input "
    "tokens sent to providers that keep one",
    "cached": "Cached tokens the providers reported, against those Centwise expected from "
    "the prefixes it knows are warm",
    "written": "Input tokens written to the providers' caches (billed at a premium)",
    "saved": "What provider caching saved: cached reads at their discount, less the write premiums",
    "lost": "The discount lost when the prefix changed, the cache expired or the provider "
    "read less than it could have (estimated from Centwise's counts)",
    "apart": "Savings of the semantic cache and of context management over the same range, "
    "for contrast (not part of provider caching)",
}


def hit_ratio_text(ratio: float) -> str:
    """``62.5%``."""
    return f"{100 * ratio:.1f}%"


def tab_title(report: ProviderCacheReport | None) -> str:
    """The panel's tab: its headline figures, readable while another tab is shown."""
    if report is None or not report.requests:
        return "Provider cache"
    return (
        f"Provider cache: {hit_ratio_text(report.hit_ratio)} hit ratio,"
        f" saved {fmt_usd(report.saved_usd)}"
    )


def figures(report: ProviderCacheReport) -> dict[str, str]:
    """The panel's figures as the labels read them, keyed as :data:`_FIGURES`."""
    return {
        "hit_ratio": f"Hit ratio {hit_ratio_text(report.hit_ratio)}"
        f" ({report.requests:,} request{'s' if report.requests != 1 else ''})",
        "cached": f"Cached tokens: {fmt_tokens(report.cached_tokens)} reported"
        f" · {fmt_tokens(report.expected_tokens)} expected",
        "written": f"Written: {fmt_tokens(report.write_tokens)} tokens"
        f" of {fmt_tokens(report.input_tokens)} input",
        "saved": f"Saved by provider caching: {fmt_usd(report.saved_usd)}",
        "lost": f"Lost to breaks and misses ({report.misses:,}): {fmt_usd(report.lost_usd)}",
        "apart": f"Apart: semantic cache {fmt_usd(report.semantic_saved_usd)}"
        f" · context {fmt_usd(report.context_saved_usd)}",
    }


class ProviderCachePanel(QWidget):
    """The figures of one provider-cache report over two small tables, or a note that
    there is nothing to show yet (:attr:`empty_label`)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.report: ProviderCacheReport | None = None
        self.labels: dict[str, QLabel] = {}
        grid = QGridLayout()
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(18)
        grid.setVerticalSpacing(2)
        for i, (key, tip) in enumerate(_FIGURES.items()):
            label = QLabel("–")
            label.setToolTip(tip)
            label.setAccessibleName(f"Provider cache {key.replace('_', ' ')}")
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            grid.addWidget(label, i % 3, i // 3)
            self.labels[key] = label
        grid.setColumnStretch(1, 1)

        self.causes_table = SmallTable(CAUSE_COLUMNS, _VISIBLE_ROWS)
        self.causes_table.setAccessibleName("Provider cache misses by cause")
        self.causes_table.setToolTip(
            "Requests that read less from the provider's cache than they could have, by why"
        )
        self.models_table = SmallTable(MODEL_COLUMNS, _VISIBLE_ROWS)
        self.models_table.setAccessibleName("Provider cache per model")
        self.models_table.setToolTip("Provider caching per provider and model")
        tables = QHBoxLayout()
        tables.setContentsMargins(0, 0, 0, 0)
        self.causes_box = QGroupBox("Misses by cause")
        self.models_box = QGroupBox("Per model")
        for box, table, stretch in (
            (self.causes_box, self.causes_table, 4),
            (self.models_box, self.models_table, 5),
        ):
            # The first column (a cause, a model) takes what is left and elides; the
            # whole text is in its tooltip.
            table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
            table.horizontalHeader().setStretchLastSection(False)
            table.setTextElideMode(Qt.TextElideMode.ElideRight)
            inside = QVBoxLayout(box)
            inside.setContentsMargins(4, 4, 4, 4)
            inside.addWidget(table)
            tables.addWidget(box, stretch)

        self.figures_page = QWidget()
        column = QVBoxLayout(self.figures_page)
        column.setContentsMargins(4, 6, 0, 0)
        column.addLayout(grid)
        column.addLayout(tables, 1)

        self.empty_label = QLabel(EMPTY_TEXT)
        self.empty_label.setWordWrap(True)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setAccessibleName("No provider caching yet")

        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty_label)
        self.stack.addWidget(self.figures_page)
        QVBoxLayout(self).addWidget(self.stack)
        self.layout().setContentsMargins(0, 0, 0, 0)

    def is_empty(self) -> bool:
        return self.stack.currentWidget() is self.empty_label

    def show_report(self, report: ProviderCacheReport) -> None:
        self.report = report
        if not report.requests:
            self.stack.setCurrentWidget(self.empty_label)
            self.causes_table.setRowCount(0)
            self.models_table.setRowCount(0)
            return
        for key, text in figures(report).items():
            self.labels[key].setText(text)
        self._show_causes(report)
        self._show_models(report)
        self.causes_box.setTitle(f"Misses by cause ({report.misses:,})")
        self.models_box.setTitle(f"Per model ({len(report.models)})")
        self.stack.setCurrentWidget(self.figures_page)

    def _show_causes(self, report: ProviderCacheReport) -> None:
        table = self.causes_table
        table.setRowCount(len(report.causes))
        for i, c in enumerate(report.causes):
            table.set_cell(i, 0, c.why, f"{c.why} ({c.cause})", number=False)
            table.set_cell(i, 1, f"{c.requests:,}", number=True)
            table.set_cell(i, 2, fmt_tokens(c.lost_tokens), number=True)
            table.set_usd_cell(i, 3, c.lost_usd)

    def _show_models(self, report: ProviderCacheReport) -> None:
        table = self.models_table
        table.setRowCount(len(report.models))
        for i, m in enumerate(report.models):
            cells = (
                f"{m.provider}/{m.model}",
                f"{m.requests:,}",
                hit_ratio_text(m.hit_ratio),
                fmt_tokens(m.cached_tokens),
                fmt_tokens(m.input_tokens),
                fmt_tokens(m.write_tokens),
            )
            for j, text in enumerate(cells):
                table.set_cell(i, j, text, cells[0] if j == 0 else "", number=j > 0)
            table.set_usd_cell(i, len(cells), m.saved_usd)
