"""The lean provider pool (core/providers/_pool.py, _h1.py) against loopback servers.

The provider fault matrix (429, 5xx, resets, timeouts, malformed and truncated
bodies, 401) already runs through it: the ``http_client`` fixture gives every
provider test both httpx's own transport and this one. Here: what a pool must do
with its connections, and TLS.
"""

from __future__ import annotations

import asyncio
import datetime
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from core.providers._pool import LeanPool, LeanTransport
from core.providers.client import default_client
from tests.integration.servers import Behaviour, LoopbackServer

BODY = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}


def _client() -> tuple[httpx.AsyncClient, LeanPool]:
    transport = LeanTransport(trust_env=False)
    pool = transport._pool
    assert isinstance(pool, LeanPool)
    return httpx.AsyncClient(transport=transport, trust_env=False, timeout=5), pool


async def _stream(client: httpx.AsyncClient, server: LoopbackServer) -> bytes:
    async with client.stream("POST", f"{server.base_url}/chat/completions", json=BODY) as r:
        return await r.aread()


async def test_sequential_requests_share_one_connection(openai_server: LoopbackServer) -> None:
    client, pool = _client()
    async with client:
        for _ in range(3):
            assert b"[DONE]" in await _stream(client, openai_server)
            assert (pool.idle_connections, pool.connections_in_use) == (1, 0)
    assert len({r.peer for r in openai_server.requests}) == 1
    assert pool.idle_connections == 0  # closing the client closed it


async def test_concurrent_streams_get_their_own_connections(openai_server: LoopbackServer) -> None:
    openai_server.default = Behaviour(text="a b c", pace=0.02)
    client, pool = _client()
    async with client:
        replies = await asyncio.gather(*(_stream(client, openai_server) for _ in range(5)))
        assert all(b"[DONE]" in r for r in replies)
        assert (pool.idle_connections, pool.connections_in_use) == (5, 0)
        await asyncio.gather(*(_stream(client, openai_server) for _ in range(5)))
    peers = [r.peer for r in openai_server.requests]
    assert len(set(peers[:5])) == 5
    assert set(peers[5:]) == set(peers[:5])  # the second round reused all five


async def test_a_connection_the_server_closed_is_not_reused(openai_server: LoopbackServer) -> None:
    openai_server.queue(Behaviour(headers={"Connection": "close"}))
    client, pool = _client()
    async with client:
        await _stream(client, openai_server)
        await asyncio.sleep(0.05)  # let the loop see the close
        assert pool.idle_connections == 0
        assert b"[DONE]" in await _stream(client, openai_server)
    first, second = (r.peer for r in openai_server.requests)
    assert first != second


async def test_a_kept_connection_that_died_while_idle_is_replaced(
    openai_server: LoopbackServer,
) -> None:
    """An idle kept connection that was closed meanwhile is found out at checkout."""
    client, pool = _client()
    async with client:
        await _stream(client, openai_server)
        (conn,) = pool._idle[next(iter(pool._idle))]
        conn.transport.close()  # as if the server had hung up
        await asyncio.sleep(0.05)
        assert b"[DONE]" in await _stream(client, openai_server)
        assert pool.idle_connections == 1


async def test_a_reset_mid_stream_is_a_read_error_and_drops_the_connection(
    openai_server: LoopbackServer,
) -> None:
    openai_server.queue(Behaviour(text="a b c d e", reset_after=2))
    client, pool = _client()
    async with client:
        with pytest.raises(httpx.ReadError):
            await _stream(client, openai_server)
        assert (pool.idle_connections, pool.connections_in_use) == (0, 0)
        assert b"[DONE]" in await _stream(client, openai_server)


async def test_a_read_timeout_is_httpx_read_timeout(openai_server: LoopbackServer) -> None:
    openai_server.queue(Behaviour(text="a b c", stall_after=1, stall=2.0))
    client, pool = _client()
    async with client:
        url = f"{openai_server.base_url}/chat/completions"
        with pytest.raises(httpx.ReadTimeout):
            async with client.stream("POST", url, json=BODY, timeout=0.3) as r:
                await r.aread()
        assert (pool.idle_connections, pool.connections_in_use) == (0, 0)


async def test_a_refused_connection_is_a_connect_error(openai_server: LoopbackServer) -> None:
    base = openai_server.base_url
    openai_server.stop()
    client, _ = _client()
    async with client:
        with pytest.raises(httpx.ConnectError, match="cannot connect"):
            await client.post(f"{base}/chat/completions", json=BODY)


