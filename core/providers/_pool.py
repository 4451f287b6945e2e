"""The engine's httpx transport: a connection pool that costs the same at 1 connection
as at 100, over lean HTTP/1.1 connections (core/providers/_h1.py).

httpx's own pool (httpcore 1.0) rescans every connection on every request start and
end, and for each idle one counts all the connections again and polls its socket:
with 50 streams in flight that bookkeeping took a third of the gateway's CPU. Its
keep-alive limit also counts busy connections, so above 20 in flight every finished
stream closed its connection and the next request opened a new one. Below the pool,
httpcore and h11 then cost about a quarter of the CPU of every streamed delta.

:class:`LeanTransport` is an httpx transport over a :class:`LeanPool`: a stack of
idle connections per origin, most recently used first. Taking one checks only that
one (open, not expired, nothing unasked-for arrived on it); giving one back is an
append. Errors are httpx's own, so providers see exactly the httpx they always did.
HTTP/1.1 only: each connection carries one request at a time, which is what a pool
of exclusive connections can guarantee. No proxies: the client still mounts its own
transports for proxies named in the environment.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator

import httpx

from core.providers._h1 import Connection, connect

__all__ = ["LeanPool", "LeanTransport"]


_Key = tuple[str, str, int | None]


def _key(url: httpx.URL) -> _Key:
    return (url.scheme, url.host, url.port)


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
        self._idle: dict[_Key, list[Connection]] = {}
        self._in_use: set[Connection] = set()
        self._closed = False

    @property
    def idle_connections(self) -> int:
        return sum(map(len, self._idle.values()))

    @property
    def connections_in_use(self) -> int:
        return len(self._in_use)

    async def _checkout(self, request: httpx.Request, timeout: float | None) -> Connection:
        """An idle connection that is still good, or a new one."""
        key = _key(request.url)
        stack = self._idle.get(key)
        while stack:
            conn = stack.pop()
            if conn.usable:
                return conn
            conn.close()  # expired, or the server hung up while it sat idle
        conn = await connect(request, self._ssl_context, self._keepalive_expiry, timeout)
        conn.origin = key
        return conn

    async def handle(self, request: httpx.Request) -> httpx.Response:
        if self._closed:
            raise RuntimeError("the connection pool is closed")
        scheme = request.url.scheme
        if scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(
                f"Request URL has an unsupported protocol '{scheme}://'."
                if scheme
                else "Request URL is missing an 'http://' or 'https://' protocol.",
                request=request,
            )
        timeouts = request.extensions.get("timeout", {})
        conn = await self._checkout(request, timeouts.get("connect"))
        self._in_use.add(conn)
        try:
            await conn.send(request, timeouts)
        except BaseException:
            self._in_use.discard(conn)
            conn.close()
            raise
        return httpx.Response(
            status_code=conn.status,
            headers=conn.headers,
            stream=_Body(self, conn, request, timeouts.get("read")),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": conn.reason},
        )

    def _release(self, conn: Connection) -> None:
        """Back on its origin's stack if it can carry another request, else closed."""
        self._in_use.discard(conn)
        if conn.done() and not self._closed and conn.origin is not None:
            stack = self._idle.setdefault(conn.origin, [])
            if len(stack) < self._max_idle:
                stack.append(conn)
                return
        conn.close()

    async def aclose(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, {}
        for stack in idle.values():
            for conn in stack:
                conn.close()
        in_use, self._in_use = self._in_use, set()
        for conn in in_use:
            conn.close()


class _Body(httpx.AsyncByteStream):
    """A reply's body; closing it hands the connection back (or closes it, if the body
    was not read to its end)."""

    __slots__ = ("_conn", "_pool", "_read_timeout", "_released", "_request")

    def __init__(
        self, pool: LeanPool, conn: Connection, request: httpx.Request, read_timeout: float | None
    ) -> None:
        self._pool = pool
        self._conn = conn
        self._request = request
        self._read_timeout = read_timeout
        self._released = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for piece in self._conn.body(self._request, self._read_timeout):
                yield piece
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        if not self._released:
            self._released = True
            self._pool._release(self._conn)


class LeanTransport(httpx.AsyncBaseTransport):
    """An httpx transport over a :class:`LeanPool` (HTTP/1.1, no proxy)."""

    def __init__(
        self,
        *,
        verify: ssl.SSLContext | str | bool = True,
        trust_env: bool = True,
        max_idle_per_origin: int = 128,
        keepalive_expiry: float | None = 30.0,
    ) -> None:
        self._pool = LeanPool(
            ssl_context=httpx.create_ssl_context(verify=verify, trust_env=trust_env),
            max_idle_per_origin=max_idle_per_origin,
            keepalive_expiry=keepalive_expiry,
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._pool.handle(request)

    async def aclose(self) -> None:  # the base class's ``async with`` calls this
        await self._pool.aclose()
