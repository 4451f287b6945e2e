"""Every outgoing call honours HTTP_PROXY and NO_PROXY: provider calls from an engine,
alert webhooks and remote embedders, over each transport. A forward proxy on 127.0.0.1
(tests/integration/servers/proxy.py) records what went through it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from core.cache.backends import BlockingRemoteEmbedder
from core.cache.remote_embedders import OpenAICompatibleEmbedder
from core.config import NetworkConfig
from core.gateway.server import post_json
from core.providers.client import make_client
from tests.integration.servers import LoopbackServer
from tests.integration.servers.fixtures import one_tier_engine
from tests.integration.servers.proxy import ForwardProxy, forward_proxy

PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture(params=["httpx", "aiohttp"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[ForwardProxy]:
    """A running forward proxy that HTTP_PROXY names; no other proxy variable is set."""
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    with forward_proxy() as running:
        monkeypatch.setenv("HTTP_PROXY", running.url)
        yield running


@pytest.fixture
def receiver() -> Iterator[dict[str, Any]]:
    """A loopback server for webhooks (``POST /hook``) and embeddings
    (``POST /v1/embeddings``, four-dimensional vectors); it keeps what it was sent."""
    got: dict[str, Any] = {"posts": []}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            got["posts"].append((self.path, body))
            if self.path.endswith("/embeddings"):
                rows = [{"index": i, "embedding": [1.0, 0.0, 0.0, 0.0]} for i in range(2)]
                raw = json.dumps({"data": rows[: len(body["input"])]}).encode()
            else:
                raw = b"{}"
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    got["url"] = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield got
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.mark.parametrize("no_proxy", [None, "127.0.0.1"], ids=["proxied", "no_proxy"])
async def test_an_engines_provider_calls_go_through_http_proxy_unless_no_proxy(
    transport: str,
    proxy: ForwardProxy,
    openai_server: LoopbackServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    no_proxy: str | None,
) -> None:
    if no_proxy:
        monkeypatch.setenv("NO_PROXY", no_proxy)
    engine = one_tier_engine(
        openai_server.base_url, tmp_path / "data", f'transport = "{transport}"'
    )
    try:
        record = await engine.ask("hello").collect()
    finally:
        await engine.aclose()
    assert record.status == "ok" and record.response
    assert len(openai_server.requests) == 1
    chat = f"{openai_server.base_url}/chat/completions"
    assert [(r.method, r.url) for r in proxy.requests] == ([] if no_proxy else [("POST", chat)])


@pytest.mark.parametrize("no_proxy", [None, "127.0.0.1"], ids=["proxied", "no_proxy"])
async def test_a_webhook_goes_through_http_proxy_unless_no_proxy(
    transport: str,
    proxy: ForwardProxy,
    receiver: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    no_proxy: str | None,
) -> None:
    if no_proxy:
        monkeypatch.setenv("NO_PROXY", no_proxy)
    url = f"{receiver['url']}/hook"
    await post_json(url, {"source": "centwise", "kind": "test"}, NetworkConfig(transport=transport))
    assert receiver["posts"] == [("/hook", {"source": "centwise", "kind": "test"})]
    assert [(r.method, r.url) for r in proxy.requests] == ([] if no_proxy else [("POST", url)])


def test_a_remote_embedder_goes_through_http_proxy(
    transport: str, proxy: ForwardProxy, receiver: dict[str, Any]
) -> None:
    """The cache's blocking embedder makes its client with the engine's factory."""
    base = f"{receiver['url']}/v1"
    embedder = BlockingRemoteEmbedder(
        lambda client: OpenAICompatibleEmbedder(client, base, "emb-model", dim=4),
        "openai-compatible:emb-model",
        4,
        lambda: make_client(NetworkConfig(transport=transport)),
    )
    try:
        vectors = embedder.embed(["one", "two"])
    finally:
        embedder.close()
    assert vectors.shape == (2, 4)
    assert [(r.method, r.url) for r in proxy.requests] == [("POST", f"{base}/embeddings")]
