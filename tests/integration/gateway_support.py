"""Helpers for gateway tests: a gateway on the instant Simulator, in a thread or a
separate process, always on 127.0.0.1."""

from __future__ import annotations

import base64
import io
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import openai
from PIL import Image

from core.config import parse_config
from core.engine import Engine
from core.gateway import GatewayServer, start_gateway
from core.types import RequestRecord

__all__ = [
    "TOKEN",
    "auth",
    "free_port",
    "gateway_process",
    "ledger_record",
    "ledger_records",
    "open_engine",
    "png_bytes",
    "png_data_url",
    "running_gateway",
    "sim_config_text",
]

TOKEN = "cw-test-token-0123456789abcdef"


def sim_config_text(extra: str = "", *, cache: bool = False) -> str:
    text = '[providers.simulator]\nkind = "simulator"\nlatency_scale = 0\n' + extra
    if not cache and "[cache]" not in extra:
        text += "\n[cache]\nenabled = false\n"
    return text


def auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@contextmanager
def openai_sdk(gateway: GatewayServer) -> Iterator[openai.OpenAI]:
    """The official OpenAI SDK pointed at ``gateway``: no retries, no proxy settings."""
    with openai.OpenAI(
        base_url=f"{gateway.url}/v1",
        api_key=TOKEN,
        http_client=httpx.Client(trust_env=False),
        max_retries=0,
    ) as c:
        yield c


@contextmanager
def running_gateway(data_dir: Path, extra: str = "", **kw: object) -> Iterator[GatewayServer]:
    """The gateway in a background thread on a free loopback port."""
    config = parse_config(sim_config_text(extra), "test.toml")
    server = start_gateway(config, data_dir, TOKEN, host="127.0.0.1", port=0, **kw)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.stop()


def open_engine(data_dir: Path, extra: str = "") -> Engine:
    return Engine.open(parse_config(sim_config_text(extra), "test.toml"), data_dir)


def ledger_record(data_dir: Path, request_id: str) -> RequestRecord | None:
    """The ledger's record of one request, read by an engine of its own."""
    engine = open_engine(data_dir)
    try:
        return engine.get_record(request_id)
    finally:
        engine.close()


def ledger_records(data_dir: Path, *request_ids: str) -> list[RequestRecord | None]:
    """The ledger's records of several requests, read by one engine of its own. It does
    not warm the tokenizer: reading needs none, and warming costs ~0.4 s per engine."""
    config = parse_config(sim_config_text(), "test.toml")
    engine = Engine.open(config, data_dir, warm_tokenizer=False)
    try:
        return [engine.get_record(request_id) for request_id in request_ids]
    finally:
        engine.close()


def png_bytes(width: int = 64, height: int = 32) -> bytes:
    """A small real PNG (two colours, so it is not trivially compressible to nothing)."""
    img = Image.new("RGB", (width, height), (200, 30, 30))
    img.paste((30, 30, 200), (0, 0, width // 2, height))
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def png_data_url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def gateway_process(
    data_dir: Path, config_path: Path, port: int, *, timeout: float = 30.0
) -> Iterator[subprocess.Popen[bytes]]:
    """``centwise serve`` in its own process (no keyring: a per-run token is printed;
    the token is forced via the keyring-less session path, so we read it from stderr)."""
    env = {
        **os.environ,
        "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
        "CENTWISE_CONFIG": str(config_path),
        "CENTWISE_DATA_DIR": str(data_dir),
    }
    log_path = data_dir.parent / f"gateway-{port}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "core", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    try:
        deadline = time.monotonic() + timeout
        token = None
        while token is None:
            for line in log_path.read_text(errors="replace").splitlines():
                if "gateway token for this run:" in line:
                    token = line.rsplit(":", 1)[1].strip()
            if proc.poll() is not None:
                raise RuntimeError(f"gateway exited early: {log_path.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError("gateway process did not print its token")
            time.sleep(0.02)
        _wait_healthy(port, deadline)
        proc.token = token  # type: ignore[attr-defined]
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def _wait_healthy(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError("gateway process did not become healthy")
