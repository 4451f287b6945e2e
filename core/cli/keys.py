"""``centwise keys`` and ``centwise models``: API keys in the OS keyring, model lists."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from typing import Any

from core.cli.common import EXIT_OK, EXIT_USAGE, open_engine, print_json
from core.config import config_from_env, load_config
from core.errors import InputError
from core.keys import KeyStore

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
    m = sub.add_parser("models", help="list the models a provider offers")
    m.add_argument("provider", help="a provider name from the config")
    m.add_argument("--json", action="store_true")
    m.set_defaults(handler=run_models)


def _check_provider(args: argparse.Namespace) -> None:
    config = load_config(config_from_env(args.config))
    if args.provider not in config.providers and args.provider not in _KNOWN_KINDS:
        known = ", ".join(sorted(set(config.providers) | set(_KNOWN_KINDS)))
        raise InputError(f"unknown provider {args.provider!r}; known: {known}")


def _read_key(provider: str) -> str:
    if sys.stdin.isatty():
        return getpass.getpass(f"API key for {provider} (input hidden): ")
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
