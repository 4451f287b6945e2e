"""The cache on a provider's embeddings endpoint (OpenAI wire format on 127.0.0.1),
whose spend lands in the ledger as its own purpose. The server embeds with the real
MiniLM model, so similarity behaves as in production."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.accounting.prices import cost_of
from core.cache.minilm import MiniLMEmbedder
from core.config import parse_config
from core.engine import Engine
from core.types import Secret, Usage

KEY = "sk-embed-test-0123456789abcdef"


@pytest.fixture(scope="module")
def embed_server() -> Iterator[dict[str, Any]]:
    model = MiniLMEmbedder()
    state: dict[str, Any] = {"calls": [], "fail": False}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            state["calls"].append((self.path, self.headers.get("authorization"), body))
            if state["fail"]:
                raw, status = b'{"error": {"message": "down"}}', 503
            else:
                texts = body["input"]
                vecs = model.embed(texts)
                tokens = sum(model.count_tokens(t) for t in texts)
                raw = json.dumps(
                    {
                        "object": "list",
                        "data": [
                            {"object": "embedding", "index": i, "embedding": v.tolist()}
                            for i, v in enumerate(vecs)
                        ],
                        "model": body["model"],
                        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
                    }
                ).encode()
                status = 200
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    state["url"] = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    yield state
    httpd.shutdown()
    httpd.server_close()


async def test_remote_embeddings_serve_hits_and_record_their_spend(
    tmp_path: Path, embed_server: dict[str, Any]
) -> None:
    embed_server["calls"].clear()
    cfg = parse_config(f"""
[providers.simulator]
kind = "simulator"
latency_scale = 0
[providers.emb]
kind = "openai-compatible"
base_url = "{embed_server["url"]}"
[cache]
embedder = "provider"
embedder_provider = "emb"
embedder_model = "text-embedding-3-small"
embedder_dim = 384
""")
    engine = Engine.open(
        cfg,
        tmp_path / "d",
        key_lookup=lambda n: Secret(KEY),
        client_factory=lambda: httpx.AsyncClient(trust_env=False),
    )
    first = await engine.ask("How long do cats live?", model="fast").collect()
    hit = await engine.ask("What is the average lifespan of a cat?", model="fast").collect()
    assert first.cache_outcome == "miss" and hit.cache_outcome == "semantic"
    assert len(embed_server["calls"]) == 2
    path, auth, body = embed_server["calls"][0]
    assert path == "/v1/embeddings" and auth == f"Bearer {KEY}"
    assert body["model"] == "text-embedding-3-small"
    spend = engine.ledger.totals(purpose="embedding")
    assert spend.requests == 2 and spend.input_tokens > 0
    price = engine.prices.lookup("text-embedding-3-small")
    assert spend.cost_usd == cost_of(Usage(input_tokens=spend.input_tokens), price) > Decimal(0)
    embed_server["fail"] = True
    try:
        rec = await engine.ask("A question while embeddings are down", model="fast").collect()
    finally:
        embed_server["fail"] = False
    assert rec.status == "ok" and any("embedding failed" in w for w in rec.warnings)
    await engine.aclose()
