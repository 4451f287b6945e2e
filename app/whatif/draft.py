"""The "What if…" view's editor: a copy of the running config, checked as it is typed.

It reuses the Settings widgets (:class:`~app.widgets.config_tables.TiersEditor`,
:class:`~app.widgets.config_tables.PriceOverridesEditor`, :class:`~app.widgets.config_forms.SectionForm`)
pointed at a *copy*: nothing here writes a file or touches the engine. Like Settings,
every edit builds the would-be TOML and runs it through
:func:`core.config.parse_config`, whose error names the key at fault.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.runtime.config_file import config_to_toml
from app.widgets.config_forms import SectionForm
from app.widgets.config_tables import PriceOverridesEditor, TiersEditor, per_million
from core.accounting.prices import ModelPrice
from core.config import BudgetConfig, CacheConfig, CentwiseConfig, ContextConfig, parse_config
from core.errors import ConfigError

__all__ = ["ConfigDraftEditor", "PriceLookup", "WeightsEditor"]

PriceLookup = Callable[[str], ModelPrice | None]


class WeightsEditor(QWidget):
    """``[routing.weights]``: points per occurrence and the cap, per prompt feature."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.spins: dict[str, tuple[QDoubleSpinBox, QDoubleSpinBox]] = {}
        self._grid = QGridLayout(self)
        self._grid.addWidget(QLabel("Feature"), 0, 0)
        self._grid.addWidget(QLabel("Points each (0–10)"), 0, 1)
        self._grid.addWidget(QLabel("Max points (0–10)"), 0, 2)

    def load(self, weights: dict[str, dict[str, Any]]) -> None:
        for name, weight in weights.items():
            if name not in self.spins:
                row = len(self.spins) + 1
                pair = (self._spin(f"weights.{name}.per"), self._spin(f"weights.{name}.max"))
                self._grid.addWidget(QLabel(name.replace("_", " ")), row, 0)
                self._grid.addWidget(pair[0], row, 1)
                self._grid.addWidget(pair[1], row, 2)
                self.spins[name] = pair
            for spin, key in zip(self.spins[name], ("per", "max"), strict=True):
                spin.blockSignals(True)
                spin.setValue(float(weight[key]))
                spin.blockSignals(False)

    def _spin(self, name: str) -> QDoubleSpinBox:
        spin = QDoubleSpinBox()
        spin.setObjectName(name)
        feature, kind = name.split(".")[1:]  # weights.FEATURE.per|max
        points = "points each" if kind == "per" else "max points"
        spin.setAccessibleName(f"{feature.replace('_', ' ')}: {points}")
        spin.setRange(0, 10)
        spin.setDecimals(2)
        spin.setSingleStep(0.25)
        spin.valueChanged.connect(self.changed)
        return spin

    def apply(self, weights: dict[str, dict[str, Any]]) -> None:
        for name, (per, cap) in self.spins.items():
            weights.setdefault(name, {}).update(per=per.value(), max=cap.value())


class ConfigDraftEditor(QWidget):
    """Tabs editing a copy of a config; ``changed`` after every edit.

    ``prices`` looks up the current price of a model (for *Add tier models*, which
    pre-fills an override row per tier model with today's price per 1M tokens).
    """

    changed = Signal()

    def __init__(self, prices: PriceLookup, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._prices = prices
        self._base: dict[str, Any] = {}
        self.tiers = TiersEditor()
        self.overrides = PriceOverridesEditor()
        self.weights = WeightsEditor()
        self.cache_form = SectionForm("cache", CacheConfig)
        self.budget_form = SectionForm("budget", BudgetConfig)
        self.context_form = SectionForm("context", ContextConfig)
        self.forms = (self.cache_form, self.budget_form, self.context_form)
        self.add_tier_prices = QPushButton("Add tier models at current prices")
        self.add_tier_prices.setToolTip(
            "An override row per tier model not yet listed, filled with today's price"
        )
        self.add_tier_prices.clicked.connect(self.add_tier_model_prices)
        row = QHBoxLayout()
        row.addWidget(self.add_tier_prices)
        row.addStretch(1)
        self.overrides.layout().insertLayout(0, row)

        self.tabs = QTabWidget()
        self.tabs.addTab(self.tiers, "Tiers")
        self.tabs.addTab(self.overrides, "Prices")
        for page, title in (
            (self.weights, "Weights"),
            (self.cache_form, "Cache"),
            (self.budget_form, "Budgets"),
            (self.context_form, "Context"),
        ):
            self.tabs.addTab(_scrolled(page), title)
        self.problem_label = QLabel("")
        self.problem_label.setObjectName("whatif_problem")
        self.problem_label.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.problem_label)
        for editor in (self.tiers, self.overrides, self.weights, *self.forms):
            editor.changed.connect(self.changed)

    def load(self, config: CentwiseConfig) -> None:
        """Edit a copy of ``config`` (the running one, or after *Reset*)."""
        self._base = config.model_dump(mode="python", exclude_none=True)
        for form in self.forms:
            form.load(self._base.get(form.section, {}))
        self.tiers.load(list(self._base["routing"]["tiers"]))
        self.weights.load(dict(self._base["routing"]["weights"]))
        self.overrides.load(dict(self._base.get("prices", {})))
        self.changed.emit()

    def draft(self) -> dict[str, Any]:
        """The edited copy, in ``model_dump()`` shape."""
        data = copy.deepcopy(self._base)
        for form in self.forms:
            form.apply(data.setdefault(form.section, {}))
        data["routing"]["tiers"] = self.tiers.tiers()
        self.weights.apply(data["routing"]["weights"])
        data["prices"] = self.overrides.prices()
        return data

    def config(self) -> tuple[CentwiseConfig | None, list[str]]:
        """The edited copy as a valid config, else None and what is wrong with it."""
        problems = self.overrides.problems()
        if problems:
            return None, problems
        try:
            return parse_config(config_to_toml(self.draft()), "what-if copy"), []
        except ConfigError as e:
            return None, [str(e)]
        except (TypeError, ValueError) as e:
            return None, [f"cannot write this as TOML: {e}"]

    def add_tier_model_prices(self) -> None:
        listed = set(self.overrides.prices())
        for tier in self.tiers.tiers():
            model = str(tier["model"])
            price = self._prices(model) if model and model not in listed else None
            if price is None or not price.known:
                continue
            cells = [
                model,
                per_million(price.input_cost_per_token),
                per_million(price.output_cost_per_token),
            ]
            self.overrides.add_row(cells)
            listed.add(model)
        self.changed.emit()


def _scrolled(page: QWidget) -> QScrollArea:
    # Long form labels must not set the width of the whole view: they scroll instead.
    area = QScrollArea()
    area.setWidget(page)
    area.setWidgetResizable(True)
    area.setFrameShape(QScrollArea.Shape.NoFrame)
    return area
