"""KeyStore, masking and redaction, against an in-memory keyring backend."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest
from keyring.backend import KeyringBackend
from keyring.backends import chainer, fail, null
from keyring.errors import KeyringLocked, PasswordDeleteError

from core.config import ProviderConfig
from core.errors import InputError, KeyringError
from core.keys import KEYRING_SERVICE, KeyStore, RedactingFilter, mask_key, redact
from core.types import Secret

KEY = "sk-proj-abcdefghijklmnop1234WXYZ"
OTHER = "sk-ant-api03-zyxwvutsrqponm9876"


class MemoryBackend(KeyringBackend):
    """A keyring that lives in a dict."""

    # keyring registers every backend subclass; a negative priority keeps
    # keyring.get_keyring() from ever choosing this one for the whole process.
    priority = -10

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.data.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.data[service, username] = password

    def delete_password(self, service: str, username: str) -> None:
        if (service, username) not in self.data:
            raise PasswordDeleteError("not found")
        del self.data[service, username]


class LockedBackend(MemoryBackend):
    """Every operation fails the way a locked Secret Service collection does."""

    def get_password(self, service: str, username: str) -> str | None:
        raise KeyringLocked(f"locked while reading {KEY}")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise KeyringLocked("locked")

    def delete_password(self, service: str, username: str) -> None:
        raise KeyringLocked("locked")


class PlaintextKeyring(MemoryBackend):
    """Looks like keyrings.alt's plaintext file backend."""


PlaintextKeyring.__module__ = "keyrings.alt.file"


class OtherPlaintextKeyring(MemoryBackend):
    """A third-party backend that says it is plaintext."""


class FixedChain(chainer.ChainerBackend):
    """A chainer over a given list instead of every installed backend."""

    priority = -10  # see MemoryBackend

    def __init__(self, members: list[KeyringBackend]) -> None:
        super().__init__()
        self._members = members

    @property
    def backends(self) -> list[KeyringBackend]:  # type: ignore[override]
        return self._members


@pytest.fixture
def backend() -> MemoryBackend:
    return MemoryBackend()


@pytest.fixture
def env() -> dict[str, str]:
    return {}


@pytest.fixture
def store(backend: MemoryBackend, env: dict[str, str]) -> KeyStore:
    return KeyStore(backend, environ=env)


def no_backend_store(env: dict[str, str] | None = None) -> KeyStore:
    return KeyStore(fail.Keyring(), environ={} if env is None else env)


# --- lookup order -------------------------------------------------------------------


def test_keyring_wins_over_env(store: KeyStore, env: dict[str, str]) -> None:
    env["OPENAI_API_KEY"] = OTHER
    assert store.set("openai", KEY).saved
    secret = store.get("openai", None, "openai")
    assert secret is not None and secret.reveal() == KEY


def test_key_saved_under_centwise_service(store: KeyStore, backend: MemoryBackend) -> None:
    store.set("work-openai", f"  {KEY}\n")
    assert backend.data == {(KEYRING_SERVICE, "work-openai"): KEY}


def test_api_key_env_replaces_kind_default(store: KeyStore, env: dict[str, str]) -> None:
    env["OPENAI_API_KEY"] = OTHER
    assert store.get("openai", "MY_KEY", "openai") is None
    env["MY_KEY"] = KEY
    secret = store.get("openai", "MY_KEY", "openai")
    assert secret is not None and secret.reveal() == KEY


@pytest.mark.parametrize(
    ("kind", "var"), [("openai", "OPENAI_API_KEY"), ("anthropic", "ANTHROPIC_API_KEY")]
)
def test_env_var_by_kind(store: KeyStore, env: dict[str, str], kind: str, var: str) -> None:
    env[var] = KEY
    secret = store.get("x", None, kind)
    assert secret is not None and secret.reveal() == KEY
    assert store.get("x", None, "openai-compatible") is None


def test_gemini_prefers_gemini_key_then_google(store: KeyStore, env: dict[str, str]) -> None:
    env["GOOGLE_API_KEY"] = OTHER
    assert store.get("g", None, "gemini").reveal() == OTHER  # type: ignore[union-attr]
    env["GEMINI_API_KEY"] = KEY
    assert store.get("g", None, "gemini").reveal() == KEY  # type: ignore[union-attr]


def test_blank_env_var_counts_as_unset(store: KeyStore, env: dict[str, str]) -> None:
    env["OPENAI_API_KEY"] = "   "
    assert store.get("openai", None, "openai") is None


