"""Which ledger to open: the SQLite file in the data folder, or a shared PostgreSQL.

``CENTWISE_DATABASE_URL`` overrides ``[storage] url``; neither means SQLite, unchanged.
A URL without a password takes it from the OS keyring entry ``database`` (``centwise
keys set database``); without one there, psycopg (libpq) looks in ``PGPASSWORD`` and
``~/.pgpass`` as usual. The password is never read from, or written to, the config.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from core.config import CentwiseConfig
from core.errors import LedgerError
from core.events import EventHub
from core.keys import KeyStore
from core.ledger.store import Ledger

__all__ = [
    "DATABASE_KEY",
    "ENV_URL",
    "check_connection",
    "database_password",
    "database_url",
    "open_ledger",
]

ENV_URL = "CENTWISE_DATABASE_URL"
#: The keyring entry (KeyStore name) that holds the database password.
DATABASE_KEY = "database"


def database_url(config: CentwiseConfig) -> str | None:
    """The PostgreSQL URL in force, or None for the SQLite default."""
    env = os.environ.get(ENV_URL, "").strip()
    return env or config.storage.url


def database_password(url: str, keys: KeyStore | None = None) -> str | None:
    """The password for ``url``: its own (an env URL may hold one), else the keyring's
    ``database`` entry, else None (libpq's own sources then apply)."""
    if urlsplit(url).password:
        return None
    found = (keys or KeyStore()).get(DATABASE_KEY, None, DATABASE_KEY)
    return found.reveal() if found is not None else None


def open_ledger(
    config: CentwiseConfig,
    path: Path,
    *,
    recover: bool = False,
    full_check: bool = False,
    events: EventHub | None = None,
    url: str | None = None,
) -> Ledger:
    """The ledger ``config`` (or ``url``) names: PostgreSQL, else the file at ``path``."""
    url = url or database_url(config)
    if url is None:
        return Ledger.open(path, recover=recover, full_check=full_check, events=events)
    from core.ledger.postgres import PgLedger  # psycopg only loads in team mode

    return PgLedger.connect(url, password=database_password(url), events=events)


def check_connection(url: str, password: str | None = None) -> str:
    """Connect to ``url`` as the ledger would (creating or upgrading its schema) and
    close again; returns a sentence saying what is there. Raises the ledger's clear
    errors (wrong password, missing database, unreachable host) otherwise. Used by the
    Settings view before it switches storage."""
    from core.ledger.postgres import PgLedger

    if not url.startswith(("postgresql://", "postgres://")):
        raise LedgerError(f"expected a postgresql:// URL, got {url.split('://')[0]!r}")
    if password is None:
        password = database_password(url)
    with PgLedger.connect(url, password=password) as ledger:
        requests = ledger.count()
        found = "a new ledger" if not ledger.upgraded_from else f"{requests:,} requests"
        return f"Connected to {ledger.where}: {found}, schema version {ledger.schema_version}."