async def test_a_body_left_unread_closes_its_connection(openai_server: LoopbackServer) -> None:
    openai_server.default = Behaviour(text="a b c d e f", pace=0.02)
    client, pool = _client()
    async with client:
        url = f"{openai_server.base_url}/chat/completions"
        async with client.stream("POST", url, json=BODY) as r:
            async for _ in r.aiter_raw():
                break  # stop after the first piece
        assert (pool.idle_connections, pool.connections_in_use) == (0, 0)


async def test_a_closed_pool_refuses_requests(openai_server: LoopbackServer) -> None:
    client, _ = _client()
    await client.aclose()
    with pytest.raises(RuntimeError):
        await client.post(f"{openai_server.base_url}/chat/completions", json=BODY)


async def test_the_engine_default_client_uses_the_lean_pool() -> None:
    client = default_client()
    try:
        transport = client._transport
        assert isinstance(transport, LeanTransport)
    finally:
        await client.aclose()


# --- TLS ------------------------------------------------------------------------------


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[str, ssl.SSLContext]]:
    """An HTTPS server on 127.0.0.1 with a fresh self-signed certificate, and a client
    context that trusts exactly that certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), False)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    (tmp_path / "cert.pem").write_bytes(cert_pem)
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            body = b'{"ok": true}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    client_context = ssl.create_default_context(cadata=cert_pem.decode())
    try:
        yield f"https://localhost:{server.server_address[1]}", client_context
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


async def test_https_with_a_trusted_certificate(tls_server: tuple[str, ssl.SSLContext]) -> None:
    url, context = tls_server
    transport = LeanTransport(verify=context, trust_env=False)
    async with httpx.AsyncClient(transport=transport, trust_env=False) as client:
        for _ in range(2):
            response = await client.get(f"{url}/v1/models")
            assert response.json() == {"ok": True}
            assert response.extensions["http_version"] == b"HTTP/1.1"
        assert transport._pool.idle_connections == 1  # type: ignore[attr-defined]


async def test_https_with_an_untrusted_certificate_is_a_connect_error(
    tls_server: tuple[str, ssl.SSLContext],
) -> None:
    url, _ = tls_server
    transport = LeanTransport(trust_env=False)  # the system's CAs: not our certificate
    async with httpx.AsyncClient(transport=transport, trust_env=False) as client:
        with pytest.raises(httpx.ConnectError, match="TLS handshake failed"):
            await client.get(f"{url}/v1/models")


# --- HTTP/1.1 framing (core/providers/_h1.py), against a server that sends exact bytes --


class RawServer:
    """A loopback TCP server that answers each request with the bytes a test scripts,
    and keeps what it received (one entry per request, with the connection's port)."""

    def __init__(self) -> None:
        #: One per request: bytes, parts sent 50 ms apart, or None (close, no answer).
        self.replies: list[bytes | list[bytes] | None] = []
        self.received: list[tuple[int, bytes]] = []
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, peer = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn, peer[1]), daemon=True).start()

    def _handle(self, conn: socket.socket, port: int) -> None:
        buf = b""
        with conn:
            while self.replies:
                request, buf = _read_request(conn, buf)
                if request is None:
                    return
                self.received.append((port, request))
                reply = self.replies.pop(0)
                if reply is None:
                    return
                parts = reply if isinstance(reply, list) else [reply]
                for i, part in enumerate(parts):
                    if i:
                        time.sleep(0.05)
                    conn.sendall(part)
                if any(b"Connection: close" in part for part in parts):
                    return

    def close(self) -> None:
        self._sock.close()


def _read_request(conn: socket.socket, buf: bytes) -> tuple[bytes | None, bytes]:
    """One request (head and body, content-length or chunked) off ``conn``."""
    while b"\r\n\r\n" not in buf:
        data = conn.recv(65536)
        if not data:
            return None, buf
        buf += data
    head, _, rest = buf.partition(b"\r\n\r\n")
    lower = head.lower()
    if b"transfer-encoding: chunked" in lower:
        while b"\r\n0\r\n\r\n" not in b"\r\n" + rest:
            rest += conn.recv(65536)
        end = (b"\r\n" + rest).index(b"\r\n0\r\n\r\n") + 5
        return head + b"\r\n\r\n" + rest[:end], rest[end:]
    length = 0
    for line in lower.split(b"\r\n"):
        if line.startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    while len(rest) < length:
        rest += conn.recv(65536)
    return head + b"\r\n\r\n" + rest[:length], rest[length:]


