"""The official ``openai`` SDK works against the gateway unchanged (base_url only)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from core.gateway import GatewayServer
from tests.integration.gateway_support import TOKEN, open_engine, running_gateway

MESSAGES = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Name a prime number."},
]


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[GatewayServer]:
    with running_gateway(tmp_path / "data", "[budget]\ndaily_usd = 100\n") as gw:
        yield gw


def _client(gw: GatewayServer, key: str = TOKEN) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"{gw.url}/v1",
        api_key=key,
        http_client=httpx.Client(trust_env=False),
        max_retries=0,
    )


def test_sdk_non_streaming(gateway: GatewayServer, tmp_path: Path) -> None:
    with _client(gateway) as client:
        raw = client.chat.completions.with_raw_response.create(
            model="auto",
            messages=MESSAGES,  # type: ignore[arg-type]
        )
        completion = raw.parse()
        models = [m.id for m in client.models.list()]
    assert completion.choices[0].message.content
    assert completion.usage is not None and completion.usage.total_tokens > 0
    assert raw.headers["x-centwise-cost-usd"]
    assert "auto" in models and "fast" in models
    engine = open_engine(tmp_path / "data")
    try:
        rec = engine.get_record(raw.headers["x-request-id"])
    finally:
        engine.close()
    assert rec is not None and rec.system == "Be brief."
    assert rec.response == completion.choices[0].message.content


def test_sdk_streaming_with_usage(gateway: GatewayServer) -> None:
    with _client(gateway) as client:
        stream = client.chat.completions.create(
            model="fast",
            messages=MESSAGES,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    finals = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finals[0].model_extra is not None and finals[0].model_extra["centwise"]["cost_usd"]


def test_sdk_wrong_key_is_authentication_error(gateway: GatewayServer) -> None:
    with _client(gateway, "wrong") as client, pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="auto", messages=MESSAGES)  # type: ignore[arg-type]


def test_sdk_budget_refusal_is_rate_limit_error_without_retries(tmp_path: Path) -> None:
    with (
        running_gateway(tmp_path / "data", "[budget]\ndaily_usd = 0.000001\n") as gw,
        openai.OpenAI(
            base_url=f"{gw.url}/v1", api_key=TOKEN, http_client=httpx.Client(trust_env=False)
        ) as client,  # default max_retries: x-should-retry: false must stop them
    ):
        with pytest.raises(openai.RateLimitError, match="daily budget") as info:
            client.chat.completions.create(model="auto", messages=MESSAGES)  # type: ignore[arg-type]
        rid = info.value.response.headers["x-request-id"]
    engine = open_engine(tmp_path / "data")
    try:
        assert engine.history_count() == 1
        rec = engine.get_record(rid)
    finally:
        engine.close()
    assert rec is not None and rec.status == "refused"