def test_session_key_comes_after_env() -> None:
    env: dict[str, str] = {}
    store = no_backend_store(env)
    store.set("openai", KEY)
    assert store.get("openai", None, "openai").reveal() == KEY  # type: ignore[union-attr]
    env["OPENAI_API_KEY"] = OTHER
    assert store.get("openai", None, "openai").reveal() == OTHER  # type: ignore[union-attr]


def test_saving_to_keyring_drops_the_session_copy(backend: MemoryBackend) -> None:
    store = KeyStore(LockedBackend(), environ={})
    assert store.set("openai", OTHER).source == "session"
    store._backend = backend  # the keyring got unlocked
    store.set("openai", KEY)
    store._backend = None
    assert store.get("openai", None, "openai") is None


def test_empty_key_is_refused(store: KeyStore) -> None:
    with pytest.raises(InputError, match="empty"):
        store.set("openai", " \n")


# --- status and masking -------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "masked"),
    [
        (KEY, "sk-…WXYZ"),
        ("AIzaSyA1234567890abcdefQRST", "…QRST"),
        ("sk-abcdefgh", "sk-…gh"),
        ("abcdefgh", "…gh"),
        ("abc", "…"),
    ],
)
def test_mask_shows_at_most_last_four(key: str, masked: str) -> None:
    assert mask_key(key) == masked
    assert key[-5:] not in mask_key(key)


def test_status_names_source_and_masks(store: KeyStore, env: dict[str, str]) -> None:
    env["ANTHROPIC_API_KEY"] = OTHER
    store.set("openai", KEY)
    providers = {
        "simulator": ProviderConfig(kind="simulator"),
        "openai": ProviderConfig(kind="openai"),
        "claude": ProviderConfig(kind="anthropic"),
        "gemini": ProviderConfig(kind="gemini"),
    }
    rows = {s.name: s for s in store.status(providers)}
    assert list(rows) == list(providers)
    assert (rows["openai"].has_key, rows["openai"].source, rows["openai"].masked) == (
        True,
        "keyring",
        "sk-…WXYZ",
    )
    assert rows["claude"].source == "env:ANTHROPIC_API_KEY"
    assert rows["claude"].masked == "sk-…9876"
    assert (rows["gemini"].has_key, rows["gemini"].source, rows["gemini"].masked) == (
        False,
        None,
        None,
    )
    assert not rows["simulator"].needs_key and rows["gemini"].needs_key
    assert KEY not in repr(rows) and OTHER not in repr(rows)


def test_status_reports_session_keys() -> None:
    store = no_backend_store()
    store.set("openai", KEY)
    (row,) = store.status({"openai": ProviderConfig(kind="openai")})
    assert row.source == "session" and row.has_key


# --- delete -------------------------------------------------------------------------


def test_delete_removes_the_saved_key(store: KeyStore, backend: MemoryBackend) -> None:
    store.set("openai", KEY)
    assert store.delete("openai") is True
    assert backend.data == {}
    assert store.get("openai", None, "openai") is None
    assert store.delete("openai") is False


def test_delete_leaves_env_keys_visible(store: KeyStore, env: dict[str, str]) -> None:
    env["OPENAI_API_KEY"] = KEY
    assert store.delete("openai") is False
    (row,) = store.status({"openai": ProviderConfig(kind="openai")})
    assert row.source == "env:OPENAI_API_KEY"


def test_delete_session_key_without_backend() -> None:
    store = no_backend_store()
    store.set("openai", KEY)
    assert store.delete("openai") is True
    assert store.get("openai", None, "openai") is None


def test_delete_on_failing_keyring_raises_keyring_error() -> None:
    store = KeyStore(LockedBackend(), environ={})
    with pytest.raises(KeyringError, match="locked") as info:
        store.delete("openai")
    assert KEY not in str(info.value)


# --- no usable backend --------------------------------------------------------------


@pytest.mark.parametrize("dead", [fail.Keyring(), null.Keyring(), FixedChain([])])
def test_no_backend_is_explained(dead: KeyringBackend) -> None:
    ok, why = KeyStore(dead, environ={}).backend_available()
    assert not ok
    assert why.startswith("No OS keyring is available (no Secret Service / Keychain")
    assert "session only and is NOT saved" in why and "OPENAI_API_KEY" in why


def test_available_backend_is_named(store: KeyStore) -> None:
    ok, why = store.backend_available()
    assert ok and "OS keyring" in why


def test_plaintext_backend_is_refused() -> None:
    plain = PlaintextKeyring()
    store = KeyStore(plain, environ={})
    ok, why = store.backend_available()
    assert not ok and "keyrings.alt.file.PlaintextKeyring" in why and "refuses" in why
    result = store.set("openai", KEY)
    assert (result.saved, result.source) == (False, "session")
    assert plain.data == {}


