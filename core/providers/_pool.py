"""A connection pool for provider calls that costs the same at 1 connection as at 100.

httpx's own pool (httpcore 1.0) rescans every connection on every request start and
end, and for each idle one counts all the connections again and polls its socket:
with 50 streams in flight that bookkeeping took a third of the gateway's CPU. Its
keep-alive limit also counts busy connections, so above 20 in flight every finished
stream closed its connection and the next request opened a new one.

:class:`LeanTransport` is httpx's transport with that pool swapped for
:class:`LeanPool`: a stack of idle connections per origin, most recently used first.
Taking one checks only that one (still open, not expired, its socket not readable,
as httpcore checks); giving one back is an append. Each connection is still
httpcore's own :class:`httpcore.AsyncHTTP11Connection` (connect, TLS, HTTP/1.1 framing,
timeouts), and errors are still mapped to httpx's by the transport, so providers see
exactly the httpx they always did. HTTP/1.1 only: each connection carries one
request at a time, which is what a pool of exclusive connections can guarantee.
"""

from __future__ import annotations

import asyncio
import ssl
import types
from collections.abc import AsyncIterable, AsyncIterator

import httpcore
import httpx

from core.providers._net import connect_tcp

__all__ = ["LeanPool", "LeanTransport"]


_Key = tuple[bytes, bytes, int]


def _key(origin: httpcore.Origin) -> _Key:
    """httpcore's Origin compares by value but does not hash."""
    return (origin.scheme, origin.host, origin.port)


class LeanPool:
    """Exclusive HTTP/1.1 connections, idle ones kept per origin (LIFO).

    ``max_idle_per_origin`` bounds the connections kept open while idle; there is no
    bound on connections in use (a caller that starts 200 streams gets 200).
    """

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None = None,
        max_idle_per_origin: int = 128,
        keepalive_expiry: float | None = 30.0,
    ) -> None:
        if ssl_context is not None:
            ssl_context.set_alpn_protocols(["http/1.1"])
        self._ssl_context = ssl_context
        self._max_idle = max_idle_per_origin
        self._keepalive_expiry = keepalive_expiry
        self._idle: dict[_Key, list[httpcore.AsyncHTTP11Connection]] = {}
        self._in_use: set[httpcore.AsyncHTTP11Connection] = set()
        self._closed = False

    @property
    def idle_connections(self) -> int:
        return sum(map(len, self._idle.values()))

    @property
    def connections_in_use(self) -> int:
        return len(self._in_use)

    async def _connect(self, request: httpcore.Request) -> httpcore.AsyncHTTP11Connection:
        origin = request.url.origin
        host = origin.host.decode("ascii")
        timeout = request.extensions.get("timeout", {}).get("connect")
        stream: httpcore.AsyncNetworkStream = await connect_tcp(host, origin.port, timeout)
        if origin.scheme == b"https":
            context = self._ssl_context or httpx.create_ssl_context()
            sni = request.extensions.get("sni_hostname") or host
            stream = await stream.start_tls(context, sni, timeout)
        conn = httpcore.AsyncHTTP11Connection(
            origin=origin, stream=stream, keepalive_expiry=self._keepalive_expiry
        )
        if hasattr(conn, "_state_lock"):
            # httpcore guards the connection's state with an anyio lock, which yields to
            # the loop on every uncontended acquire (twice per request). This pool
            # never lets two requests share a connection, so the lock is never
            # contended: asyncio's, which takes a free lock without yielding, will do.
            conn._state_lock = asyncio.Lock()  # type: ignore[assignment]
        return conn

    async def _checkout(
        self, request: httpcore.Request
    ) -> tuple[httpcore.AsyncHTTP11Connection, bool]:
        """An idle connection that is still good (and True), or a new one (and False)."""
        stack = self._idle.get(_key(request.url.origin))
        while stack:
            conn = stack.pop()
            if conn.is_idle() and not conn.has_expired():
                return conn, True
            await conn.aclose()  # expired, or the server hung up while it sat idle
        return await self._connect(request), False

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        if self._closed:
            raise RuntimeError("the connection pool is closed")
        scheme = request.url.scheme
        if scheme not in (b"http", b"https"):
            raise httpcore.UnsupportedProtocol(
                f"Request URL has an unsupported protocol '{scheme.decode()}://'."
                if scheme
                else "Request URL is missing an 'http://' or 'https://' protocol."
            )
        while True:
            conn, reused = await self._checkout(request)
            self._in_use.add(conn)
            try:
                response = await conn.handle_async_request(request)
            except httpcore.ConnectionNotAvailable:
                # A kept connection can turn out to be unusable only once tried (as
                # httpcore's own pool also finds); a fresh one cannot, so that raises.
                self._in_use.discard(conn)
                await conn.aclose()
                if reused:
                    continue
                raise
            except BaseException:
                await self._release(conn)
                raise
            break
        assert isinstance(response.stream, AsyncIterable)
        return httpcore.Response(
            status=response.status,
            headers=response.headers,
            content=_PooledStream(response.stream, self, conn),
            extensions=response.extensions,
        )

    async def _release(self, conn: httpcore.AsyncHTTP11Connection) -> None:
        """Back on its origin's stack if it can carry another request, else closed."""
        self._in_use.discard(conn)
        if not self._closed and conn.is_idle():
            origin = conn._origin
            stack = self._idle.setdefault(_key(origin), [])
            if len(stack) < self._max_idle:
                stack.append(conn)
                return
        await conn.aclose()

    async def aclose(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, {}
        for stack in idle.values():
            for conn in stack:
                await conn.aclose()
        in_use, self._in_use = self._in_use, set()
        for conn in in_use:
            await conn.aclose()

    async def __aenter__(self) -> LeanPool:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: types.TracebackType | None = None,
    ) -> None:
        await self.aclose()


class _PooledStream:
    """A response body that hands its connection back when it is closed."""

    __slots__ = ("_conn", "_pool", "_released", "_stream")

    def __init__(
        self, stream: AsyncIterable[bytes], pool: LeanPool, conn: httpcore.AsyncHTTP11Connection
    ) -> None:
        self._stream = stream
        self._pool = pool
        self._conn = conn
        self._released = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for part in self._stream:
                yield part
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        if self._released:
            return
        self._released = True
        try:
            aclose = getattr(self._stream, "aclose", None)
            if aclose is not None:
                await aclose()  # a body read to its end leaves the connection idle
        finally:
            await self._pool._release(self._conn)


class LeanTransport(httpx.AsyncHTTPTransport):
    """``httpx.AsyncHTTPTransport`` over a :class:`LeanPool` (HTTP/1.1, no proxy: the
    client still mounts its own transports for proxies named in the environment).

    httpx's transport only ever talks to its pool through ``self._pool``
    (request, close, context manager), so this sets that and nothing else; calling
    the parent's ``__init__`` would build a second SSL context and a pool to throw away.
    """

    def __init__(
        self,
        *,
        verify: ssl.SSLContext | str | bool = True,
        trust_env: bool = True,
        max_idle_per_origin: int = 128,
        keepalive_expiry: float | None = 30.0,
    ) -> None:
        self._pool = LeanPool(  # type: ignore[assignment]
            ssl_context=httpx.create_ssl_context(verify=verify, trust_env=trust_env),
            max_idle_per_origin=max_idle_per_origin,
            keepalive_expiry=keepalive_expiry,
        )
