"""KeyStore against a real Secret Service: a private D-Bus bus and gnome-keyring.

The daemons (tests/keyring_service.py) run for the session under a temporary HOME and
are stopped at the end. ``DBUS_SESSION_BUS_ADDRESS`` is set only while each test runs.
"""

from __future__ import annotations

import uuid

import pytest

from core.config import ProviderConfig
from core.keys import KEYRING_SERVICE, KeyStore
from tests.keyring_service import SecretService, fresh_backend

pytestmark = pytest.mark.keyring

KEY = "sk-proj-" + uuid.uuid4().hex + "LAST"


@pytest.fixture
def store(service: SecretService) -> KeyStore:
    return KeyStore(fresh_backend(), environ={})


@pytest.fixture
def provider() -> str:
    return f"openai-{uuid.uuid4().hex[:8]}"


def test_backend_is_available(store: KeyStore) -> None:
    ok, why = store.backend_available()
    assert ok, why
    assert "SecretService" in why


def test_set_get_delete_through_the_secret_service(store: KeyStore, provider: str) -> None:
    result = store.set(provider, KEY)
    assert (result.saved, result.source) == (True, "keyring"), result.message
    got = store.get(provider, None, "openai")
    assert got is not None and got.reveal() == KEY
    assert fresh_backend().get_password(KEYRING_SERVICE, provider) == KEY

    assert store.delete(provider) is True
    assert fresh_backend().get_password(KEYRING_SERVICE, provider) is None
    assert store.get(provider, None, "openai") is None
    assert store.delete(provider) is False


def test_a_new_store_reads_the_saved_key(store: KeyStore, provider: str) -> None:
    store.set(provider, KEY)
    try:
        reader = KeyStore(fresh_backend(), environ={})
        (row,) = reader.status({provider: ProviderConfig(kind="openai")})
        assert (row.has_key, row.source, row.masked) == (True, "keyring", "sk-…LAST")
    finally:
        store.delete(provider)


def test_key_is_in_no_file_under_home(
    store: KeyStore, service: SecretService, provider: str
) -> None:
    store.set(provider, KEY)
    try:
        files = [p for p in service.home.rglob("*") if p.is_file()]
        # gnome-keyring keeps its (encrypted) keyring here, so the scan is not vacuous
        assert any(p.suffix == ".keyring" for p in files), files
        needles = [KEY.encode(), KEY.encode("utf-16-le"), KEY[-8:].encode()]
        leaking = [p for p in files if any(n in p.read_bytes() for n in needles)]
        assert leaking == []
    finally:
        store.delete(provider)
