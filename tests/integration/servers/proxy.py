"""A forward HTTP proxy on 127.0.0.1, for checking that outgoing calls honour HTTP_PROXY.

It forwards absolute-URI requests for ``http://`` targets (what a client sends a proxy
for a plain-HTTP URL; no ``CONNECT`` tunnels) and only to loopback addresses, keeping
each request it forwarded. A reply is read whole from the target and passed on with a
``Content-Length``, so a stream arrives at once: enough to see that it went this way.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

__all__ = ["ForwardProxy", "ProxiedRequest", "forward_proxy"]

#: Headers that belong to one hop, not passed on (RFC 9110 section 7.6.1).
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
}


@dataclass(frozen=True)
class ProxiedRequest:
    method: str
    #: The absolute URI the client asked the proxy for.
    url: str


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _ProxyServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _forward(self) -> None:
        target = urlsplit(self.path)
        host = target.hostname or ""
        if target.scheme != "http" or not ipaddress.ip_address(host).is_loopback:
            self._answer(502, b"this test proxy forwards http:// to loopback only", {})
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        self.server.owner.record(ProxiedRequest(self.command, self.path))
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        path = target.path + (f"?{target.query}" if target.query else "")
        upstream = http.client.HTTPConnection(host, target.port or 80, timeout=10)
        try:
            upstream.request(self.command, path or "/", body=body, headers=headers)
            reply = upstream.getresponse()
            data = reply.read()
            passed = {k: v for k, v in reply.getheaders() if k.lower() not in _HOP_BY_HOP}
            self._answer(reply.status, data, passed)
        finally:
            upstream.close()

    def _answer(self, status: int, data: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _forward


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    owner: ForwardProxy


class ForwardProxy:
    """The proxy; ``url`` is what HTTP_PROXY should say, ``requests`` what it forwarded."""

    def __init__(self) -> None:
        self.requests: list[ProxiedRequest] = []
        self._lock = threading.Lock()
        self._server = _ProxyServer(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.02,), daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def record(self, request: ProxiedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def start(self) -> ForwardProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


@contextlib.contextmanager
def forward_proxy() -> Iterator[ForwardProxy]:
    proxy = ForwardProxy().start()
    try:
        yield proxy
    finally:
        proxy.stop()
