"""The engine's HTTP clients (core/providers/client.py) against loopback servers: what
users see of the connection pool, limits, bad replies and TLS, over each transport.

The provider fault matrix (429, 5xx, resets, timeouts, malformed and truncated bodies,
401) runs through these clients too: the ``http_client`` fixture gives every provider
test plain httpx and the factory with each ``[network] transport``.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core.config import NetworkConfig, parse_config
from core.engine import Engine
from core.errors import ConfigError, ConnectionFailedError, ProviderTimeoutError
from core.providers.client import make_client
from tests.integration.provider_checks import request, run
from tests.integration.servers import (
    Behaviour,
    LoopbackServer,
    OpenAIDialect,
    make_provider,
    serve,
)
from tests.integration.servers.fixtures import one_tier_engine
from tests.integration.servers.tls import self_signed

BODY = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
TRANSPORTS = ["httpx", "aiohttp"]


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _client(transport: str, **network: object) -> httpx.AsyncClient:
    return make_client(NetworkConfig(transport=transport, **network), trust_env=False, timeout=5)


async def _stream(client: httpx.AsyncClient, server: LoopbackServer) -> bytes:
    async with client.stream("POST", f"{server.base_url}/chat/completions", json=BODY) as r:
        return await r.aread()


# --- connections ----------------------------------------------------------------------


async def test_sequential_requests_share_one_connection(
    transport: str, openai_server: LoopbackServer
) -> None:
    async with _client(transport) as client:
        for _ in range(3):
            assert b"[DONE]" in await _stream(client, openai_server)
    assert len({r.peer for r in openai_server.requests}) == 1


async def test_concurrent_streams_get_their_own_connections_and_all_are_kept(
    transport: str, openai_server: LoopbackServer
) -> None:
    """Every connection of a burst stays open when its stream ends (the keep-alive limit
    is max_connections), so the next 30 overlapping streams open none."""
    openai_server.default = Behaviour(text="a b c", pace=0.02)

    async def later(client: httpx.AsyncClient, i: int) -> bytes:
        await asyncio.sleep(0.005 * i)  # each finds the pool settled, as users' requests do
        return await _stream(client, openai_server)

    async with _client(transport) as client:
        replies = await asyncio.gather(*(_stream(client, openai_server) for _ in range(30)))
        assert all(b"[DONE]" in r for r in replies)
        await asyncio.gather(*(later(client, i) for i in range(30)))
    peers = [r.peer for r in openai_server.requests]
    assert len(set(peers[:30])) == 30
    assert set(peers[30:]) <= set(peers[:30])


async def test_a_connection_the_server_closed_is_not_reused(
    transport: str, openai_server: LoopbackServer
) -> None:
    openai_server.queue(Behaviour(headers={"Connection": "close"}))
    async with _client(transport) as client:
        await _stream(client, openai_server)
        await asyncio.sleep(0.05)
        assert b"[DONE]" in await _stream(client, openai_server)
    first, second = (r.peer for r in openai_server.requests)
    assert first != second


async def test_a_reset_mid_stream_fails_and_the_next_request_succeeds(
    transport: str, openai_server: LoopbackServer
) -> None:
    openai_server.queue(Behaviour(text="a b c d e", reset_after=2))
    async with _client(transport) as client:
        with pytest.raises(httpx.TransportError):
            await _stream(client, openai_server)
        assert b"[DONE]" in await _stream(client, openai_server)


async def test_a_read_timeout_is_httpx_read_timeout(
    transport: str, openai_server: LoopbackServer
) -> None:
    openai_server.queue(Behaviour(text="a b c", stall_after=1, stall=2.0))
    async with _client(transport) as client:
        url = f"{openai_server.base_url}/chat/completions"
        with pytest.raises(httpx.ReadTimeout):
            async with client.stream("POST", url, json=BODY, timeout=0.3) as r:
                await r.aread()


async def test_a_refused_connection_is_a_connection_failure_not_a_timeout(
    transport: str, openai_server: LoopbackServer
) -> None:
    openai_server.stop()
    async with _client(transport) as client:
        with pytest.raises(httpx.ConnectError):
            await client.post(f"{openai_server.base_url}/chat/completions", json=BODY)
        provider = make_provider("openai", openai_server, client)
        with pytest.raises(ConnectionFailedError, match="lost the connection to openai"):
            await run(provider, request(), True)


async def test_a_body_left_unread_gives_its_connection_back(
    transport: str, openai_server: LoopbackServer
) -> None:
    """With room for one connection, a stream abandoned after its first piece does not
    keep the next request waiting."""
    openai_server.default = Behaviour(text="a b c d e f", pace=0.02)
    async with _client(transport, max_connections=1, pool_timeout_seconds=2) as client:
        url = f"{openai_server.base_url}/chat/completions"
        async with client.stream("POST", url, json=BODY) as r:
            async for _ in r.aiter_raw():
                break
        assert b"[DONE]" in await _stream(client, openai_server)


async def test_requests_wait_for_a_free_connection_up_to_the_pool_timeout(
    transport: str, openai_server: LoopbackServer
) -> None:
    """``max_connections`` caps the connections in use; a request that finds none free
    waits for one, and gives up after ``pool_timeout_seconds`` with a timeout."""
    openai_server.default = Behaviour(text="a b c d e", pace=0.05)  # ~0.25 s a stream
    async with _client(transport, max_connections=2, pool_timeout_seconds=5) as client:
        replies = await asyncio.gather(*(_stream(client, openai_server) for _ in range(6)))
        assert all(b"[DONE]" in r for r in replies)
        assert len({r.peer for r in openai_server.requests}) <= 2
    async with _client(transport, max_connections=1, pool_timeout_seconds=0.1) as client:
        provider = make_provider("openai", openai_server, client)
        slow = asyncio.create_task(_stream(client, openai_server))
        await asyncio.sleep(0.05)  # the one connection is taken
        with pytest.raises(ProviderTimeoutError, match="openai"):
            await run(provider, request(), True)
        assert b"[DONE]" in await slow


async def test_a_closed_client_refuses_requests(
    transport: str, openai_server: LoopbackServer
) -> None:
    client = _client(transport)
    await client.aclose()
    with pytest.raises(RuntimeError):
        await client.post(f"{openai_server.base_url}/chat/completions", json=BODY)


# --- bad replies ----------------------------------------------------------------------


class RawServer:
    """A loopback TCP server that answers every request with the same scripted bytes
    (or hangs up at once when they are None)."""

    def __init__(self, reply: bytes | None) -> None:
        self.reply = reply
        self._sock = socket.create_server(("127.0.0.1", 0))
        #: Where a provider made by make_provider points.
        self.base_url = f"http://127.0.0.1:{self._sock.getsockname()[1]}/v1"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                if self.reply is not None:
                    conn.sendall(self.reply)

    def close(self) -> None:
        self._sock.close()


@pytest.fixture
def raw_server(request: pytest.FixtureRequest) -> Iterator[RawServer]:
    server = RawServer(request.param)
    try:
        yield server
    finally:
        server.close()


@pytest.mark.parametrize(
    "raw_server",
    [
        b"HTTP/1.1 OK and then some\r\n\r\n",
        b"garbage\r\n\r\n",
        None,  # the server hangs up without a reply
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\nabc",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
        b"HTTP/1.1 200 OK\r\nX: a\x00b\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
    ],
    ids=[
        "malformed-status-line",
        "not-http",
        "closed-before-reply",
        "body-cut-short",
        "chunk-cut-short",
        "nul-in-header",
        "two-lengths",
    ],
    indirect=True,
)
@pytest.mark.parametrize("stream", [True, False], ids=["stream", "complete"])
async def test_a_broken_reply_is_a_connection_failure_naming_the_provider(
    transport: str, raw_server: RawServer, stream: bool
) -> None:
    """Whatever the transport's parser makes of it, the provider raises its own error,
    never the transport library's."""
    async with _client(transport) as client:
        provider = make_provider("openai", raw_server, client)  # type: ignore[arg-type]
        with pytest.raises(ConnectionFailedError, match="lost the connection to openai"):
            await run(provider, request(), stream)


