"""Where Centwise keeps its data, in the Settings view: this computer or a team database.

The panel edits ``[storage] url``. Switching to a PostgreSQL URL is allowed only after
*Test connection* succeeded for that very URL (:func:`core.ledger.selection.check_connection`,
run off the UI thread); going back to SQLite, or keeping the URL already in use, needs no
test. The password field is masked and never part of the draft: a password that just
connected is saved to the OS keyring entry ``database`` through the injected
:class:`core.keys.KeyStore`, never to the config file. ``CENTWISE_DATABASE_URL``, when
set, overrides the setting, and the panel says so.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from app.runtime.config_file import config_to_toml
from app.runtime.engine_bridge import EngineBridge
from app.runtime.error_text import describe_error
from app.settings.gateway_keys import GatewayKeysPanel
from core.config import parse_config
from core.errors import ConfigError
from core.keys import KeySaveResult, KeyStore
from core.ledger.selection import DATABASE_KEY, ENV_URL, check_connection, database_password

__all__ = ["ConnectionTest", "StoragePanel", "run_connection_test", "without_password"]

URL_HINT = "postgresql://user@host:5432/centwise"


@dataclass(frozen=True, slots=True)
class ConnectionTest:
    """What a successful test found, and where the typed password went (if one was)."""

    url: str
    message: str
    saved: KeySaveResult | None


def run_connection_test(url: str, typed_password: str, keys: KeyStore) -> ConnectionTest:
    """Connect to ``url`` with the typed password, else the saved one (else libpq's
    own sources); a typed password that connected is then saved in ``keys``.
    Blocking: run it off the UI thread."""
    password = typed_password or database_password(url, keys)
    message = check_connection(url, password)
    saved = keys.set(DATABASE_KEY, typed_password) if typed_password else None
    return ConnectionTest(url, message, saved)


def url_problem(url: str) -> str | None:
    """What the config parser says against ``url`` as ``[storage] url``, if anything."""
    try:
        parse_config(config_to_toml({"storage": {"url": url}}), "storage")
    except ConfigError as e:
        return str(e)
    return None


def without_password(url: str) -> str:
    """``url`` with any password in it replaced by ``***`` (for showing it)."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


