"""``centwise keys`` and ``centwise models``: API keys in the OS keyring, model lists."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from decimal import Decimal, InvalidOperation
from typing import Any

from core.cli.common import EXIT_OK, EXIT_USAGE, open_engine, print_json
from core.config import config_from_env, load_config
from core.errors import InputError
from core.keys import KeyStore
from core.ledger.models import GatewayKey
from core.ledger.selection import DATABASE_KEY
from core.money import format_usd, usd_str

__all__ = ["register"]

_KNOWN_KINDS = ("openai", "anthropic", "gemini", "ollama")


def register(sub: Any) -> None:
    p = sub.add_parser("keys", help="API keys in the OS keyring (never shown, never on disk)")
    ksub = p.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    s = ksub.add_parser("set", help="save a key: typed at a hidden prompt, or piped on stdin")
    s.add_argument("provider")
    s.set_defaults(handler=run_set)
    ls = ksub.add_parser("list", help="which providers have a key, and where it comes from")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(handler=run_list)
    d = ksub.add_parser("delete", help="remove a provider's key from the keyring")
    d.add_argument("provider")
    d.set_defaults(handler=run_delete)
    g = ksub.add_parser(
        "gateway", help="virtual gateway keys: one per app, shown once, stored as a hash"
    )
    gsub = g.add_subparsers(dest="gateway_command", metavar="ACTION", required=True)
    gc = gsub.add_parser("create", help="issue a key (printed once; only its hash is kept)")
    gc.add_argument("name", help="the app's name: its requests are recorded under it")
    gc.add_argument("--daily-usd", metavar="X", type=_usd, help="a hard daily limit")
    gc.add_argument("--monthly-usd", metavar="Y", type=_usd, help="a hard monthly limit")
    gc.add_argument("--json", action="store_true")
    gc.set_defaults(handler=run_gateway_create)
    gl = gsub.add_parser("list", help="the keys: name, first letters, limits, state")
    gl.add_argument("--json", action="store_true")
    gl.set_defaults(handler=run_gateway_list)
    gr = gsub.add_parser("revoke", help="revoke a key; gateways refuse it within 5 s")
    gr.add_argument("name")
    gr.set_defaults(handler=run_gateway_revoke)
    m = sub.add_parser("models", help="list the models a provider offers")
    m.add_argument("provider", help="a provider name from the config")
    m.add_argument("--json", action="store_true")
    m.set_defaults(handler=run_models)


def _usd(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not an amount in dollars: {text!r}") from None
    if not value.is_finite() or value <= 0:
        raise argparse.ArgumentTypeError(f"the limit must be above $0, got {text!r}")
    return value


def _check_provider(args: argparse.Namespace) -> None:
    if args.provider == DATABASE_KEY:  # the team database's password
        return
    config = load_config(config_from_env(args.config))
    if args.provider not in config.providers and args.provider not in _KNOWN_KINDS:
        known = ", ".join([*sorted(set(config.providers) | set(_KNOWN_KINDS)), DATABASE_KEY])
        raise InputError(f"unknown provider {args.provider!r}; known: {known}")


def _read_key(provider: str) -> str:
    if sys.stdin.isatty():
        what = "Password for the team database" if provider == DATABASE_KEY else "API key"
        return getpass.getpass(f"{what} for {provider} (input hidden): ")
    return sys.stdin.readline()


def run_set(args: argparse.Namespace) -> int:
    _check_provider(args)
    store = KeyStore()
    result = store.set(args.provider, _read_key(args.provider))
    print(result.message, file=sys.stderr if not result.saved else sys.stdout)
    return EXIT_OK if result.saved else EXIT_USAGE


def run_list(args: argparse.Namespace) -> int:
    config = load_config(config_from_env(args.config))
    store = KeyStore()
    ok, why = store.backend_available()
    rows = store.status(config.providers)
    if args.json:
        print_json(
            {
                "keyring": {"available": ok, "detail": why},
                "providers": [
                    {"name": r.name, "has_key": r.has_key, "source": r.source, "masked": r.masked}
                    for r in rows
                ],
            }
        )
        return EXIT_OK
    print(why)
    for r in rows:
        if not r.needs_key:
            state = "no key needed"
        else:
            state = f"{r.masked} ({r.source})" if r.has_key else "no key"
        print(f"  {r.name:<20} {state}")
    return EXIT_OK


def run_delete(args: argparse.Namespace) -> int:
    _check_provider(args)
    removed = KeyStore().delete(args.provider)
    print(f"key for {args.provider} {'removed' if removed else 'was not in the keyring'}")
    return EXIT_OK


def _key_json(k: GatewayKey) -> dict[str, Any]:
    return {
        "name": k.name,
        "prefix": k.prefix,
        "daily_usd": usd_str(k.daily_usd),
        "monthly_usd": usd_str(k.monthly_usd),
        "created_at": k.created_at,
        "created_by": k.created_by,
        "revoked_at": k.revoked_at,
        "active": k.active,
    }


def _limits(k: GatewayKey) -> str:
    """``daily $2.000000, monthly $40.000000``: the key's own limits, or empty."""
    return ", ".join(
        f"{label} {format_usd(v)}"
        for label, v in (("daily", k.daily_usd), ("monthly", k.monthly_usd))
        if v is not None
    )


def run_gateway_create(args: argparse.Namespace) -> int:
    engine = open_engine(args)
    try:
        key, stored = engine.create_gateway_key(
            args.name, daily_usd=args.daily_usd, monthly_usd=args.monthly_usd
        )
    finally:
        engine.close()
    if args.json:
        print_json({"key": key, **_key_json(stored)})
        return EXIT_OK
    print(key)
    print(
        f"Gateway key {stored.name!r} created ({_limits(stored) or 'no limits of its own'})."
        " It is shown only now: only its hash is stored.",
        file=sys.stderr,
    )
    return EXIT_OK


def run_gateway_list(args: argparse.Namespace) -> int:
    engine = open_engine(args)
    try:
        keys = engine.gateway_keys()
    finally:
        engine.close()
    if args.json:
        print_json({"keys": [_key_json(k) for k in keys]})
        return EXIT_OK
    if not keys:
        print("no gateway keys; create one with `centwise keys gateway create NAME`")
    for k in keys:
        state = "active" if k.active else "revoked"
        print(f"  {k.name:<24} {k.prefix}…  {state:<8} {_limits(k) or 'no limits'}")
    return EXIT_OK


def run_gateway_revoke(args: argparse.Namespace) -> int:
    engine = open_engine(args)
    try:
        revoked = engine.revoke_gateway_key(args.name)
    finally:
        engine.close()
    if not revoked:
        raise InputError(f"there is no live gateway key named {args.name!r}")
    print(f"gateway key {args.name!r} revoked")
    return EXIT_OK


def run_models(args: argparse.Namespace) -> int:
    engine = open_engine(args)

    async def fetch() -> list[str]:
        try:
            return await engine.list_models(args.provider)
        finally:
            await engine.aclose()

    models = asyncio.run(fetch())
    if args.json:
        print_json({"provider": args.provider, "models": models})
    else:
        for name in models:
            print(name)
    return EXIT_OK
