"""One HTTP/1.1 client connection on plain asyncio, its replies parsed by httptools.

httpx's transport reads a reply through httpcore and h11: for every piece of a
streamed body, four generator layers, a context manager that maps exceptions, and
h11's pure-Python framing (chunk-size lines, an event object, its state machine).
In the gateway that was a quarter of the CPU spent on each streamed delta. Here the
parser (llhttp, in C, the one uvicorn uses for the gateway's own side) runs inside
``data_received``: the body arrives as a queue of pieces and a reader waits on one
future only when the queue is empty. Failures are httpx's own exceptions, with the
messages httpcore gives, so providers see the same httpx they always did.

Each connection carries one request at a time (the pool hands it out exclusively);
after a complete reply the server allows keep-alive for, it can carry the next.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any, cast

import httptools
import httpx

__all__ = ["Connection", "connect"]

#: Stop reading from the socket while this much of a reply is queued unread.
_HIGH_WATER = 256 * 1024


def _expire(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_exception(TimeoutError())


def _head(request: httpx.Request) -> bytes:
    """The request line and headers (httpx has set Host and the body's length)."""
    url = request.url
    lines = [request.method.encode("ascii"), b" ", url.raw_path, b" HTTP/1.1\r\n"]
    for name, value in request.headers.raw:
        lines += (name, b": ", value, b"\r\n")
    lines.append(b"\r\n")
    return b"".join(lines)


class Connection(asyncio.Protocol):
    """A TCP (or TLS) connection to one origin and the reply being read on it."""

    def __init__(self, keepalive_expiry: float | None) -> None:
        self.loop = asyncio.get_running_loop()
        #: (scheme, host, port): the pool's key for the connection's origin.
        self.origin: tuple[str, str, int | None] | None = None
        self.transport: asyncio.Transport | None = None
        self.keepalive_expiry = keepalive_expiry
        self.idle_since = time.monotonic()
        self.closed = False  # the transport is gone
        self.eof = False  # the server closed its side (or the connection is gone)
        self.lost: BaseException | None = None  # why the connection was lost, if it broke
        self.reusable = True  # false once anything makes another request unsafe
        self._waiter: asyncio.Future[None] | None = None
        self._drained: asyncio.Future[None] | None = None
        self._paused = False
        self._parser: httptools.HttpResponseParser | None = None
        self._reset()

    def _reset(self) -> None:
        self.active = False  # a request is in flight
        self.head_only = False
        self.status = 0
        self.reason = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.headers_done = False
        self.keep_alive = False
        self.complete = False
        self.error: httpx.TransportError | None = None
        self.pieces: deque[bytes] = deque()
        self.queued = 0

    # --- the protocol: the loop calls these ---------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports quack like asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        parser = self._parser
        if parser is None or self.complete:
            # Bytes nobody asked for: the server broke the protocol, or is closing.
            self.reusable = False
            return
        try:
            parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(httpx.RemoteProtocolError("the server switched protocols"))
        except httptools.HttpParserError as exc:
            self._fail(httpx.RemoteProtocolError(f"malformed reply from the server: {exc}"))
        if self.queued > _HIGH_WATER and not self._paused and self.transport is not None:
            self.transport.pause_reading()
            self._paused = True
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False  # let the transport close itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = self.eof = True
        self.lost = exc
        self.reusable = False
        self._wake()
        drained, self._drained = self._drained, None
        if drained is not None and not drained.done():
            drained.set_result(None)

    def pause_writing(self) -> None:
        if self._drained is None:
            self._drained = self.loop.create_future()

    def resume_writing(self) -> None:
        drained, self._drained = self._drained, None
        if drained is not None and not drained.done():
            drained.set_result(None)

    # --- the parser: httptools calls these from feed_data -------------------------------

    def on_message_begin(self) -> None:
        if self.complete:  # a second reply to one request: the stream is out of step
            self.reusable = False

    def on_status(self, status: bytes) -> None:
        self.reason += status

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        assert self._parser is not None
        status = self._parser.get_status_code()
        if 100 <= status < 200:  # informational: the real reply follows
            self.reason, self.headers = b"", []
            return
        self.status = status
        self.keep_alive = self._parser.should_keep_alive()
        self.headers_done = True
        if self.head_only:  # no body follows, whatever the headers say
            self.complete = True
            self.reusable = False  # the parser would read the next reply as this body

    def on_body(self, body: bytes) -> None:
        self.pieces.append(body)
        self.queued += len(body)

    def on_message_complete(self) -> None:
        if self.headers_done:
            self.complete = True

    # --- the client side ------------------------------------------------------------

    @property
    def usable(self) -> bool:
        """Idle, open, and not past its keep-alive expiry: fit for another request."""
        if self.closed or self.eof or not self.reusable or self.active:
            return False
        expiry = self.keepalive_expiry
        return expiry is None or time.monotonic() - self.idle_since < expiry

    async def send(self, request: httpx.Request, timeouts: dict[str, float | None]) -> None:
        """Write the request and wait for the reply's headers."""
        self._reset()
        self.active = True
        self.head_only = request.method == "HEAD"
        self._parser = httptools.HttpResponseParser(self)
        head = _head(request)
        write_timeout = timeouts.get("write")
        try:
            body = request.content
        except httpx.RequestNotRead:  # a streamed body
            await self._write(head, write_timeout, request)
            chunked = request.headers.get("transfer-encoding", "").lower() == "chunked"
            async for part in cast(httpx.AsyncByteStream, request.stream):
                if part:
                    frame = b"%x\r\n%b\r\n" % (len(part), part) if chunked else part
                    await self._write(frame, write_timeout, request)
            if chunked:
                await self._write(b"0\r\n\r\n", write_timeout, request)
        else:
            await self._write(head + body, write_timeout, request)
        read_timeout = timeouts.get("read")
        while not self.headers_done:
            self._check(request)
            await self._wait(read_timeout, request)

    async def _write(self, data: bytes, timeout: float | None, request: httpx.Request) -> None:
        transport = self.transport
        if self.closed or transport is None or transport.is_closing():
            raise httpx.WriteError("the connection is closed", request=request)
        transport.write(data)
        drained = self._drained
        if drained is not None:  # the kernel's buffer is full: wait until it drains
            timer = self.loop.call_later(timeout, _expire, drained) if timeout else None
            try:
                await drained
            except TimeoutError:
                raise httpx.WriteTimeout(
                    f"could not send within {timeout} s", request=request
                ) from None
            finally:
                if timer is not None:
                    timer.cancel()
            if self.closed:
                raise httpx.WriteError(_lost(self.lost), request=request)

    async def _wait(self, timeout: float | None, request: httpx.Request) -> None:
        fut: asyncio.Future[None] = self.loop.create_future()
        self._waiter = fut
        timer = self.loop.call_later(timeout, _expire, fut) if timeout is not None else None
        try:
            await fut
        except TimeoutError:
            raise httpx.ReadTimeout(f"no data within {timeout} s", request=request) from None
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, error: httpx.TransportError) -> None:
        if self.error is None:
            self.error = error
        self.reusable = False

    def _check(self, request: httpx.Request) -> None:
        """Raise what went wrong, if the reply can no longer arrive; otherwise return
        (with ``complete`` set if the end of the input ended the reply)."""
        if self.error is not None:
            self.error.request = request
            raise self.error
        if not self.eof:
            return
        if self.lost is not None:
            raise httpx.ReadError(_lost(self.lost), request=request)
        if self.headers_done and self._ends_at_close():
            self.complete = True
            return
        if not self.headers_done:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            )
        raise httpx.RemoteProtocolError(
            "peer closed connection without sending complete message body", request=request
        )

    def _ends_at_close(self) -> bool:
        """A reply with neither a length nor chunked framing runs until the server closes."""
        for name, value in self.headers:
            lower = name.lower()
            if lower == b"content-length":
                return False
            if lower == b"transfer-encoding" and b"chunked" in value.lower():
                return False
        return True

    async def body(
        self, request: httpx.Request, read_timeout: float | None
    ) -> AsyncIterator[bytes]:
        """The reply's body as it arrives, piece by piece as the server framed it (one
        piece per chunk of a chunked reply, as httpcore gave them)."""
        pieces = self.pieces
        while True:
            if pieces:
                data = pieces.popleft()
                self.queued -= len(data)
                if self._paused and self.queued < _HIGH_WATER // 2:
                    self._paused = False
                    if self.transport is not None:
                        self.transport.resume_reading()
                yield data
                continue
            if self.complete:
                return
            self._check(request)
            if self.complete:
                return
            await self._wait(read_timeout, request)

    def done(self) -> bool:
        """Finish the request: True if the connection can carry another one."""
        ok = self.complete and self.keep_alive and self.reusable and not self.eof
        self.active = False
        self._parser = None
        self.pieces.clear()
        self.idle_since = time.monotonic()
        return ok

    def close(self) -> None:
        self.reusable = False
        if self.transport is not None and not self.closed:
            self.transport.close()