class StoragePanel(QWidget):
    """This computer (SQLite) or a team database (PostgreSQL), with a connection test.

    ``changed`` fires when the choice or the URL changes, and when a test result
    changes whether the switch is allowed. Gateway keys of the storage in use are
    managed below (:class:`~app.settings.gateway_keys.GatewayKeysPanel`).
    """

    changed = Signal()

    def __init__(self, bridge: EngineBridge, keys: KeyStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.keys = keys
        self.loaded_url: str | None = None
        self.tested_url: str | None = None  # the last URL a test connected to
        self.last_test: ConnectionTest | None = None
        self._testing: str | None = None
        self._build()

    def _build(self) -> None:
        self.where_label = QLabel("")
        self.where_label.setWordWrap(True)
        self.where_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.env_label = QLabel("")
        self.env_label.setWordWrap(True)
        self.env_label.setObjectName("storage_env_override")

        self.local_choice = QRadioButton("This computer (SQLite)")
        self.team_choice = QRadioButton("Team database (PostgreSQL)")
        self.choice = QButtonGroup(self)
        self.choice.addButton(self.local_choice)
        self.choice.addButton(self.team_choice)
        self.local_choice.setChecked(True)
        self.team_choice.toggled.connect(self._edited)

        self.url_field = QLineEdit()
        self.url_field.setPlaceholderText(URL_HINT)
        self.url_field.setToolTip("No password in the URL: type it below, it goes to the keyring")
        self.url_field.setAccessibleName("Team database URL")
        self.url_field.textChanged.connect(self._edited)
        self.password_field = QLineEdit()
        self.password_field.setEchoMode(QLineEdit.EchoMode.Password)
        self.password_field.setPlaceholderText("Saved in the OS keyring once a test connects")
        self.password_field.setAccessibleName("Team database password")
        self.password_field.returnPressed.connect(self.test_connection)
        self.password_status = QLabel("–")
        self.password_status.setWordWrap(True)
        self.test_button = QPushButton("Test connection")
        self.test_button.setToolTip(
            "Connect as the ledger would (creates or upgrades its tables); a typed "
            "password that connects is saved in the OS keyring"
        )
        self.test_button.clicked.connect(self.test_connection)
        self.test_result = QLabel("")
        self.test_result.setWordWrap(True)
        self.test_result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        form = QFormLayout()
        form.addRow("In use now", self.where_label)
        form.addRow(self.env_label)
        form.addRow(self.local_choice)
        form.addRow(self.team_choice)
        form.addRow("Database URL", self.url_field)
        form.addRow("Password", self.password_field)
        form.addRow("Saved password", self.password_status)
        test_row = QHBoxLayout()
        test_row.addWidget(self.test_button)
        test_row.addWidget(self.test_result, 1)
        form.addRow(test_row)
        where = QGroupBox("Where data lives")
        where.setLayout(form)

        self.gateway_keys = GatewayKeysPanel(self.bridge)
        keys_box = QGroupBox("Gateway keys (in the storage in use)")
        QVBoxLayout(keys_box).addWidget(self.gateway_keys)

        layout = QVBoxLayout(self)
        layout.addWidget(where)
        layout.addWidget(keys_box, 1)

    # -- the draft ---------------------------------------------------------------

    def load(self, section: dict[str, Any]) -> None:
        """Show ``[storage]`` of the running config (after a revert or a save)."""
        self.loaded_url = section.get("url") or None
        self.blockSignals(True)
        (self.team_choice if self.loaded_url else self.local_choice).setChecked(True)
        self.url_field.setText(self.loaded_url or "")
        self.blockSignals(False)
        self.where_label.setText(self.bridge.engine.storage)
        env = os.environ.get(ENV_URL, "").strip()
        self.env_label.setText(
            f"⚠ {ENV_URL} is set ({without_password(env)}): it overrides this setting "
            "until it is unset."
            if env
            else ""
        )
        self.env_label.setVisible(bool(env))
        self._show_enabled()
        self.refresh_password_status()
        self.gateway_keys.refresh()

    def chosen_url(self) -> str | None:
        """The URL the draft asks for, None for this computer."""
        if not self.team_choice.isChecked():
            return None
        return self.url_field.text().strip() or None

    def apply(self, section: dict[str, Any]) -> None:
        """Write the choice into the draft's ``[storage]`` table."""
        url = self.chosen_url()
        if url is None:
            section.pop("url", None)
        else:
            section["url"] = url

    def problems(self) -> list[str]:
        """Why the draft may not switch storage yet (the parser judges the URL itself)."""
        if not self.team_choice.isChecked():
            return []
        url = self.chosen_url()
        if url is None:
            return [f"storage.url: type the team database's URL ({URL_HINT})"]
        if url != self.loaded_url and url != self.tested_url:
            return ["storage.url: test the connection to this database before switching to it"]
        return []

    def _edited(self) -> None:
        self._show_enabled()
        url = self.chosen_url()
        if url != self.tested_url and self._testing is None:
            self.test_result.setText("")
        self.changed.emit()

    def _show_enabled(self) -> None:
        team = self.team_choice.isChecked()
        for widget in (self.url_field, self.password_field):
            widget.setEnabled(team)
        self.test_button.setEnabled(team and self._testing is None)

    # -- the connection test -----------------------------------------------------

    def test_connection(self) -> None:
        """Test the URL off-thread; the result (or the error) shows beside the button."""
        url = self.chosen_url()
        if url is None or self._testing is not None:
            return
        problem = url_problem(url)
        if problem is not None:
            self.test_result.setText(f"✗ {problem}")
            return
        typed = self.password_field.text()
        self.password_field.clear()
        self._testing = url
        self._show_enabled()
        self.test_result.setText(f"Connecting to {url}…")
        self.bridge.call_slow(
            run_connection_test,
            url,
            typed,
            self.keys,
            on_result=self._tested,
            on_error=lambda error: self._failed(url, error),
        )

    def _tested(self, result: ConnectionTest) -> None:
        self._testing = None
        self._show_enabled()
        self.last_test = result
        self.tested_url = result.url
        text = f"✓ {result.message}"
        if result.saved is not None:
            text += (" " if result.saved.saved else " ⚠ ") + result.saved.message.replace(
                DATABASE_KEY, "the database", 1
            )
            self.refresh_password_status()
        self.test_result.setText(text)
        self.changed.emit()

    def _failed(self, url: str, error: BaseException) -> None:
        self._testing = None
        self._show_enabled()
        if self.tested_url == url:
            self.tested_url = None
        self.test_result.setText(f"✗ {describe_error(error)}")
        self.changed.emit()

    # -- the saved password ------------------------------------------------------

    def refresh_password_status(self) -> None:
        self.bridge.call(
            self.keys.get,
            DATABASE_KEY,
            None,
            DATABASE_KEY,
            on_result=self._show_password_status,
            on_error=lambda e: self.password_status.setText(f"✗ {describe_error(e)}"),
        )

    def _show_password_status(self, secret: object) -> None:
        self.password_status.setText(
            "a password is saved (OS keyring entry “database”)"
            if secret is not None
            else "none saved: PGPASSWORD or ~/.pgpass apply, if set"
        )
