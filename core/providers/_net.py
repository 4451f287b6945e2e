"""Sockets for the provider pool, on plain asyncio.

httpcore reaches asyncio through anyio, which makes every socket send, every read of
data already buffered and every lock a scheduling point (``sleep(0)``) and wraps each
read in a cancel scope. That is right for a library that must stay cancellable under
trio, and costly for a gateway: each yield sends the task to the back of the ready
queue, behind every other stream's work, and a request makes about five of them
between asking the provider and seeing its first byte; with 50 streams in flight
that added ~10 ms to each request (see the README's gateway section).

:class:`AsyncioStream` is httpcore's network-stream interface over an
:class:`asyncio.Protocol`: reads return what is buffered without yielding and wait
on one future only when nothing is; writes hand bytes to the transport and wait only
when it asks for back-pressure; timeouts are one timer each, set only when a wait
is needed. Failures are httpcore's own exceptions (``ConnectError``,
``ReadTimeout``, ...), which httpx maps to its own, so callers see no difference.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterable
from typing import Any, cast

import httpcore

__all__ = ["AsyncioStream", "connect_tcp"]

#: Stop reading from the socket while this much is buffered unread.
_HIGH_WATER = 256 * 1024


class _Protocol(asyncio.Protocol):
    __slots__ = ("buffer", "closed", "drained", "eof", "error", "paused", "transport", "waiter")

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.eof = False
        self.closed = False
        self.error: BaseException | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.drained: asyncio.Future[None] | None = None
        self.paused = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports quack like asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > _HIGH_WATER and self.transport is not None:
            self.transport.pause_reading()
            self.paused = True
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False  # let the transport close itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = self.eof = True
        self.error = exc
        self._wake()
        self._drain_done()

    def pause_writing(self) -> None:
        if self.drained is None:
            self.drained = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        self._drain_done()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _drain_done(self) -> None:
        drained, self.drained = self.drained, None
        if drained is not None and not drained.done():
            drained.set_result(None)


def _expire(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_exception(TimeoutError())


async def _wait(fut: asyncio.Future[None], timeout: float | None) -> None:
    """Await ``fut``, raising TimeoutError after ``timeout`` seconds (None: no limit)."""
    if timeout is None:
        await fut
        return
    timer = asyncio.get_running_loop().call_later(timeout, _expire, fut)
    try:
        await fut
    finally:
        timer.cancel()


class AsyncioStream(httpcore.AsyncNetworkStream):
    """One TCP (or TLS) connection, read and written without extra yields."""

    def __init__(self, transport: asyncio.Transport, protocol: _Protocol) -> None:
        self._transport = transport
        self._protocol = protocol

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        p = self._protocol
        if not p.buffer and not p.eof:
            p.waiter = asyncio.get_running_loop().create_future()
            try:
                await _wait(p.waiter, timeout)
            except TimeoutError:
                raise httpcore.ReadTimeout(f"no data within {timeout} s") from None
            finally:
                p.waiter = None
        buf = p.buffer
        if buf:
            if len(buf) <= max_bytes:
                data = bytes(buf)
                buf.clear()
            else:
                data = bytes(buf[:max_bytes])
                del buf[:max_bytes]
            if p.paused and len(buf) < _HIGH_WATER // 2:
                p.paused = False
                self._transport.resume_reading()
            return data
        if p.error is not None:
            raise httpcore.ReadError(f"{type(p.error).__name__}: {p.error}")
        return b""  # the other side closed: httpcore decides what that means

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        p = self._protocol
        if p.closed or self._transport.is_closing():
            detail = f": {type(p.error).__name__}: {p.error}" if p.error else ""
            raise httpcore.WriteError(f"the connection is closed{detail}")
        self._transport.write(buffer)
        if p.drained is not None:  # the kernel buffer is full: wait until it drains
            try:
                await _wait(p.drained, timeout)
            except TimeoutError:
                raise httpcore.WriteTimeout(f"could not send within {timeout} s") from None
            if p.error is not None:
                raise httpcore.WriteError(f"{type(p.error).__name__}: {p.error}")

    async def aclose(self) -> None:
        self._transport.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> AsyncioStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                transport = await loop.start_tls(
                    self._transport, self._protocol, ssl_context, server_hostname=server_hostname
                )
        except TimeoutError:
            self._transport.abort()
            raise httpcore.ConnectTimeout(f"TLS handshake took over {timeout} s") from None
        except (OSError, ssl.SSLError) as exc:
            self._transport.abort()
            raise httpcore.ConnectError(f"TLS handshake failed: {exc}") from None
        if transport is None:  # pragma: no cover - only for protocols that opt out of TLS
            raise httpcore.ConnectError("TLS could not be started on this connection")
        return AsyncioStream(transport, self._protocol)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            # Idle and readable means the server hung up (or broke the protocol): the
            # loop has already delivered that to the protocol, so no poll is needed.
            p = self._protocol
            return bool(p.buffer) or p.eof
        if info == "ssl_object":
            return self._transport.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._transport.get_extra_info("sockname")
        if info == "server_addr":
            return self._transport.get_extra_info("peername")
        if info == "socket":
            return self._transport.get_extra_info("socket")
        return None


async def connect_tcp(
    host: str,
    port: int,
    timeout: float | None = None,
    socket_options: Iterable[tuple[int, int, int | bytes]] | None = None,
) -> AsyncioStream:
    """Open a TCP connection (Nagle off, as asyncio sets it) or raise httpcore's
    ``ConnectTimeout``/``ConnectError``."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            transport, protocol = await loop.create_connection(_Protocol, host, port)
    except TimeoutError:
        raise httpcore.ConnectTimeout(
            f"connecting to {host}:{port} took over {timeout} s"
        ) from None
    except OSError as exc:
        raise httpcore.ConnectError(f"cannot connect to {host}:{port}: {exc}") from None
    sock = transport.get_extra_info("socket")
    if sock is not None:
        for option in socket_options or ():
            sock.setsockopt(*option)
    return AsyncioStream(transport, protocol)
