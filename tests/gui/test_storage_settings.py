"""Settings → Storage: switching to a team PostgreSQL only after a connection test, the
password in the OS keyring (never the config file), the env override, gateway keys."""

from __future__ import annotations

import contextlib
import gc
import warnings
from pathlib import Path

import keyring
import pytest

from core.errors import KeyringError

pytest.importorskip("PySide6")

from PySide6.QtWidgets import QLineEdit

from app.settings.gateway_keys import KEY_COLUMNS
from app.settings.view import SettingsView
from core.config import load_config
from core.engine import Engine
from core.keys import KEYRING_SERVICE, KeyStore
from core.ledger.selection import DATABASE_KEY, ENV_URL
from tests.gui.conftest import no_keyring
from tests.keyring_service import SecretService, fresh_backend
from tests.pg_server import PASSWORD, PgServer


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    return tmp_path / "config" / "config.toml"


def make_view(qtbot, bridge, config_path: Path, keys: KeyStore) -> SettingsView:
    engine = bridge.engine

    def opener(config):
        return Engine.open(config, engine.data_dir, events=engine.events)

    view = SettingsView(bridge, keys, config_path, opener)
    qtbot.addWidget(view)
    view.tabs.setCurrentWidget(view.storage)
    view.resize(1100, 700)
    view.show()
    return view


@pytest.mark.keyring
def test_switch_to_postgresql_after_a_test_password_in_the_keyring(
    qtbot,
    make_bridge,
    config_path,
    tmp_path,
    pg_server: PgServer,
    pg_url: str,
    service: SecretService,
):
    bridge = make_bridge()
    keys = KeyStore(fresh_backend(), environ={})
    view = make_view(qtbot, bridge, config_path, keys)
    storage = view.storage
    assert storage.where_label.text().endswith("ledger.sqlite")
    assert storage.local_choice.isChecked() and not storage.url_field.isEnabled()
    assert storage.password_field.echoMode() == QLineEdit.EchoMode.Password
    assert not storage.env_label.isVisible()

    url = pg_server.url(pg_url.rsplit("/", 1)[1], password=False)
    storage.team_choice.setChecked(True)
    storage.url_field.setText(pg_url)  # a password in the URL: the parser's message
    assert "holds a password" in view.problem_label.text()
    assert not view.save_button.isEnabled()
    storage.test_button.click()
    assert "holds a password" in storage.test_result.text()

    storage.url_field.setText(url)
    assert "test the connection" in view.problem_label.text()
    assert not view.save_button.isEnabled()

    previous = keyring.get_keyring()
    try:
        storage.password_field.setText("not-the-password")
        storage.test_button.click()
        assert storage.password_field.text() == ""  # cleared at once
        qtbot.waitUntil(lambda: storage.test_result.text().startswith("✗"), timeout=10000)
        assert "password" in storage.test_result.text()
        assert "test the connection" in view.problem_label.text()
        assert not view.save_button.isEnabled()
        assert fresh_backend().get_password(KEYRING_SERVICE, DATABASE_KEY) is None

        storage.password_field.setText(PASSWORD)
        storage.test_button.click()
        qtbot.waitUntil(lambda: storage.test_result.text().startswith("✓"), timeout=10000)
        assert "Connected to PostgreSQL" in storage.test_result.text()
        assert "saved in the OS keyring" in storage.test_result.text()
        assert fresh_backend().get_password(KEYRING_SERVICE, DATABASE_KEY) == PASSWORD
        qtbot.waitUntil(lambda: "a password is saved" in storage.password_status.text())
        assert view.problem_label.text().startswith("✓")
        assert view.save_button.isEnabled()

        # The re-opened engine reads the password as the app does: the OS keyring.
        keyring.set_keyring(fresh_backend())
        with qtbot.waitSignal(view.engine_reopened, timeout=15000) as reopened:
            assert view.save()
        assert load_config(config_path).storage.url == url
        files = [p for p in tmp_path.rglob("*") if p.is_file()]
        assert [p for p in files if PASSWORD.encode() in p.read_bytes()] == []
        engine = reopened.args[0]
        assert engine.storage.startswith("PostgreSQL")
        assert storage.where_label.text() == engine.storage
        assert storage.team_choice.isChecked() and storage.url_field.text() == url
        assert not view.save_button.isEnabled()

        storage.local_choice.setChecked(True)  # going back needs no test
        assert view.save_button.isEnabled()
        assert "url" not in view.draft()["storage"]
    finally:
        keyring.set_keyring(previous)
        # Cleanup only (the service is this test run's own): a Secret Service that
        # fails to answer here must not turn a passed test into a failure, and the
        # D-Bus sockets the keyring backends left open are closed now, not in a later
        # test's teardown.
        with contextlib.suppress(KeyringError):
            keys.delete(DATABASE_KEY)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            gc.collect()


def test_the_environment_url_overrides_and_its_password_is_hidden(
    qtbot, make_bridge, config_path, monkeypatch
):
    bridge = make_bridge()
    monkeypatch.setenv(ENV_URL, "postgresql://team:s3cret-pw@db.example:5432/ledger")
    view = make_view(qtbot, bridge, config_path, no_keyring())
    text = view.storage.env_label.text()
    assert ENV_URL in text and "overrides this setting" in text
    assert "s3cret-pw" not in text and "team:***@db.example:5432" in text
    assert view.storage.env_label.isVisible()


def test_gateway_keys_are_created_shown_once_and_revoked(qtbot, make_bridge, config_path):
    view = make_view(qtbot, make_bridge(), config_path, no_keyring())
    panel = view.storage.gateway_keys
    assert panel.table.columnCount() == len(KEY_COLUMNS)
    panel.name_field.setText("support-bot")
    panel.daily_field.setText("lots")
    panel.create_key()
    assert "daily limit must be a number" in panel.message.text()

    panel.daily_field.setText("1.50")
    panel.create_key()
    qtbot.waitUntil(lambda: panel.table.rowCount() == 1, timeout=5000)
    key = panel.new_key.text()
    assert key and panel.new_key.isReadOnly() and "not shown again" in panel.message.text()
    assert panel.table.item(0, 0).text() == "support-bot"
    assert panel.table.item(0, 2).text() == "$1.50"
    assert panel.table.item(0, 5).text() == "active"
    assert key not in "".join(panel.table.item(0, c).text() for c in range(len(KEY_COLUMNS)))

    panel.name_field.setText("support-bot")  # a live name is refused, with the reason
    panel.create_key()
    qtbot.waitUntil(lambda: panel.message.text().startswith("✗"), timeout=5000)
    assert "already exists" in panel.message.text()

    panel.table.selectRow(0)
    assert panel.revoke_button.isEnabled()
    panel.revoke_button.click()
    qtbot.waitUntil(lambda: panel.table.item(0, 5).text().startswith("revoked"), timeout=5000)
    assert "revoked" in panel.message.text()
    assert not panel.revoke_button.isEnabled()
