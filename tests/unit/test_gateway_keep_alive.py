"""Both ways of starting the gateway, ``centwise serve`` and :class:`GatewayServer` (the
GUI's switch), give uvicorn the same keep-alive timeout, longer than common clients keep
an idle connection (see ``KEEP_ALIVE_SECONDS``). No server is started: the tests record
the ``uvicorn.Config`` each path builds."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import keyring
import pytest
import uvicorn
from keyring.backends import null
from starlette.applications import Starlette

from core.cli import main
from core.gateway.server import KEEP_ALIVE_SECONDS, GatewayServer

SIM = '[providers.simulator]\nkind = "simulator"\nlatency_scale = 0\n'
AIOHTTP_KEEPALIVE_TIMEOUT = 15.0  # aiohttp.TCPConnector's default, the longest common one


@pytest.fixture
def built_configs(monkeypatch: pytest.MonkeyPatch) -> list[uvicorn.Config]:
    """Every ``uvicorn.Config`` handed to a ``uvicorn.Server``, whose ``run`` does nothing."""
    built: list[uvicorn.Config] = []

    class RecordingServer(uvicorn.Server):
        def __init__(self, config: uvicorn.Config) -> None:
            super().__init__(config)
            built.append(config)

        def run(self, sockets: object = None) -> None:
            return None

    monkeypatch.setattr(uvicorn, "Server", RecordingServer)
    return built


@pytest.fixture
def core_logging_restored(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``centwise serve`` sets up its JSON log lines process-wide; undo that afterwards."""
    core = logging.getLogger("core")
    for name in ("logProcesses", "logThreads", "logMultiprocessing"):
        monkeypatch.setattr(logging, name, getattr(logging, name))
    monkeypatch.setattr(core, "handlers", core.handlers)
    monkeypatch.setattr(core, "propagate", core.propagate)
    level = core.level
    yield
    core.setLevel(level)


def test_gateway_server_uses_the_shared_keep_alive(built_configs: list[uvicorn.Config]) -> None:
    GatewayServer(Starlette(), "127.0.0.1", 0)  # never started
    [config] = built_configs
    assert config.timeout_keep_alive == KEEP_ALIVE_SECONDS


@pytest.mark.usefixtures("core_logging_restored")
def test_centwise_serve_uses_the_shared_keep_alive(
    built_configs: list[uvicorn.Config],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(keyring, "get_keyring", null.Keyring)  # a per-run token, nothing saved
    config = tmp_path / "centwise.toml"
    config.write_text(SIM)
    argv = ["--data-dir", str(tmp_path / "data"), "--config", str(config), "serve", "--port", "0"]
    assert main(argv) == 0
    assert "gateway on http://127.0.0.1:0/v1" in capsys.readouterr().err
    [built] = built_configs
    assert built.timeout_keep_alive == KEEP_ALIVE_SECONDS


def test_keep_alive_outlasts_common_clients_idle_expiry() -> None:
    """The client must always drop an idle connection before the server does."""
    httpx_expiry = httpx.Limits().keepalive_expiry  # also the openai SDK's
    assert httpx_expiry is not None
    assert max(httpx_expiry, AIOHTTP_KEEPALIVE_TIMEOUT) < KEEP_ALIVE_SECONDS