@pytest.fixture
def raw_server() -> Iterator[RawServer]:
    server = RawServer()
    try:
        yield server
    finally:
        server.close()


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


async def test_a_reply_without_a_length_runs_to_the_close(raw_server: RawServer) -> None:
    raw_server.replies = [b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it", OK]
    client, pool = _client()
    async with client:
        response = await client.get(f"{raw_server.url}/a")
        assert response.content == b"all of it"
        assert pool.idle_connections == 0  # it ended with the connection
        assert (await client.get(f"{raw_server.url}/b")).content == b"ok"


async def test_an_informational_reply_is_skipped(raw_server: RawServer) -> None:
    raw_server.replies = [[b"HTTP/1.1 100 Continue\r\n\r\n", OK]]
    client, _ = _client()
    async with client:
        response = await client.get(raw_server.url)
    assert (response.status_code, response.content) == (200, b"ok")


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (b"HTTP/1.1 OK and then some\r\n\r\n", "malformed reply"),
        (None, "without sending a response"),  # the server hangs up
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\nabc",
            "complete message body",
        ),
    ],
    ids=["malformed-status-line", "closed-before-reply", "body-cut-short"],
)
async def test_a_broken_reply_is_a_protocol_error_and_drops_the_connection(
    raw_server: RawServer, reply: bytes | None, message: str
) -> None:
    raw_server.replies = [reply]
    client, pool = _client()
    async with client:
        with pytest.raises(httpx.RemoteProtocolError, match=message):
            await client.get(raw_server.url)
        assert (pool.idle_connections, pool.connections_in_use) == (0, 0)


async def test_a_connection_with_bytes_after_its_reply_is_not_reused(
    raw_server: RawServer,
) -> None:
    raw_server.replies = [OK + b"HTTP/1.1 200 OK\r\n", OK]
    client, _ = _client()
    async with client:
        assert (await client.get(raw_server.url)).content == b"ok"
        await asyncio.sleep(0.05)  # let the stray bytes arrive
        assert (await client.get(raw_server.url)).content == b"ok"
    (first, _), (second, _) = raw_server.received
    assert first != second


async def test_a_kept_connection_carries_the_next_request(raw_server: RawServer) -> None:
    raw_server.replies = [OK, OK, OK]
    client, pool = _client()
    async with client:
        for _ in range(3):
            assert (await client.get(raw_server.url)).content == b"ok"
        assert pool.idle_connections == 1
    assert len({port for port, _ in raw_server.received}) == 1


async def test_a_streamed_request_body_is_sent_chunked(raw_server: RawServer) -> None:
    raw_server.replies = [OK]

    async def parts() -> AsyncIterator[bytes]:
        for part in (b"hello ", b"", b"world"):
            yield part

    client, _ = _client()
    async with client:
        assert (await client.post(raw_server.url, content=parts())).content == b"ok"
    ((_, request),) = raw_server.received
    assert request.endswith(b"\r\n\r\n6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n")
    assert b"transfer-encoding: chunked" in request.lower()


async def test_a_large_reply_arrives_whole(raw_server: RawServer) -> None:
    """More than the connection queues before it stops reading the socket."""
    body = bytes(range(256)) * 8192  # 2 MiB
    big = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%b" % (len(body), body)
    raw_server.replies = [big, OK]
    client, pool = _client()
    async with client:
        async with client.stream("GET", raw_server.url) as response:
            await asyncio.sleep(0.2)  # let it all arrive first
            got = b""
            async for piece in response.aiter_raw():
                got += piece
                await asyncio.sleep(0)  # read slower than it arrives
        assert got == body
        assert pool.idle_connections == 1
        assert (await client.get(raw_server.url)).content == b"ok"  # still in step
    assert len({port for port, _ in raw_server.received}) == 1


async def test_a_head_reply_has_no_body(raw_server: RawServer) -> None:
    raw_server.replies = [b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", OK]
    client, _ = _client()
    async with client:
        response = await client.head(raw_server.url)
        assert (response.status_code, response.content) == (200, b"")
        assert response.headers["content-length"] == "1234"
        assert (await client.get(raw_server.url)).content == b"ok"
