"""A real HTTP/1.1 server on 127.0.0.1 that plays scripted provider behaviours.

Each test queues :class:`Behaviour` objects; every chat request takes the next one
(or a normal reply when the queue is empty) and the server records what it received
so tests can assert on the wire format. A :class:`Dialect` renders behaviours in one
provider's documented format.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import ssl
import struct
import threading
import zlib
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

__all__ = [
    "DEFAULT",
    "Behaviour",
    "Dialect",
    "LoopbackServer",
    "RecordedRequest",
    "serve",
    "split_pieces",
    "split_text",
]

DEFAULT: Any = object()  # "use the dialect's default" marker for Behaviour.usage


@dataclass
class Behaviour:
    """One scripted reply. The defaults give a normal, complete answer."""

    text: str = "Hello, world!"
    #: Provider-native usage object; None leaves usage out; DEFAULT uses the dialect's.
    usage: Any = DEFAULT
    #: Provider-native finish/stop reason; None uses the dialect's normal one.
    finish: str | None = None
    #: Reasoning text sent the provider's way (ignored by dialects that have none).
    thinking: str | None = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    #: An error message for a non-2xx status (rendered in the dialect's error shape).
    error: str = "scripted failure"
    #: Provider-native error type/code for the error body (e.g. "overloaded_error").
    error_type: str | None = None
    #: A raw body that replaces whatever would have been rendered.
    body: bytes | None = None
    #: Stream frames that replace the rendered ones.
    frames: list[bytes] | None = None
    #: Extra raw frames spliced into the stream: (index, frame).
    inject: list[tuple[int, bytes]] = field(default_factory=list)
    #: Close the socket with a TCP reset after this many stream frames.
    reset_after: int | None = None
    #: Seconds to wait before the status line (a read timeout for short client timeouts).
    delay: float = 0.0
    #: Stall this many seconds after ``stall_after`` frames.
    stall_after: int | None = None
    stall: float = 0.0
    #: End the stream with a cut-off frame after this many whole frames.
    truncate_after: int | None = None
    #: Send an SSE comment (``: ping``) before every frame.
    keepalive: bool = False
    #: Anthropic only: ``ping`` events between frames.
    pings: bool = False
    #: Reply with garbage where JSON should be.
    malformed: bool = False
    #: Split the text into this many deltas (default: one per word).
    chunks: int | None = None
    #: Send the stream with ``Content-Encoding: gzip``, flushed frame by frame.
    gzip: bool = False
    #: Seconds between stream frames, as a model generating tokens would take.
    pace: float = 0.0
    #: Tool calls to answer with, after the text: (id, name, arguments as JSON text).
    #: Formats that carry arguments as text send them as given (valid JSON or not);
    #: formats that carry an object send them parsed. An empty id is left out where
    #: the format's ids are optional (Gemini, Ollama).
    tool_calls: list[tuple[str, str, str]] = field(default_factory=list)
    #: Stream each call's arguments in this many pieces, where the format streams them.
    tool_chunks: int = 3


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    json: Any
    #: The client's (host, port): one per connection, so tests can see reuse.
    peer: tuple[str, int] = ("", 0)


def split_text(text: str, chunks: int | None) -> list[str]:
    """The deltas a reply is streamed in."""
    if chunks is None:
        return re.findall(r"\S+\s*|\s+", text) or [""]
    size = max(1, -(-len(text) // max(chunks, 1)))
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def split_pieces(text: str, pieces: int) -> list[str]:
    """``text`` cut into (at most) ``pieces`` parts, none empty unless ``text`` is."""
    size = max(1, -(-len(text) // max(pieces, 1)))
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


class Dialect:
    """How one provider speaks. Subclasses render replies, streams, errors and models."""

    content_type: ClassVar[str] = "text/event-stream"
    keepalive_frame: ClassVar[bytes] = b": ping\n\n"
    #: The provider's prompt cache, played (a ``prompt_cache.PromptCacheEmulator``);
    #: None leaves usage as scripted (or the dialect's fixed default).
    prompt_cache: Any = None

    def route(self, method: str, path: str, body: Any) -> str | None:
        """ "chat", "stream" or "models" (None: 404)."""
        raise NotImplementedError

    def reply(self, b: Behaviour, model: str) -> Any:
        raise NotImplementedError

    def frames(self, b: Behaviour, model: str) -> list[bytes]:
        raise NotImplementedError

    def error_body(self, b: Behaviour) -> Any:
        raise NotImplementedError

    def models(self, names: list[str], query: dict[str, list[str]], page: int) -> Any:
        raise NotImplementedError

    def ping_frame(self) -> bytes | None:
        return None

    def prepare(self, b: Behaviour, body: Any, model: str) -> Behaviour:
        """The behaviour a chat request is answered with, given its body: with a prompt
        cache, the request is accounted for and a default usage becomes the measured one."""
        return b if self.prompt_cache is None else self.prompt_cache.answer(b, body, model)

    def refuse(self, body: Any) -> str | None:
        """Why the real API would answer this chat body with a 400 (None: it takes it).
        Checks what the provider's docs require of tools, tool calls, tool results and
        images; a body without them passes."""
        return None

    def malformed_frame(self) -> bytes:
        return b'data: {"choices": [{"delta": {"content": "x"}\n\n'


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = 30
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean

    def _dispatch(self) -> None:
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        url = urlsplit(self.path)
        rec = RecordedRequest(
            self.command,
            url.path,
            parse_qs(url.query),
            {k.lower(): v for k, v in self.headers.items()},
            raw,
            parsed,
            tuple(self.client_address[:2]),
        )
        route = owner.dialect.route(self.command, url.path, parsed)
        owner.record(rec)
        refused = owner.dialect.refuse(parsed) if route in ("chat", "stream") else None
        if route is None:
            self._send(404, b'{"error": "no such route"}')
        elif refused is not None:
            # What the real API answers a body it will not take (a tool result for no
            # call, a bad image block, ...): a 400 naming the problem.
            self._error(Behaviour(status=400, error=refused))
        elif route == "models":
            self._models(owner, rec)
        else:
            model = parsed.get("model", "") if isinstance(parsed, dict) else ""
            model = model or url.path.rsplit("/", 1)[-1].split(":")[0]
            behaviour = owner.dialect.prepare(owner.next_behaviour(), parsed, model)
            self._chat(behaviour, model, route == "stream")

    do_GET = do_POST = _dispatch

    def _models(self, owner: LoopbackServer, rec: RecordedRequest) -> None:
        b = owner.next_behaviour("models")
        if b.status != 200 or b.body is not None:
            self._error(b)
            return
        body = owner.dialect.models(owner.models, rec.query, owner.page_size)
        self._send(200, json.dumps(body).encode())

    def _chat(self, b: Behaviour, model: str, stream: bool) -> None:
        if b.delay and self.server.stopping.wait(b.delay):
            return
        if b.status != 200:
            self._error(b)
        elif not stream:
            body = b.body
            if body is None:
                body = b'{"id": "x", "choices": [{"mess' if b.malformed else b""
                body = body or json.dumps(self.server.owner.dialect.reply(b, model)).encode()
            if b.reset_after is not None:
                self._start(200, "application/json", {"Content-Length": str(len(body))})
                self.wfile.write(body[: len(body) // 2])
                self._reset()
                return
            self._send(200, body, b.headers)
        else:
            self._stream(b, model)

    def _error(self, b: Behaviour) -> None:
        body = b.body if b.body is not None else json.dumps(self.server.owner.dialect.error_body(b))
        self._send(b.status, body if isinstance(body, bytes) else body.encode(), b.headers)

    def _start(self, status: int, ctype: str, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        extra = {"Content-Length": str(len(body)), **(headers or {})}
        self._start(status, "application/json", extra)
        self.wfile.write(body)

    def _stream(self, b: Behaviour, model: str) -> None:
        dialect = self.server.owner.dialect
        frames = list(b.frames) if b.frames is not None else dialect.frames(b, model)
        if b.malformed and b.frames is None:
            frames.insert(1, dialect.malformed_frame())
        for index, frame in sorted(b.inject, key=lambda x: x[0], reverse=True):
            frames.insert(index, frame)
        headers = {"Transfer-Encoding": "chunked", **b.headers}
        if b.gzip:
            headers["Content-Encoding"] = "gzip"
            self._gzip = zlib.compressobj(wbits=31)  # 31: a gzip header and trailer
        self._start(200, dialect.content_type, headers)
        ping = dialect.ping_frame() if b.pings else None
        for i, frame in enumerate(frames):
            if b.reset_after is not None and i >= b.reset_after:
                self._reset()
                return
            stall = b.stall_after is not None and i == b.stall_after
            if stall and self.server.stopping.wait(b.stall):
                return
            if b.truncate_after is not None and i >= b.truncate_after:
                self._chunk(frame[: max(1, len(frame) // 2)].rstrip(b"\r\n"))
                break
            if b.pace and i and self.server.stopping.wait(b.pace):
                return
            if b.keepalive:
                self._chunk(dialect.keepalive_frame)
            if ping and i:
                self._chunk(ping)
            self._chunk(frame)
        if b.gzip:
            self._chunk(b"", final=True)
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    _gzip: Any = None

    def _chunk(self, data: bytes, final: bool = False) -> None:
        if self._gzip is not None:
            flush = zlib.Z_FINISH if final else zlib.Z_SYNC_FLUSH
            data = self._gzip.compress(data) + self._gzip.flush(flush)
            if final:
                self._gzip = None
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _reset(self) -> None:
        """Abort the connection with RST, as a crashed proxy or provider would."""
        self.wfile.flush()
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (ConnectionError, OSError, ValueError):
            self.close_connection = True  # the client went away (e.g. after its timeout)

    def finish(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            super().finish()


class _Server(ThreadingHTTPServer):
    request_queue_size = 128
    daemon_threads = True
    owner: LoopbackServer
    stopping: threading.Event

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up mid-reply is part of the script, not an error


class LoopbackServer:
    """A provider look-alike on ``127.0.0.1:<random port>``; use :func:`serve`."""

    def __init__(
        self, dialect: Dialect, prefix: str = "", tls: ssl.SSLContext | None = None
    ) -> None:
        self.dialect = dialect
        self.prefix = prefix
        self.requests: list[RecordedRequest] = []
        self.models: list[str] = []
        self.page_size = 1000
        #: What a request gets when nothing is queued for it.
        self.default = Behaviour()
        self._queues: dict[str, deque[Behaviour]] = {"chat": deque(), "models": deque()}
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._server.stopping = threading.Event()
        self.scheme = "http" if tls is None else "https"
        if tls is not None:  # the handshake happens in the handler's thread, on first read
            self._server.socket = tls.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False
            )
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.02,), daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{self.scheme}://{host!s}:{port}{self.prefix}"

    def queue(self, *behaviours: Behaviour, route: str = "chat") -> None:
        """Script the next replies for ``route`` ("chat" or "models")."""
        with self._lock:
            self._queues[route].extend(behaviours)

    def next_behaviour(self, route: str = "chat") -> Behaviour:
        with self._lock:
            queue = self._queues[route]
            return queue.popleft() if queue else self.default

    def record(self, rec: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(rec)

    @property
    def last(self) -> RecordedRequest:
        with self._lock:
            return self.requests[-1]

    def start(self) -> LoopbackServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


@contextlib.contextmanager
def serve(
    dialect: Dialect, prefix: str = "", tls: ssl.SSLContext | None = None
) -> Iterator[LoopbackServer]:
    """Run a loopback server for the ``with`` block (fixtures and benchmarks use this);
    with ``tls``, it speaks HTTPS with that server context."""
    server = LoopbackServer(dialect, prefix, tls).start()
    try:
        yield server
    finally:
        server.stop()