# --- TLS: the system's CAs, SSL_CERT_FILE and [network] ca_bundle -------------------------


@pytest.fixture
def tls_openai(tmp_path: Path) -> Iterator[tuple[LoopbackServer, Path]]:
    """An OpenAI look-alike over HTTPS with a fresh self-signed certificate, and the
    path of the PEM file a client must trust for it."""
    cert, context = self_signed(tmp_path)
    with serve(OpenAIDialect(), "/v1", tls=context) as server:
        yield server, cert


async def test_https_works_with_the_ca_bundle_and_fails_without_it(
    transport: str, tls_openai: tuple[LoopbackServer, Path]
) -> None:
    server, cert = tls_openai
    async with _client(transport, ca_bundle=str(cert)) as client:
        for _ in range(2):
            reply = await run(make_provider("openai", server, client), request(), True)
            assert reply.text
    assert len({r.peer for r in server.requests}) == 1  # kept alive over TLS too
    async with _client(transport) as client:  # certifi's CAs: not our certificate
        provider = make_provider("openai", server, client)
        with pytest.raises(ConnectionFailedError, match="lost the connection to openai"):
            await run(provider, request(), True)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No proxy or CA variables: clients that trust the environment go direct, with
    certifi's CAs."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return monkeypatch


async def test_ssl_cert_file_is_honoured_with_trust_env(
    transport: str, tls_openai: tuple[LoopbackServer, Path], clean_env: pytest.MonkeyPatch
) -> None:
    server, cert = tls_openai
    clean_env.setenv("SSL_CERT_FILE", str(cert))
    async with make_client(NetworkConfig(transport=transport)) as client:
        reply = await run(make_provider("openai", server, client), request(), False)
    assert reply.text


