"""Settings: providers and keys, tiers, budgets, cache, context, prices, storage; saved
as TOML.

Every edit builds the would-be config file and runs it through
:func:`core.config.parse_config`; its error (which names the key) shows under the
form and Save stays disabled until the draft is valid. Save writes the file
atomically and re-opens the engine with it through the bridge. API keys go to the OS
keyring through the injected :class:`core.keys.KeyStore`, never to a file; so does the
team database's password (:mod:`app.settings.storage`, which also holds Save back until
a new database URL passed its connection test).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.runtime.app_engine import EngineOpener
from app.runtime.config_apply import write_and_reopen
from app.runtime.config_file import config_to_toml
from app.runtime.engine_bridge import EngineBridge
from app.runtime.error_text import describe_error
from app.settings.appearance import AppearancePanel
from app.settings.providers import ProvidersPanel
from app.settings.storage import StoragePanel
from app.widgets.config_forms import SectionForm
from app.widgets.config_tables import PriceOverridesEditor, TiersEditor
from core.accounting.prices import PriceDiff
from core.config import (
    BudgetConfig,
    CacheConfig,
    CentwiseConfig,
    ContextConfig,
    ObservabilityConfig,
    RoutingConfig,
    parse_config,
)
from core.engine import Engine
from core.errors import ConfigError
from core.keys import KeyStore

__all__ = ["SettingsView"]


class SettingsView(QWidget):
    """Edit the config, keys and prices of the engine behind ``bridge``.

    ``config_path`` is where Save writes; ``open_engine`` (config -> Engine) re-opens
    the engine after a save (without it the user is told to restart). Signals:
    ``saved(path)`` after a write, ``engine_reopened(engine)`` once the new engine runs.
    """

    saved = Signal(object)
    engine_reopened = Signal(object)

    def __init__(
        self,
        bridge: EngineBridge,
        keys: KeyStore,
        config_path: Path,
        open_engine: EngineOpener | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.keys = keys
        self.config_path = Path(config_path)
        self.open_engine = open_engine
        self.valid_config: CentwiseConfig | None = None
        self.last_diff: PriceDiff | None = None
        self._base: dict[str, Any] = {}
        self._loaded: CentwiseConfig | None = None
        self._build()
        self.load(bridge.engine.config)

    # -- layout ------------------------------------------------------------------

    def _build(self) -> None:
        self.path_label = _selectable("")
        self.data_label = _selectable(str(self.bridge.engine.data_dir))
        where = QFormLayout()
        where.addRow("Config file", self.path_label)
        where.addRow("Data directory", self.data_label)

        self.providers = ProvidersPanel(self.bridge, self.keys)
        self.routing_form = SectionForm("routing", RoutingConfig)
        self.tiers = TiersEditor()
        self.budget_form = SectionForm("budget", BudgetConfig)
        self.alerts_form = SectionForm("observability", ObservabilityConfig)
        self.cache_form = SectionForm("cache", CacheConfig)
        self.context_form = SectionForm("context", ContextConfig)
        self.overrides = PriceOverridesEditor()
        self.storage = StoragePanel(self.bridge, self.keys)
        self.forms = (
            self.routing_form,
            self.budget_form,
            self.alerts_form,
            self.cache_form,
            self.context_form,
        )

        self.tabs = QTabWidget()
        self.tabs.addTab(self.providers, "Providers && keys")
        self.tabs.addTab(_stack(("Routing", self.routing_form), ("Tiers", self.tiers)), "Routing")
        self.tabs.addTab(
            _stack(("Budgets", self.budget_form), ("Alerts", self.alerts_form)), "Budgets"
        )
        self.tabs.addTab(_stack(("Semantic cache", self.cache_form)), "Cache")
        self.tabs.addTab(_stack(("Conversation context", self.context_form)), "Context")
        self.tabs.addTab(self._prices_tab(), "Prices")
        self.tabs.addTab(self.storage, "Storage")
        self.appearance = AppearancePanel()  # applies at once; not part of Save
        self.tabs.addTab(self.appearance, "Appearance")

        self.problem_label = QLabel("")
        self.problem_label.setObjectName("settings_problem")
        self.problem_label.setWordWrap(True)
        self.problem_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status_label = QLabel("")
        self.status_label.setWordWrap(True)
        self.revert_button = QPushButton("Revert")
        self.revert_button.clicked.connect(lambda: self.load(self.bridge.engine.config))
        self.save_button = QPushButton("Save")
        self.save_button.setToolTip("Write the config file and re-open the engine with it")
        self.save_button.clicked.connect(self.save)
        bottom = QHBoxLayout()
        labels = QVBoxLayout()
        labels.addWidget(self.problem_label)
        labels.addWidget(self.status_label)
        bottom.addLayout(labels, 1)
        bottom.addWidget(self.revert_button, 0, Qt.AlignmentFlag.AlignTop)
        bottom.addWidget(self.save_button, 0, Qt.AlignmentFlag.AlignTop)

        layout = QVBoxLayout(self)
        layout.addLayout(where)
        layout.addWidget(self.tabs, 1)
        layout.addLayout(bottom)

        for form in self.forms:
            form.changed.connect(self.validate)
        for editor in (self.tiers, self.overrides, self.providers, self.storage):
            editor.changed.connect(self.validate)
        self.providers.keys_changed.connect(self._keys_changed)

    def _prices_tab(self) -> QWidget:
        self.price_source_label = _selectable("")
        self.import_button = QPushButton("Import LiteLLM price file…")
        self.import_button.setToolTip("model_prices_and_context_window.json format")
        self.import_button.clicked.connect(self._choose_price_file)
        self.diff_text = QPlainTextEdit()
        self.diff_text.setAccessibleName("What the last price import changed")
        self.diff_text.setReadOnly(True)
        self.diff_text.setPlaceholderText("What an import changed shows here.")
        self.diff_text.setMaximumHeight(120)
        top = QFormLayout()
        top.addRow("Price table", self.price_source_label)
        top.addRow(self.import_button)
        top.addRow(self.diff_text)
        tab = QWidget()
        layout = QVBoxLayout(tab)
        layout.addLayout(top)
        box = QGroupBox("Overrides (config [prices]; win over the table)")
        inner = QVBoxLayout(box)
        inner.addWidget(self.overrides)
        layout.addWidget(box, 1)
        return tab

    # -- the draft ---------------------------------------------------------------

    def load(self, config: CentwiseConfig) -> None:
        """Show ``config`` (the running one, after a revert or a save)."""
        self._loaded = config
        self._base = config.model_dump(mode="python", exclude_none=True)
        for form in self.forms:
            form.load(self._base.get(form.section, {}))
        self.tiers.load(list(self._base["routing"]["tiers"]))
        self.overrides.load(dict(self._base.get("prices", {})))
        self.providers.load(dict(self._base["providers"]))
        self.storage.load(dict(self._base.get("storage", {})))
        self.price_source_label.setText(self.bridge.engine.price_source)
        exists = "" if self.config_path.exists() else " (not created yet: defaults apply)"
        self.path_label.setText(f"{self.config_path}{exists}")
        self.validate()

    def draft(self) -> dict[str, Any]:
        """The config as edited, in ``model_dump()`` shape."""
        data = copy.deepcopy(self._base)
        for form in self.forms:
            form.apply(data.setdefault(form.section, {}))
        data["routing"]["tiers"] = self.tiers.tiers()
        data["providers"] = self.providers.providers()
        data["prices"] = self.overrides.prices()
        self.storage.apply(data.setdefault("storage", {}))
        return data

    def draft_text(self) -> str:
        return config_to_toml(self.draft())

    def validate(self) -> CentwiseConfig | None:
        """Check the draft; show the problem or enable Save. Returns the valid config."""
        problems = self.overrides.problems()
        config = None
        if not problems:
            try:
                config = parse_config(self.draft_text(), str(self.config_path))
            except ConfigError as e:
                problems = [str(e)]
            except (TypeError, ValueError) as e:
                problems = [f"cannot write this as TOML: {e}"]
        if config is not None and (problems := self.storage.problems()):
            config = None
        self.valid_config = config
        if problems:
            self.problem_label.setText("✗ " + "\n".join(problems))
        else:
            changed = config != self._loaded
            self.problem_label.setText("✓ Valid" + (" · unsaved changes" if changed else ""))
        self.save_button.setEnabled(config is not None and config != self._loaded)
        return config

    # -- saving ------------------------------------------------------------------

    def save(self) -> bool:
        """Write the config file atomically, then re-open the engine with it."""
        config = self.validate()
        if config is None:
            return False

        def written() -> None:
            self._loaded = config
            self.save_button.setEnabled(False)
            self.saved.emit(self.config_path)

        return write_and_reopen(
            self.bridge,
            self.config_path,
            config,
            self.open_engine,
            report=self.status_label.setText,
            on_written=written,
            on_reopened=self._reopened,
        )

    def _reopened(self, engine: Engine) -> None:
        self.status_label.setText(f"Saved to {self.config_path} and applied.")
        self.load(engine.config)
        self.engine_reopened.emit(engine)

    def _reopen_failed(self, error: BaseException) -> None:
        self.status_label.setText(
            f"Saved, but the engine could not re-open with it ({describe_error(error)}); "
            "the previous settings stay in use until a restart."
        )

    def _keys_changed(self) -> None:
        # Providers read their key when first used: re-open so the next call sees it.
        if self.open_engine is not None:
            opener, config = self.open_engine, self.bridge.engine.config
            self.bridge.reopen(lambda: opener(config), on_error=self._reopen_failed)

    # -- prices ------------------------------------------------------------------

    def _choose_price_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Import a LiteLLM price file", "", "JSON (*.json);;All files (*)"
        )
        if path:
            self.import_prices(Path(path))

    def import_prices(self, path: Path) -> None:
        """Import ``path`` off-thread; the diff lines show when done."""
        self.diff_text.setPlainText(f"Importing {path}…")
        self.bridge.call(
            self.bridge.engine.import_prices,
            path,
            on_result=self._imported,
            on_error=lambda e: self.diff_text.setPlainText(f"✗ {describe_error(e)}"),
        )

    def _imported(self, diff: PriceDiff) -> None:
        self.last_diff = diff
        lines = diff.summary_lines()
        self.diff_text.setPlainText("\n".join(lines) if lines else "No price changed.")
        self.price_source_label.setText(self.bridge.engine.price_source)


def _stack(*boxes: tuple[str, QWidget]) -> QWidget:
    page = QWidget()
    layout = QVBoxLayout(page)
    for title, widget in boxes:
        box = QGroupBox(title)
        inner = QVBoxLayout(box)
        inner.addWidget(widget)
        layout.addWidget(box, 1 if isinstance(widget, TiersEditor) else 0)
    layout.addStretch(0 if any(isinstance(w, TiersEditor) for _, w in boxes) else 1)
    return page


def _selectable(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label
