"""Sampling settings (top_p, stop sequences, seed) through the engine: honoured, part
of the cache key, or refused by name before anything is sent."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from core.engine import Engine
from core.errors import UnsupportedParameterError
from core.types import ProviderEvent, ProviderRequest, ResponseFormat, Sampling

PROMPT = "Explain what a ledger is."


async def test_a_stop_sequence_ends_the_simulated_answer_and_keys_the_cache(make_engine):
    engine: Engine = make_engine(cache=True)
    full = await engine.ask(PROMPT, model="fast").collect()
    stop = full.response.split()[3]
    cut = await engine.ask(PROMPT, model="fast", sampling=Sampling(stop=(stop,))).collect()
    assert cut.cache_outcome == "miss"  # another stop sequence: another cache key
    assert cut.status == "ok" and stop not in cut.response
    assert full.response.startswith(cut.response) and len(cut.response) < len(full.response)
    again = await engine.ask(PROMPT, model="fast", sampling=Sampling(stop=(stop,))).collect()
    assert again.cache_outcome == "exact" and again.response == cut.response


ANTHROPIC = """
[providers.claude]
kind = "anthropic"
base_url = "http://127.0.0.1:9"
[[routing.tiers]]
id = "fast"
provider = "claude"
model = "claude-haiku-4-5"
max_complexity = 10
"""


async def test_a_setting_the_provider_cannot_honour_is_refused_by_name(
    make_engine, monkeypatch: pytest.MonkeyPatch
):
    engine: Engine = make_engine(ANTHROPIC)
    sent: list[ProviderRequest] = []

    async def stream(request: ProviderRequest) -> AsyncIterator[ProviderEvent]:
        sent.append(request)
        return
        yield

    monkeypatch.setattr(engine.services.provider("claude"), "stream", stream)
    reply = engine.ask(PROMPT, model="fast", sampling=Sampling(seed=7))
    with pytest.raises(UnsupportedParameterError, match="seed: not supported by anthropic"):
        await reply.collect()
    rec = reply.record
    assert rec is not None and sent == []  # nothing was sent, nothing was spent
    assert rec.status == "rejected" and rec.error_kind == "unsupported_parameter"
    assert "seed" in (rec.error or "") and "anthropic" in (rec.error or "")
    assert rec.cost_usd in (None, 0)


async def test_json_output_is_refused_where_the_api_has_no_json_mode(
    make_engine, monkeypatch: pytest.MonkeyPatch
):
    engine: Engine = make_engine(ANTHROPIC)
    reply = engine.ask(PROMPT, model="fast", response_format=ResponseFormat())
    with pytest.raises(UnsupportedParameterError, match="response_format: not supported"):
        await reply.collect()
    assert reply.record is not None and reply.record.status == "rejected"
