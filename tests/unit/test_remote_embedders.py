"""Remote embedders against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import numpy as np
import pytest

from core.cache import AsyncEmbedder
from core.cache.remote_embedders import OllamaEmbedder, OpenAICompatibleEmbedder
from core.errors import (
    AuthenticationError,
    BadRequestError,
    ConnectionFailedError,
    MalformedResponseError,
    OverloadedError,
    ProviderContextLengthError,
    ProviderTimeoutError,
    RateLimitError,
)
from core.types import Secret


@dataclass
class Reply:
    status: int = 200
    body: bytes | dict[str, Any] = b"{}"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class FakeServer:
    """Replies with ``reply`` and records every request as (path, headers, json body)."""

    url: str
    reply: Reply = field(default_factory=Reply)
    seen: list[tuple[str, dict[str, str], Any]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)


def _handler(state: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            state.seen.append((self.path, dict(self.headers), json.loads(body)))
            reply = state.reply
            if reply.delay:
                state.release.wait(reply.delay)
            raw = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
            try:
                self.send_response(reply.status)
                for k, v in {"content-type": "application/json", **reply.headers}.items():
                    self.send_header(k, v)
                self.send_header("content-length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)
            except OSError:  # the client gave up (timeout test)
                pass

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def server() -> Iterator[FakeServer]:
    state = FakeServer(url="")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield state
    state.release.set()
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False, timeout=5) as c:
        yield c


def _openai_reply(vectors: list[list[float]], tokens: int | None = 7) -> dict[str, Any]:
    data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]
    data.reverse()  # services may answer out of order; ``index`` rules
    reply: dict[str, Any] = {"object": "list", "data": data, "model": "m"}
    if tokens is not None:
        reply["usage"] = {"prompt_tokens": tokens, "total_tokens": tokens}
    return reply


async def test_openai_posts_and_normalises(server: FakeServer, client: httpx.AsyncClient) -> None:
    server.reply = Reply(body=_openai_reply([[3.0, 4.0], [0.0, 2.0]], tokens=11))
    emb = OpenAICompatibleEmbedder(client, server.url + "/v1/", "text-emb", Secret("sk-test"))
    assert isinstance(emb, AsyncEmbedder)
    vecs, tokens = await emb.aembed(["first", "second"])
    assert vecs.dtype == np.float32
    np.testing.assert_allclose(vecs, [[0.6, 0.8], [0.0, 1.0]], atol=1e-6)
    assert tokens == 11 and emb.dim == 2
    assert emb.last_usage is not None and not emb.last_usage.estimated
    path, headers, body = server.seen[0]
    assert path == "/v1/embeddings"
    assert headers["Authorization"] == "Bearer sk-test"
    assert body == {"model": "text-emb", "input": ["first", "second"], "encoding_format": "float"}


async def test_openai_without_usage_estimates(
    server: FakeServer, client: httpx.AsyncClient
) -> None:
    server.reply = Reply(body=_openai_reply([[1.0, 0.0]], tokens=None))
    emb = OpenAICompatibleEmbedder(client, server.url, "m", None)
    _, tokens = await emb.aembed(["twelve chars"])
    assert tokens == 3
    assert emb.last_usage is not None and emb.last_usage.estimated
    assert "Authorization" not in server.seen[0][1]


async def test_ollama_posts_and_reads_tokens(server: FakeServer, client: httpx.AsyncClient) -> None:
    server.reply = Reply(
        body={"model": "nomic", "embeddings": [[0.0, 5.0]], "prompt_eval_count": 4}
    )
    emb = OllamaEmbedder(client, server.url, "nomic-embed-text")
    vecs, tokens = await emb.aembed(["hello"])
    np.testing.assert_allclose(vecs, [[0.0, 1.0]])
    assert tokens == 4
    assert server.seen[0][0] == "/api/embed"
    assert server.seen[0][2] == {"model": "nomic-embed-text", "input": ["hello"]}


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (Reply(401, {"error": "bad key"}), AuthenticationError),
        (Reply(403, {"error": "forbidden"}), AuthenticationError),
        (Reply(429, {"error": "slow down"}, {"retry-after": "2.5"}), RateLimitError),
        (Reply(400, {"error": "unknown parameter"}), BadRequestError),
        (Reply(400, {"error": "maximum context length is 8192"}), ProviderContextLengthError),
        (Reply(503, b"upstream down"), OverloadedError),
        (Reply(200, b"<html>not json</html>"), MalformedResponseError),
        (Reply(200, {"data": "nope"}), MalformedResponseError),
        (Reply(200, _openai_reply([[1.0, 0.0], [1.0]])), MalformedResponseError),
        (Reply(200, _openai_reply([[float("nan"), 0.0], [1.0, 1.0]])), MalformedResponseError),
    ],
)
async def test_openai_errors_map_to_the_tree(
    server: FakeServer, client: httpx.AsyncClient, reply: Reply, error: type[Exception]
) -> None:
    reply.headers.setdefault("x-request-id", "req-42")
    server.reply = reply
    emb = OpenAICompatibleEmbedder(client, server.url, "m", Secret("k"))
    with pytest.raises(error) as info:
        await emb.aembed(["a", "b"])
    err = info.value
    assert type(err) is error
    assert (err.provider, err.model, err.request_id) == ("openai-compatible", "m", "req-42")  # type: ignore[attr-defined]
    if error is RateLimitError:
        assert err.retry_after == 2.5  # type: ignore[attr-defined]


async def test_configured_dim_is_enforced(server: FakeServer, client: httpx.AsyncClient) -> None:
    server.reply = Reply(body={"embeddings": [[1.0, 0.0, 0.0]]})
    emb = OllamaEmbedder(client, server.url, "m", dim=2)
    with pytest.raises(MalformedResponseError, match="2 dimensions"):
        await emb.aembed(["x"])


async def test_timeout(server: FakeServer) -> None:
    server.reply = Reply(body={"embeddings": [[1.0]]}, delay=5)
    async with httpx.AsyncClient(trust_env=False, timeout=0.2) as short:
        with pytest.raises(ProviderTimeoutError):
            await OllamaEmbedder(short, server.url, "m").aembed(["x"])


async def test_connection_refused(client: httpx.AsyncClient) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ConnectionFailedError):
        await OllamaEmbedder(client, f"http://127.0.0.1:{port}", "m").aembed(["x"])


async def test_empty_input_makes_no_call(server: FakeServer, client: httpx.AsyncClient) -> None:
    vecs, tokens = await OllamaEmbedder(client, server.url, "m", dim=3).aembed([])
    assert vecs.shape == (0, 3) and tokens == 0 and server.seen == []


def test_usage_cost_is_exact() -> None:
    from core.cache import EmbeddingUsage

    usage = EmbeddingUsage("openai-compatible", "text-embedding-3-small", 1234)
    assert usage.cost_usd(Decimal("0.02")) == Decimal("0.00002468")


def test_secret_not_in_repr(client: httpx.AsyncClient) -> None:
    emb = OpenAICompatibleEmbedder(client, "http://x", "m", Secret("sk-very-secret"))
    assert "sk-very-secret" not in repr(emb) + repr(vars(emb))