def test_any_backend_named_plaintext_is_refused() -> None:
    ok, why = KeyStore(OtherPlaintextKeyring(), environ={}).backend_available()
    assert not ok and "OtherPlaintextKeyring" in why


def test_chain_uses_only_its_secure_member(backend: MemoryBackend) -> None:
    plain = PlaintextKeyring()
    store = KeyStore(FixedChain([plain, backend]), environ={})
    assert store.backend_available()[0]
    store.set("openai", KEY)
    assert plain.data == {} and backend.data


def test_chain_of_plaintext_only_says_why() -> None:
    _ok, why = KeyStore(FixedChain([PlaintextKeyring()]), environ={}).backend_available()
    assert "refuses" in why


def test_without_backend_key_stays_in_memory_and_no_file_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dirs = {
        name: tmp_path / name.lower()
        for name in ("HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME")
    }
    for name, path in dirs.items():
        path.mkdir()
        monkeypatch.setenv(name, str(path))
    monkeypatch.chdir(tmp_path / "home")
    store = no_backend_store()
    result = store.set("openai", KEY)
    assert (result.saved, result.source) == (False, "session")
    assert "NOT saved" in result.message
    assert store.get("openai", None, "openai").reveal() == KEY  # type: ignore[union-attr]
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
    assert KeyStore(fail.Keyring(), environ={}).get("openai", None, "openai") is None


def test_failing_keyring_set_falls_back_to_session() -> None:
    result = KeyStore(LockedBackend(), environ={}).set("openai", KEY)
    assert (result.saved, result.source) == (False, "session")
    assert "KeyringLocked" in result.message and KEY not in result.message


def test_failing_keyring_read_falls_through_without_logging_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = KeyStore(LockedBackend(), environ={"OPENAI_API_KEY": OTHER})
    with caplog.at_level(logging.WARNING, logger="core.keys"):
        assert store.get("openai", None, "openai").reveal() == OTHER  # type: ignore[union-attr]
    assert "KeyringLocked" in caplog.text and KEY not in caplog.text


# --- secrets never show -------------------------------------------------------------


def test_key_not_in_reprs(store: KeyStore) -> None:
    store.set("openai", KEY)
    secret = store.get("openai", None, "openai")
    assert KEY not in repr(secret) and KEY not in str(secret)
    assert KEY not in repr(store) and "openai" not in repr(store)


def test_redact_full_key_and_tail() -> None:
    text = f"Authorization: Bearer {KEY}; echoed tail {KEY[-8:]}; other {OTHER[:10]}"
    out = redact(text, [Secret(KEY), "short-key12"])
    assert KEY not in out and KEY[-8:] not in out
    assert out == f"Authorization: Bearer ***; echoed tail ***; other {OTHER[:10]}"


def test_redact_short_secret_has_no_tail_rule() -> None:
    secret = "abcdefghijkl"  # 12 characters: only the whole key is replaced
    assert redact(f"x {secret} {secret[-8:]}", [secret]) == f"x *** {secret[-8:]}"


def test_redact_ignores_empty_secrets() -> None:
    assert redact("nothing to hide", ["", Secret("")]) == "nothing to hide"


def _logger_with_filter(flt: RedactingFilter) -> tuple[logging.Logger, io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(flt)
    logger = logging.getLogger(f"centwise.test.redact.{id(out)}")
    logger.propagate = False
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    return logger, out


def test_filter_redacts_args_tracebacks_and_stacks() -> None:
    logger, out = _logger_with_filter(RedactingFilter([Secret(KEY)]))
    logger.info("sending key=%s header=%r", KEY, {"x-api-key": KEY})
    try:
        raise RuntimeError(f"401 for key {KEY}")
    except RuntimeError:
        logger.exception("call failed", stack_info=True)
    text = out.getvalue()
    assert KEY not in text and KEY[-8:] not in text
    assert "sending key=***" in text and "RuntimeError: 401 for key ***" in text


def test_filter_follows_keys_added_later(store: KeyStore) -> None:
    logger, out = _logger_with_filter(RedactingFilter(source=store.known_secrets))
    store.set("openai", KEY)
    logger.warning("body %s", KEY)
    assert out.getvalue() == "body ***\n"


def test_filter_leaves_clean_records_alone() -> None:
    logger, out = _logger_with_filter(RedactingFilter([KEY]))
    logger.warning("%d tokens", 42)
    assert out.getvalue() == "42 tokens\n"
