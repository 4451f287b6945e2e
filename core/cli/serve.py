"""``centwise serve``: the local OpenAI-compatible gateway, in the foreground.

Point any OpenAI client at ``http://127.0.0.1:8787/v1`` with the gateway token as its
API key. Logs are JSON lines on stderr; Ctrl-C (or SIGTERM) stops it after in-flight
requests are recorded.
"""

from __future__ import annotations

import argparse
import gc
import logging
import sys
from typing import Any

import uvicorn

from core.cli.common import EXIT_OK, data_dir_from
from core.config import config_from_env, load_config
from core.engine import Engine
from core.errors import ConfigError
from core.gateway.app import create_app
from core.gateway.auth import gateway_token
from core.gateway.logs import JsonFormatter
from core.gateway.server import KEEP_ALIVE_SECONDS, is_loopback, webhook_poster

__all__ = ["register"]


def register(sub: Any) -> None:
    p = sub.add_parser("serve", help="run the local OpenAI-compatible gateway")
    p.add_argument("--host", help="interface to bind (default [gateway].host, 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default [gateway].port, 8787)")
    p.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow binding to a non-loopback interface (reachable from other machines)",
    )
    p.add_argument("--show-token", action="store_true", help="print the gateway token and exit")
    p.add_argument(
        "--rotate-token",
        action="store_true",
        help="make a new gateway token (old one stops working)",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from core.keys import KeyStore

    config = load_config(config_from_env(args.config))
    keys = KeyStore()
    token = gateway_token(keys, rotate=bool(args.rotate_token))
    if args.show_token:
        print(token.value)
        print(f"centwise: {token.message}", file=sys.stderr)
        if not token.saved:
            print("centwise: a token shown here is useless to a later run", file=sys.stderr)
        return EXIT_OK
    host = args.host or config.gateway.host
    port = config.gateway.port if args.port is None else args.port
    if not is_loopback(host) and not args.allow_remote:
        raise ConfigError(
            f"refusing to bind the gateway to {host}: it would be reachable from other "
            "machines; add --allow-remote if you mean it"
        )
    _json_logs(lambda: [*keys.known_secrets(), token.value])
    if not is_loopback(host):
        logging.getLogger("core.gateway").warning(
            "the gateway listens on %s and is reachable from other machines", host
        )
    if not token.saved:
        # The only way a user can learn a per-run token: print it once, to the terminal.
        print(f"centwise: gateway token for this run: {token.value}", file=sys.stderr)
    print(f"centwise: {token.message}", file=sys.stderr)
    data_dir = data_dir_from(args)

    def factory() -> Engine:
        engine = Engine.open(
            config, data_dir, key_lookup=keys.lookup_for(config), recover_ledger=bool(args.recover)
        )
        # A WAL checkpoint inside a commit stalls every open stream: do them aside.
        engine.checkpoint_in_background()
        # What exists now (price table, tokenizer, app, engine) lives as long as the
        # process: freeze it out of the collector's reach, so a full collection under
        # load scans only what requests create. Unfrozen, one took ~50 ms, a stall
        # for every open stream.
        gc.collect()
        gc.freeze()
        print(f"centwise: ledger in {engine.storage}", file=sys.stderr, flush=True)
        return engine

    app = create_app(factory, token.value, config.gateway, post=webhook_poster(config.network))
    print(f"centwise: gateway on http://{host}:{port}/v1", file=sys.stderr, flush=True)
    # No X-Forwarded-For rewriting (the gateway is not meant to sit behind a proxy,
    # and nothing here uses the client's address): it parsed addresses every request.
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            proxy_headers=False,
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
        )
    )
    server.run()
    return EXIT_OK


def _json_logs(secrets: Any) -> None:
    """JSON lines on stderr for everything under ``core``, secrets always redacted."""
    # The JSON lines carry none of the process, thread or task fields: skip collecting
    # them for every record (a getpid() call among them, one line per request).
    logging.logProcesses = logging.logThreads = logging.logMultiprocessing = False
    if hasattr(logging, "logAsyncioTasks"):  # Python 3.12+
        setattr(logging, "logAsyncioTasks", False)  # noqa: B010
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(secrets))
    handler.setLevel(logging.INFO)
    root = logging.getLogger("core")
    root.handlers = [handler]
    root.setLevel(logging.INFO)
    root.propagate = False
