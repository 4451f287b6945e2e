"""Providers and their API keys, in the Settings view.

The table edits ``[providers.NAME]`` (kind, base URL; other keys are kept). For the
selected provider, *Test connection* lists its models through the running engine,
and the key box saves a key to the OS keyring through :class:`core.keys.KeyStore`:
the field is a password field, cleared as soon as Save is pressed, and only the
masked form (``sk-…abcd``) is ever shown. No key is written to any file.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.runtime.engine_bridge import EngineBridge
from app.runtime.error_text import describe_error
from app.widgets.config_tables import TableEditor
from core.config import ProviderConfig
from core.keys import KeySaveResult, KeyStatus, KeyStore

__all__ = ["KINDS", "ProvidersPanel"]

KINDS = ("simulator", "openai", "anthropic", "gemini", "ollama", "openai-compatible")


class ProvidersTable(TableEditor):
    headers = ("Name", "Kind", "Base URL")
    accessible_name = "Providers"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table.setToolTip("Kind: " + ", ".join(KINDS) + ". An empty base URL is the default.")

    def load(self, providers: dict[str, dict[str, Any]]) -> None:
        self.clear_rows()
        for name, fields in providers.items():
            self.add_row([name, str(fields.get("kind", "")), fields.get("base_url") or ""], fields)

    def providers(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for row in range(self.table.rowCount()):
            name, kind, url = self.cells(row)
            fields = dict(self.original(row) or {})
            fields["kind"] = kind
            fields["base_url"] = url or None
            out[name] = fields
        return out


class ProvidersPanel(QWidget):
    """Provider table, connection test and key management for the selected provider.

    ``changed`` fires on table edits; ``keys_changed`` after a key was saved or removed
    (the engine re-reads keys when it re-opens).
    """

    changed = Signal()
    keys_changed = Signal()

    def __init__(self, bridge: EngineBridge, keys: KeyStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.keys = keys
        self.statuses: dict[str, KeyStatus] = {}
        self.last_models: list[str] = []
        self.editor = ProvidersTable()
        self.editor.changed.connect(self.changed)
        self.editor.changed.connect(self.refresh_keys)
        self.editor.table.itemSelectionChanged.connect(self._selection_changed)

        self.selected_label = QLabel("Select a provider")
        self.test_button = QPushButton("Test connection")
        self.test_button.setToolTip("Ask the provider for its model list (uses the saved key)")
        self.test_button.clicked.connect(self.test_connection)
        self.test_result = QLabel("")
        self.test_result.setWordWrap(True)
        self.models = QListWidget()
        self.models.setAccessibleName("Models offered")
        self.models.setMaximumHeight(140)
        test_box = QGroupBox("Connection")
        test_layout = QVBoxLayout(test_box)
        test_layout.addWidget(self.test_button)
        test_layout.addWidget(self.test_result)
        test_layout.addWidget(QLabel("Models offered"))
        test_layout.addWidget(self.models)

        ok, why = keys.backend_available()
        self.backend_label = QLabel(why if ok else f"⚠ {why}")
        self.backend_label.setWordWrap(True)
        self.key_status = QLabel("–")
        self.key_field = QLineEdit()
        self.key_field.setAccessibleName("New API key")
        self.key_field.setEchoMode(QLineEdit.EchoMode.Password)
        self.key_field.setPlaceholderText("Paste an API key")
        self.key_field.returnPressed.connect(self.save_key)
        self.save_key_button = QPushButton("Save key")
        self.save_key_button.clicked.connect(self.save_key)
        self.remove_key_button = QPushButton("Remove key")
        self.remove_key_button.clicked.connect(self.remove_key)
        self.key_message = QLabel("")
        self.key_message.setWordWrap(True)
        key_box = QGroupBox("API key")
        key_form = QFormLayout(key_box)
        key_form.addRow(self.backend_label)
        key_form.addRow("Current key", self.key_status)
        row = QHBoxLayout()
        row.addWidget(self.key_field, 1)
        row.addWidget(self.save_key_button)
        row.addWidget(self.remove_key_button)
        key_form.addRow("New key", row)
        key_form.addRow(self.key_message)

        side = QVBoxLayout()
        side.addWidget(self.selected_label)
        side.addWidget(test_box)
        side.addWidget(key_box)
        side.addStretch(1)
        layout = QHBoxLayout(self)
        layout.addWidget(self.editor, 3)
        layout.addLayout(side, 2)
        self._selection_changed()

    # -- table ---------------------------------------------------------------------

    def load(self, providers: dict[str, dict[str, Any]]) -> None:
        """Show ``providers``, keeping the selected one selected."""
        keep = self.selected()
        self.editor.load(providers)
        if keep in providers:
            self.select(keep)
        elif self.editor.table.rowCount():
            self.editor.table.selectRow(0)
        self.refresh_keys()

    def providers(self) -> dict[str, dict[str, Any]]:
        return self.editor.providers()

    def selected(self) -> str | None:
        rows = {i.row() for i in self.editor.table.selectedIndexes()}
        return self.editor.cells(min(rows))[0] or None if rows else None

    def select(self, name: str) -> None:
        for row in range(self.editor.table.rowCount()):
            if self.editor.cells(row)[0] == name:
                self.editor.table.selectRow(row)

    def _selection_changed(self) -> None:
        name = self.selected()
        for widget in (self.test_button, self.save_key_button, self.remove_key_button):
            widget.setEnabled(name is not None)
        self.key_field.setEnabled(name is not None)
        self.selected_label.setText(f"Provider: {name}" if name else "Select a provider")
        self.test_result.setText("")
        self.models.clear()
        self._show_key_status()

    # -- connection test -----------------------------------------------------------

    def test_connection(self) -> None:
        name = self.selected()
        if name is None:
            return
        if name not in self.bridge.engine.config.providers:
            self.test_result.setText(f"Save the settings first: {name} is not in use yet.")
            return
        self.test_result.setText(f"Asking {name} for its models…")
        self.test_button.setEnabled(False)
        self.bridge.run(
            self.bridge.engine.list_models(name),
            on_result=lambda models: self._tested(name, models, None),
            on_error=lambda error: self._tested(name, [], error),
        )

    def _tested(self, name: str, models: list[str], error: BaseException | None) -> None:
        self.test_button.setEnabled(self.selected() is not None)
        if name != self.selected():
            return
        self.last_models = list(models)
        self.models.clear()
        if error is not None:
            self.test_result.setText(f"✗ {describe_error(error)}")
            return
        self.models.addItems(models)
        self.test_result.setText(f"✓ Connected: {len(models)} model{'s' * (len(models) != 1)}")

    # -- keys ----------------------------------------------------------------------

    def _provider_configs(self) -> dict[str, ProviderConfig]:
        out = {}
        for name, fields in self.providers().items():
            try:
                out[name] = ProviderConfig.model_validate(fields)
            except ValidationError:
                continue
        return out

    def refresh_keys(self) -> None:
        self.bridge.call(
            self.keys.status,
            self._provider_configs(),
            on_result=self._statuses,
            on_error=self._key_error,
        )

    def _statuses(self, statuses: list[KeyStatus]) -> None:
        self.statuses = {s.name: s for s in statuses}
        self._show_key_status()

    def _show_key_status(self) -> None:
        status = self.statuses.get(self.selected() or "")
        if status is None:
            self.key_status.setText("–")
        elif not status.needs_key:
            self.key_status.setText("not needed for this kind")
        elif not status.has_key:
            self.key_status.setText("none")
        else:
            where = {"keyring": "OS keyring", "session": "this session only"}.get(
                str(status.source), str(status.source).replace("env:", "environment ")
            )
            self.key_status.setText(f"{status.masked} (from {where})")

    def save_key(self) -> None:
        name, key = self.selected(), self.key_field.text()
        self.key_field.clear()
        if name is None or not key.strip():
            self.key_message.setText("Type or paste a key first.")
            return
        self.key_message.setText("Saving…")
        self.bridge.call(self.keys.set, name, key, on_result=self._saved, on_error=self._key_error)

    def _saved(self, result: KeySaveResult) -> None:
        self.key_message.setText(("✓ " if result.saved else "⚠ ") + result.message)
        self.refresh_keys()
        self.keys_changed.emit()

    def remove_key(self) -> None:
        name = self.selected()
        if name is None:
            return
        self.bridge.call(
            self.keys.delete,
            name,
            on_result=lambda gone: self._removed(name, gone),
            on_error=self._key_error,
        )

    def _removed(self, name: str, gone: bool) -> None:
        self.key_message.setText(
            f"Key for {name} removed." if gone else f"There was no saved key for {name}."
        )
        self.refresh_keys()
        self.keys_changed.emit()

    def _key_error(self, error: BaseException) -> None:
        self.key_message.setText(f"✗ {describe_error(error)}")
