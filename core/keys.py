"""API keys: kept in the OS keyring, never in a file Centwise writes.

Lookup order for a provider's key (:meth:`KeyStore.get`):

1. the OS keyring (service ``"centwise"``, one entry per provider name);
2. the environment: the provider's ``api_key_env`` if set, otherwise the usual
   variable for its kind (``OPENAI_API_KEY``, ``ANTHROPIC_API_KEY``,
   ``GEMINI_API_KEY`` then ``GOOGLE_API_KEY``);
3. keys typed in this session that could not be saved (no usable keyring).

A backend that would store keys in a plain file (``keyrings.alt``) is treated as no
backend at all: the key then lives in this process only and the user is told so.
:func:`redact` and :class:`RedactingFilter` keep keys out of logs and messages.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

import keyring
import keyring.errors
from keyring.backend import KeyringBackend
from keyring.backends import chainer, fail, null

from core.config import CentwiseConfig, ProviderConfig
from core.errors import InputError, KeyringError
from core.types import Secret

__all__ = [
    "KEYRING_SERVICE",
    "VIRTUAL_PREFIX",
    "KeySaveResult",
    "KeyStatus",
    "KeyStore",
    "RedactingFilter",
    "hash_key",
    "log_warnings_redacted",
    "mask_key",
    "new_virtual_key",
    "redact",
    "secret_values",
]

log = logging.getLogger(__name__)

KEYRING_SERVICE = "centwise"

#: Environment variables tried, in order, when a provider sets no ``api_key_env``.
_ENV_BY_KIND: dict[str, tuple[str, ...]] = {
    "openai": ("OPENAI_API_KEY",),
    "anthropic": ("ANTHROPIC_API_KEY",),
    "gemini": ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
}
_KEYLESS_KINDS = frozenset({"simulator", "ollama"})

_SESSION_ONLY = (
    "The key will be used for this session only and is NOT saved. Install and unlock "
    "gnome-keyring (or KWallet), or set OPENAI_API_KEY / ANTHROPIC_API_KEY / "
    "GEMINI_API_KEY in the environment before starting Centwise."
)
_NO_BACKEND = (
    "No OS keyring is available (no Secret Service / Keychain / Credential Locker). "
    + _SESSION_ONLY
)

KeySource = Literal["keyring", "session"] | str  # or "env:NAME"


@dataclass(frozen=True, slots=True)
class KeyStatus:
    """What the settings screen may show about one provider's key (never the key)."""

    name: str
    has_key: bool
    source: KeySource | None
    masked: str | None
    needs_key: bool = True


@dataclass(frozen=True, slots=True)
class KeySaveResult:
    """Where :meth:`KeyStore.set` put the key; ``message`` is for the user."""

    provider: str
    saved: bool
    source: KeySource
    message: str


#: Virtual gateway keys (``centwise keys gateway create``) start with this.
VIRTUAL_PREFIX = "cwk-"


def new_virtual_key() -> str:
    """A new virtual gateway key: 256 random bits, so a plain SHA-256 keeps it safe."""
    return VIRTUAL_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """What the database keeps of a virtual key: its SHA-256, hex."""
    return hashlib.sha256(key.strip().encode()).hexdigest()


