"""Provider prompt caching end to end: the engine (and the gateway, with the official
SDKs as clients) against loopback servers that emulate each provider's caching rule,
so what is cached, saved and lost is what the servers measured."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import anthropic
import httpx
import httpx2
import openai
import pytest

from core.config import parse_config
from core.engine import Engine
from core.gateway import GatewayServer, start_gateway
from core.types import RequestRecord, Secret
from tests.integration.gateway_support import TOKEN, ledger_records, sim_config_text
from tests.integration.prompt_cache_support import (
    Injection,
    caching_engine,
    config_text,
    run_conversation,
    system_prompt,
    tool_list,
)
from tests.integration.servers.prompt_cache import CachingServers, FakeClock, caching_servers


def stored(data_dir: Path) -> list[RequestRecord]:
    """Every record of the ledger in ``data_dir``, oldest first, read by a fresh engine."""
    engine = Engine.open(parse_config(sim_config_text(), "t.toml"), data_dir, warm_tokenizer=False)
    try:
        return engine.history(0, 1000)[::-1]
    finally:
        engine.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def servers(clock: FakeClock) -> Iterator[CachingServers]:
    with caching_servers(clock=clock) as s:
        yield s


async def test_anthropic_auto_marks_cut_input_cost_and_the_server_agrees(servers, clock, tmp_path):
    system, tools = system_prompt(), tool_list()
    costs = {}
    for mode in ("auto", "off"):
        engine = caching_engine(
            "anthropic", servers.server("anthropic").base_url, tmp_path / mode, clock,
            f'[prompt_cache]\nmode = "{mode}"\n',
        )  # fmt: skip
        first_event = len(servers.events("anthropic"))
        try:
            run = await run_conversation(engine, clock, 6, system=system, tools=tools)
        finally:
            await engine.aclose()
        events = servers.events("anthropic")[first_event:]
        costs[mode] = run.input_usd(engine)
        if mode == "off":
            assert all(not e.marks and e.read_tokens == 0 for e in events)
            assert [r.prompt_cache_break for r in run.records[1:]] == ["not_marked"] * 5
            continue
        # marks at the end of the tools, the system prompt and the prompt: all within 4
        assert all(0 < len(e.marks) <= 4 for e in events)
        assert events[0].write_tokens > 3000 and events[0].read_tokens == 0
        for event, rec in zip(events[1:], run.records[1:], strict=True):
            assert event.read_tokens > 3000  # the server read the prefix back
            assert rec.usage.cached_input_tokens == event.read_tokens  # as reported
            expected = int(rec.prompt_cache["expected_cached_tokens"])
            assert abs(expected - event.read_tokens) < 0.25 * event.read_tokens
            assert rec.prompt_cache_break is None and rec.prompt_cache_saved_usd > 0
        kept = ledger_records(tmp_path / mode, *(r.request_id for r in run.records))
        assert sum(r.prompt_cache_saved_usd for r in kept if r) == sum(
            r.prompt_cache_saved_usd for r in run.records
        )
    assert costs["auto"] < costs["off"] * Decimal("0.5")


async def test_the_detector_finds_each_injected_change_where_it_was_made(servers, clock, tmp_path):
    engine = caching_engine("anthropic", servers.server("anthropic").base_url, tmp_path, clock)
    injections = [
        Injection(3, "system_edit"),
        Injection(5, "tools_reordered"),
        Injection(7, "timestamp"),
    ]
    try:
        run = await run_conversation(
            engine, clock, 9, system=system_prompt(), tools=tool_list(), injections=injections,
            client="bot",
        )  # fmt: skip
        report = engine.provider_cache_report()
    finally:
        await engine.aclose()
    causes = [r.prompt_cache_break for r in run.records]
    assert causes == [None, None, None, "system_changed", None, "tools_changed", None,
                      "system_changed", "system_changed"]  # fmt: skip
    edit = run.records[3].prompt_cache["divergence"]
    assert (edit["part"], edit["index"]) == ("messages", 0)
    assert "(updated)" in edit["after"] and "(updated)" not in edit["before"]
    tools = run.records[5].prompt_cache["divergence"]
    assert (tools["part"], tools["index"]) == ("tools", 0)
    stamp = run.records[8].prompt_cache["divergence"]
    assert (stamp["part"], stamp["index"]) == ("messages", 0) and ":07:" in stamp["before"]
    assert all(r.prompt_cache_lost_usd > 0 for r in run.records if r.prompt_cache_break)
    by_cause = {c.cause: c for c in report.causes}
    assert by_cause["system_changed"].requests == 3 and by_cause["tools_changed"].requests == 1


async def test_a_conversation_that_comes_back_after_the_ttl_reads_nothing(servers, clock, tmp_path):
    engine = caching_engine("anthropic", servers.server("anthropic").base_url, tmp_path, clock)
    try:
        run = await run_conversation(
            engine, clock, 3, system=system_prompt(), tools=(), gap_seconds=400
        )
    finally:
        await engine.aclose()
    assert [r.usage.cached_input_tokens for r in run.records] == [0, 0, 0]
    assert [r.prompt_cache_break for r in run.records] == [None, "expired", "expired"]


async def test_openai_gets_one_key_per_conversation_and_reads_its_prefix(servers, clock, tmp_path):
    for kind in ("openai", "openai-compatible"):
        engine = caching_engine(kind, servers.server(kind).base_url, tmp_path / kind, clock)
        start = len(servers.events(kind))
        try:
            cid = engine.start_conversation(system=system_prompt())
            for i in range(3):
                rec = await engine.ask(
                    f"Question {i} about refunds?", conversation_id=cid
                ).collect()
                assert rec.status == "ok"
            other = engine.start_conversation(system=system_prompt())
            await engine.ask("Another thread?", conversation_id=other).collect()
        finally:
            await engine.aclose()
        events = servers.events(kind)[start:]
        keys = [e.cache_key for e in events]
        assert keys[0] == keys[1] == keys[2] and keys[0] and keys[0].startswith("centwise-")
        assert keys[3] != keys[0] and cid not in keys[0]
        assert events[1].read_tokens >= 1024 and events[1].read_tokens % 128 == 0
        assert rec.usage.cached_input_tokens == events[2].read_tokens


async def test_a_compatible_server_that_takes_no_key_is_sent_none(servers, clock, tmp_path):
    url = servers.server("openai-compatible").base_url
    engine = caching_engine(
        "openai-compatible", url, tmp_path, clock, provider="prompt_cache_key = false"
    )
    try:
        rec = await engine.ask("Hello?", system=system_prompt(), client="app").collect()
    finally:
        await engine.aclose()
    assert rec.status == "ok" and servers.events("openai")[-1].cache_key is None
    assert "prompt_cache_key" not in rec.prompt_cache


async def test_gemini_implicit_caching_is_reported_and_priced(servers, clock, tmp_path):
    engine = caching_engine("gemini", servers.server("gemini").base_url, tmp_path, clock)
    try:
        run = await run_conversation(engine, clock, 3, system=system_prompt(), tools=tool_list())
    finally:
        await engine.aclose()
    events = servers.events("gemini")
    assert events[1].read_tokens > 3000
    second = run.records[1]
    assert second.usage.cached_input_tokens == events[1].read_tokens
    assert second.prompt_cache["rule"] == "automatic" and second.prompt_cache_saved_usd > 0
    assert run.input_usd(engine) < run.uncached_input_usd(engine) * Decimal("0.6")


# -- through the gateway ----------------------------------------------------------------


def _gateway(kind: str, server_url: str, data_dir: Path) -> GatewayServer:
    text = config_text(kind, server_url)
    return start_gateway(
        parse_config(text, "test.toml"), data_dir, TOKEN, host="127.0.0.1", port=0,
        key_lookup=lambda name: Secret("sk-loopback-test"),
        client_factory=lambda: httpx.AsyncClient(trust_env=False),
    )  # fmt: skip


def test_an_sdk_clients_own_prompt_cache_key_reaches_openai_as_given(servers, tmp_path):
    gw = _gateway("openai", servers.server("openai").base_url, tmp_path)
    try:
        with openai.OpenAI(
            base_url=f"{gw.url}/v1", api_key=TOKEN, max_retries=0,
            http_client=httpx.Client(trust_env=False),
        ) as client:  # fmt: skip
            messages = [
                {"role": "system", "content": system_prompt()},
                {"role": "user", "content": "Hi"},
            ]
            for _ in range(2):
                reply = client.chat.completions.create(
                    model="auto", messages=messages, prompt_cache_key="shop-bot-7"
                )
            stream = client.chat.completions.create(
                model="auto", messages=messages, stream=True, user="alice",
                stream_options={"include_usage": True},
            )  # fmt: skip
            usage = [c.usage for c in stream if c.usage is not None]
    finally:
        gw.stop()
    events = servers.events("openai")
    assert [e.cache_key for e in events[:2]] == ["shop-bot-7", "shop-bot-7"]
    assert events[2].cache_key and events[2].cache_key.startswith("centwise-")  # per client
    assert reply.usage is not None and reply.usage.prompt_tokens_details is not None
    assert reply.usage.prompt_tokens_details.cached_tokens == events[1].read_tokens > 0
    assert usage and usage[0].prompt_tokens > 0
    rows = stored(tmp_path)
    assert rows[1].prompt_cache["prompt_cache_key"] == "shop-bot-7"
    assert rows[1].usage.cached_input_tokens == events[1].read_tokens


def test_an_anthropic_sdk_client_gets_automatic_marks_and_its_own_are_never_doubled(
    servers, tmp_path
):
    gw = _gateway("anthropic", servers.server("anthropic").base_url, tmp_path)
    try:
        with anthropic.Anthropic(
            base_url=gw.url,
            api_key=TOKEN,
            max_retries=0,
            http_client=httpx2.Client(trust_env=False),
        ) as client:
            reads = _three_requests(client)
    finally:
        gw.stop()
    events = servers.events("anthropic")
    assert len(events[0].marks) >= 1 and events[0].write_tokens > 3000
    assert reads == events[1].read_tokens > 3000  # as the SDK client was told
    assert len(events[2].marks) == 1  # the client's one mark, as given, nothing added
    rows = stored(tmp_path)
    assert rows[2].prompt_cache["marks"]["client"] == ["messages[0]"]
    assert rows[2].prompt_cache["marks"]["auto"] == []


def _three_requests(client: anthropic.Anthropic) -> int | None:
    """Two requests with no marks (Centwise places them), then one the client marked;
    the cached tokens the second reply reported."""
    system = system_prompt()
    for _ in range(2):
        reply = client.messages.create(
            model="auto", max_tokens=50, system=system,
            messages=[{"role": "user", "content": "Where is my parcel?"}],
        )  # fmt: skip
    marked = [{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}]
    client.messages.create(
        model="auto", max_tokens=50, system=marked,  # type: ignore[arg-type]
        messages=[{"role": "user", "content": "And the refund?"}],
    )  # fmt: skip
    return reply.usage.cache_read_input_tokens