def _lost(exc: BaseException | None) -> str:
    return f"{type(exc).__name__}: {exc}" if exc is not None else "the connection was closed"


async def connect(
    request: httpx.Request,
    ssl_context: ssl.SSLContext | None,
    keepalive_expiry: float | None,
    timeout: float | None,
) -> Connection:
    """Open a connection to the request's origin (TLS for https) or raise httpx's
    ``ConnectTimeout`` / ``ConnectError``."""
    url = request.url
    host, port = url.host, url.port or (443 if url.scheme == "https" else 80)
    tls: dict[str, Any] = {}
    if url.scheme == "https":
        sni = request.extensions.get("sni_hostname") or host
        tls = {"ssl": ssl_context or httpx.create_ssl_context(), "server_hostname": sni}
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            _, conn = await loop.create_connection(
                lambda: Connection(keepalive_expiry), host, port, **tls
            )
    except TimeoutError:
        raise httpx.ConnectTimeout(
            f"connecting to {host}:{port} took over {timeout} s", request=request
        ) from None
    except ssl.SSLError as exc:
        raise httpx.ConnectError(f"TLS handshake failed: {exc}", request=request) from None
    except OSError as exc:
        raise httpx.ConnectError(
            f"cannot connect to {host}:{port}: {exc}", request=request
        ) from None
    return conn
