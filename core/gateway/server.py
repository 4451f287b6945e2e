"""Running the gateway: uvicorn in its own thread, with its own loop and engine.

:func:`start_gateway` is what the CLI and the GUI's start/stop switch call. The
gateway opens its *own* :class:`~core.engine.Engine` on the same data directory (the
ledger is shared safely across engines and processes), so the caller's engine and
event loop are never touched from the server thread.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette

from core.config import CentwiseConfig, NetworkConfig
from core.engine import Engine
from core.errors import ConfigError
from core.events import EventHub
from core.gateway.alerts import Poster
from core.gateway.app import create_app
from core.providers.client import make_client
from core.types import Secret

__all__ = [
    "KEEP_ALIVE_SECONDS",
    "GatewayServer",
    "is_loopback",
    "post_json",
    "start_gateway",
    "webhook_poster",
]

log = logging.getLogger("core.gateway")

#: A webhook that has not answered by then is given up on (and logged).
WEBHOOK_TIMEOUT_SECONDS = 5.0


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def post_json(url: str, body: dict[str, Any], network: NetworkConfig | None = None) -> None:
    """POST ``body`` as JSON (an alert to the webhook) through the engine's client factory,
    so proxies, CAs and limits are those of ``[network]``; raises on a non-2xx answer."""
    async with make_client(network, timeout=WEBHOOK_TIMEOUT_SECONDS) as client:
        response = await client.post(url, json=body)
        response.raise_for_status()


def webhook_poster(network: NetworkConfig) -> Poster:
    """:func:`post_json` with the config's ``[network]`` settings, for ``create_app``."""
    return functools.partial(post_json, network=network)


#: How long the gateway keeps an idle keep-alive connection open (uvicorn's default: 5 s).
#: Longer than any common client keeps one idle in its pool (httpx and the openai SDK 5 s,
#: Node's undici 4 s, aiohttp 15 s), so the client always gives up on it first. With 5 s
#: on both sides a client could send a request on a connection the server was closing
#: that instant: it failed with a read error, and the gateway never saw it. Shutdown
#: closes idle connections at once, so this never delays a stop.
KEEP_ALIVE_SECONDS = 75


class GatewayServer:
    """One uvicorn server in a daemon thread. :meth:`start` waits until it listens."""

    def __init__(self, app: Starlette, host: str, port: int) -> None:
        self.app = app
        self.host = host
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="on",
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._serve, name="centwise-gateway", daemon=True)
        self.exit_code: int | None = None

    def _serve(self) -> None:
        # uvicorn ends with SystemExit when it cannot bind (port in use); in a thread
        # that would be an unhandled exception, so keep its code for start() to report.
        try:
            self._server.run()
        except SystemExit as e:
            self.exit_code = e.code if isinstance(e.code, int) else 1

    @property
    def running(self) -> bool:
        return self._thread.is_alive() and self._server.started

    @property
    def port(self) -> int:
        """The bound port (useful when started on port 0)."""
        servers = getattr(self._server, "servers", [])
        for server in servers:
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        raise RuntimeError("the gateway is not listening")

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> GatewayServer:
        self._thread.start()
        ready = threading.Event()

        def wait() -> bool:
            return self._server.started or not self._thread.is_alive()

        while not wait():
            ready.wait(0.01)
            timeout -= 0.01
            if timeout <= 0:
                self.stop()
                raise ConfigError(f"the gateway did not start on {self.host} in time")
        if not self._server.started:
            raise ConfigError(
                f"the gateway could not start on {self.host}:{self._server.config.port} "
                "(is the port already in use?)"
            )
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop accepting, finish in-flight requests (recording them), close the engine."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)


def start_gateway(
    config: CentwiseConfig,
    data_dir: Path,
    token: str,
    *,
    host: str | None = None,
    port: int | None = None,
    allow_remote: bool = False,
    key_lookup: Callable[[str], Secret | None] | None = None,
    client_factory: Callable[[], httpx.AsyncClient] | None = None,
    events: EventHub | None = None,
    on_engine: Callable[[Engine], None] | None = None,
) -> GatewayServer:
    """Start the gateway in a background thread and return once it listens.

    ``events`` is the hub the gateway's engine emits on (pass a fresh hub and subscribe
    to ``ops_alert``/``budget_alert`` to show alerts; do not pass the GUI engine's own
    hub, whose listeners expect that engine's thread). Binding to anything but
    loopback needs ``allow_remote=True`` and logs a warning.
    """
    host = host or config.gateway.host
    port = config.gateway.port if port is None else port
    if not is_loopback(host):
        if not allow_remote:
            raise ConfigError(
                f"refusing to bind the gateway to {host}: it is reachable from other "
                "machines; pass --allow-remote (and keep the token secret) if you mean it"
            )
        log.warning("the gateway listens on %s, reachable from other machines", host)

    def factory() -> Engine:
        engine = Engine.open(
            config, data_dir, key_lookup=key_lookup, client_factory=client_factory, events=events
        )
        engine.checkpoint_in_background()  # no checkpoint stalls inside commits
        return engine

    post = webhook_poster(config.network)
    app = create_app(factory, token, config.gateway, post=post, on_engine=on_engine)
    return GatewayServer(app, host, port).start()