def mask_key(key: str) -> str:
    """``sk-…abcd``: a known ``sk-`` prefix and at most the last 4 characters.

    Short keys show fewer (a quarter of their length at most), so a mask never
    gives away a meaningful part of a key.
    """
    prefix = "sk-" if key.startswith("sk-") else ""
    shown = min(4, (len(key) - len(prefix)) // 4)
    return prefix + "…" + (key[-shown:] if shown > 0 else "")


def _refusal(backend: KeyringBackend) -> str | None:
    """Why ``backend`` cannot hold keys, or None when it can."""
    cls = type(backend)
    if isinstance(backend, fail.Keyring | null.Keyring):
        return _NO_BACKEND
    if cls.__module__.startswith("keyrings.alt") or "plaintext" in cls.__name__.lower():
        return (
            f"The active keyring backend ({cls.__module__}.{cls.__name__}) keeps keys in a "
            "file on disk, which Centwise refuses to use. " + _SESSION_ONLY
        )
    return None


def _resolve(backend: KeyringBackend) -> tuple[KeyringBackend | None, str]:
    """The backend to use (None for none) and a sentence explaining the choice."""
    if isinstance(backend, chainer.ChainerBackend):
        members = list(backend.backends)
        usable = [b for b in members if _refusal(b) is None]
        if not usable:
            reasons = [r for b in members if (r := _refusal(b)) and r != _NO_BACKEND]
            return None, reasons[0] if reasons else _NO_BACKEND
        # Use the best secure member alone: the chainer could fall through to a
        # plaintext file backend on write.
        backend = usable[0]
    reason = _refusal(backend)
    if reason is not None:
        return None, reason
    return backend, f"Keys are saved in the OS keyring ({type(backend).name})."


class KeyStore:
    """API keys by provider name: OS keyring, then environment, then this session.

    ``backend`` defaults to :func:`keyring.get_keyring`; tests pass their own so the
    process-wide keyring is never touched. ``environ`` defaults to ``os.environ``.
    """

    def __init__(
        self,
        backend: KeyringBackend | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        service: str = KEYRING_SERVICE,
    ) -> None:
        self._backend, self._explanation = _resolve(
            backend if backend is not None else keyring.get_keyring()
        )
        self._environ = environ
        self._service = service
        self._session: dict[str, str] = {}
        self._seen: set[str] = set()

    def __repr__(self) -> str:
        backend = type(self._backend).__name__ if self._backend else None
        return f"KeyStore(backend={backend}, session_keys={sorted(self._session)})"

    def backend_available(self) -> tuple[bool, str]:
        """Whether keys can be saved, and a sentence saying where or why not."""
        return self._backend is not None, self._explanation

    def get(self, provider: str, api_key_env: str | None, kind: str) -> Secret | None:
        """The key for ``provider`` from the first source that has one."""
        found = self._lookup(provider, api_key_env, kind)
        return Secret(found[0]) if found else None

    def set(self, provider: str, key: str) -> KeySaveResult:
        """Save ``key`` in the keyring; without a usable one, keep it for this session.

        The result says which happened. A key is never written to any file.
        """
        key = key.strip()
        if not key:
            raise InputError(f"the API key for {provider!r} is empty", provider=provider)
        self._seen.add(key)
        if self._backend is not None:
            try:
                self._backend.set_password(self._service, provider, key)
            except Exception as e:  # backends raise their own types (dbus, locked, ...)
                reason = f"The OS keyring refused the key ({type(e).__name__}). "
                return self._keep_in_session(provider, key, reason + _SESSION_ONLY)
            self._session.pop(provider, None)
            return KeySaveResult(
                provider, True, "keyring", f"Key for {provider} saved in the OS keyring."
            )
        return self._keep_in_session(provider, key, self._explanation)

    def delete(self, provider: str) -> bool:
        """Forget the saved and session key; True if there was one. Env vars stay."""
        removed = self._session.pop(provider, None) is not None
        if self._backend is None:
            return removed
        try:
            if self._backend.get_password(self._service, provider) is None:
                return removed
            self._backend.delete_password(self._service, provider)
        except Exception as e:  # backends raise their own types (dbus, locked, ...)
            raise KeyringError(
                f"could not delete the key for {provider} from the OS keyring "
                f"({type(e).__name__}); it may be locked",
                provider=provider,
            ) from None
        return True

    def status(self, providers: Mapping[str, ProviderConfig]) -> list[KeyStatus]:
        """One :class:`KeyStatus` per configured provider, in the given order."""
        out = []
        for name, cfg in providers.items():
            found = self._lookup(name, cfg.api_key_env, cfg.kind)
            needs = cfg.kind not in _KEYLESS_KINDS
            if found is None:
                out.append(KeyStatus(name, False, None, None, needs))
            else:
                out.append(KeyStatus(name, True, found[1], mask_key(found[0]), needs))
        return out

    def lookup_for(self, config: CentwiseConfig) -> Callable[[str], Secret | None]:
        """The engine's ``key_lookup`` for ``config``: a provider's key by its name,
        its ``api_key_env`` and its kind (what the CLI, the gateway and the app pass to
        :meth:`core.engine.Engine.open`)."""

        def lookup(name: str) -> Secret | None:
            settings = config.providers[name]
            return self.get(name, settings.api_key_env, settings.kind)

        return lookup

    def known_secrets(self) -> list[str]:
        """Every key this store has handed out or been given, for :class:`RedactingFilter`."""
        return list(self._seen)

    def _keep_in_session(self, provider: str, key: str, message: str) -> KeySaveResult:
        self._session[provider] = key
        return KeySaveResult(provider, False, "session", message)

    def _lookup(self, provider: str, api_key_env: str | None, kind: str) -> tuple[str, str] | None:
        """``(key, source)`` from the first source that has a non-empty key."""
        value = self._from_keyring(provider)
        if value:
            return self._found(value, "keyring")
        environ = os.environ if self._environ is None else self._environ
        names = (api_key_env,) if api_key_env else _ENV_BY_KIND.get(kind, ())
        for var in names:
            value = environ.get(var, "").strip()
            if value:
                return self._found(value, f"env:{var}")
        value = self._session.get(provider)
        return self._found(value, "session") if value else None

    def _from_keyring(self, provider: str) -> str | None:
        if self._backend is None:
            return None
        try:
            return self._backend.get_password(self._service, provider)
        except Exception as e:  # a locked or broken keyring must not stop the app
            log.warning(
                "could not read %s's key from the OS keyring: %s", provider, type(e).__name__
            )
            return None

    def _found(self, value: str, source: str) -> tuple[str, str]:
        self._seen.add(value)
        return value, source


def secret_values(secrets: Iterable[Secret | str]) -> list[str]:
    values = {s.reveal() if isinstance(s, Secret) else s for s in secrets}
    patterns = set()
    for v in values:
        if v:
            patterns.add(v)
            if len(v) > 12:
                patterns.add(v[-8:])
    return sorted(patterns, key=len, reverse=True)


def redact(text: str, secrets: Iterable[Secret | str]) -> str:
    """``text`` with each secret, and the last 8 characters of any secret longer than
    12, replaced by ``***``."""
    patterns = secret_values(secrets)
    if not patterns or not text:
        return text
    return re.sub("|".join(map(re.escape, patterns)), "***", text)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts secrets from messages, tracebacks and stacks.

    Attach it to *handlers*: a filter on a logger does not see records propagated
    from its child loggers. ``source`` (e.g. :meth:`KeyStore.known_secrets`) is
    asked for the current secrets on every record, so keys added later are covered.
    """

    def __init__(
        self,
        secrets: Iterable[Secret | str] = (),
        *,
        source: Callable[[], Iterable[Secret | str]] | None = None,
    ) -> None:
        super().__init__()
        self._secrets: list[Secret | str] = list(secrets)
        self._source = source

    def add(self, secret: Secret | str) -> None:
        """Redact ``secret`` from now on."""
        self._secrets.append(secret)

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = [*self._secrets, *(self._source() if self._source else ())]
        if not secrets:
            return True
        message = record.getMessage()
        cleaned = redact(message, secrets)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, secrets)
        return True


def log_warnings_redacted(keys: KeyStore) -> None:
    """Warnings from the engine (loggers under ``core``) go to stderr as
    ``centwise: LEVEL: message``, with every key ``keys`` knows redacted."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("centwise: %(levelname)s: %(message)s"))
    handler.addFilter(RedactingFilter(source=keys.known_secrets))
    handler.setLevel(logging.WARNING)
    root = logging.getLogger("core")
    root.handlers = [handler]
    root.propagate = False