@pytest.mark.usefixtures("clean_env")
async def test_the_engine_trusts_the_configured_ca_bundle(
    transport: str, tls_openai: tuple[LoopbackServer, Path], tmp_path: Path
) -> None:
    """Engine.open with no client factory builds its client from ``[network]``."""
    server, cert = tls_openai

    def engine(ca_line: str, data: str) -> Engine:
        network = f'transport = "{transport}"\n{ca_line}'
        return one_tier_engine(server.base_url, tmp_path / data, network)

    trusting = engine(f'ca_bundle = "{cert}"', "trusting")
    try:
        record = await trusting.ask("hello").collect()
        assert record.status == "ok" and record.response
    finally:
        await trusting.aclose()
    default = engine("", "default")
    try:
        with pytest.raises(ConnectionFailedError, match=r"loop.*CERTIFICATE_VERIFY_FAILED"):
            await default.ask("hello").collect()
    finally:
        await default.aclose()


def test_a_ca_bundle_that_is_not_there_is_a_config_error_naming_key_and_path(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "corp-ca.pem"
    with pytest.raises(ConfigError, match=r"network\.ca_bundle: .*corp-ca\.pem"):
        parse_config(f'[network]\nca_bundle = "{missing}"\n', "test.toml")
    (tmp_path / "empty.pem").write_text("not a certificate\n")
    with pytest.raises(ConfigError, match=r"network\.ca_bundle: .*empty\.pem holds no PEM"):
        parse_config(f'[network]\nca_bundle = "{tmp_path / "empty.pem"}"\n', "test.toml")


def test_a_ca_bundle_gone_after_loading_is_a_config_error_when_the_client_is_made(
    tmp_path: Path,
) -> None:
    cert, _ = self_signed(tmp_path)
    network = parse_config(f'[network]\nca_bundle = "{cert}"\n', "test.toml").network
    cert.unlink()
    with pytest.raises(ConfigError, match=r"^network\.ca_bundle: .*cert\.pem does not exist"):
        make_client(network, trust_env=False)
