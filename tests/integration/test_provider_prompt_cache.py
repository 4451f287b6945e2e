"""Provider prompt caching, measured: each real adapter against a loopback server that
plays its provider's caching rule (tests/integration/servers/prompt_cache.py).

The expected numbers are counted here from the prompt text with the servers' tokenizer
(``count_tokens``), never taken from the engine, so a saving is something the emulated
provider reported.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest

from core.errors import BadRequestError
from core.types import Message, Tool, Usage
from tests.integration.provider_checks import request, run
from tests.integration.servers import Behaviour, LoopbackServer, make_provider
from tests.integration.servers.prompt_cache import (
    AnthropicCache,
    CacheEvent,
    FakeClock,
    GeminiCache,
    OpenAICache,
    anthropic_min_tokens,
    caching_servers,
    count_tokens,
    gemini_min_tokens,
    serve_caching,
)

BOTH = pytest.mark.parametrize("stream", [True, False], ids=["stream", "complete"])
EPHEMERAL = {"type": "ephemeral"}
ONE_HOUR = {"type": "ephemeral", "ttl": "1h"}
SONNET = "claude-sonnet-4-5"


def long_text(tokens: int, topic: str = "policy") -> str:
    """Deterministic prose of at least ``tokens`` cl100k tokens."""
    words = []
    n = 0
    while count_tokens(" ".join(words)) < tokens:
        words += [f"{topic} rule {n}: answer politely and cite section {n * 7 % 97}."]
        n += 1
    return " ".join(words)


SYSTEM = long_text(1500)
OTHER_SYSTEM = long_text(1500, "manual")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def anthropic_cache(clock: FakeClock) -> Iterator[LoopbackServer]:
    with serve_caching("anthropic", clock=clock) as server:
        yield server


@pytest.fixture
def openai_cache(clock: FakeClock) -> Iterator[LoopbackServer]:
    with serve_caching("openai", clock=clock) as server:
        yield server


@pytest.fixture
def gemini_cache(clock: FakeClock) -> Iterator[LoopbackServer]:
    with serve_caching("gemini", clock=clock) as server:
        yield server


def last_event(server: LoopbackServer) -> CacheEvent:
    event: CacheEvent = server.dialect.prompt_cache.last
    return event


def usage_of(reply: Any) -> Usage:
    assert reply.usage is not None and not reply.estimated
    usage: Usage = reply.usage
    return usage


# --- Anthropic ---------------------------------------------------------------------------


def marked_system(
    system: str = SYSTEM, mark: dict[str, str] | None = None, question: str = "Hi."
) -> tuple[Message, ...]:
    return (Message("system", system, cache_control=mark or EPHEMERAL), Message("user", question))


@BOTH
async def test_anthropic_writes_a_marked_system_prompt_then_reads_it(
    anthropic_cache: LoopbackServer, http_client: httpx.AsyncClient, stream: bool
) -> None:
    provider = make_provider("anthropic", anthropic_cache, http_client)
    system_tokens = count_tokens(SYSTEM)  # the prefix ends at the marked system block
    first = usage_of(await run(provider, request(SONNET, messages=marked_system()), stream))
    assert (first.cache_write_tokens, first.cached_input_tokens) == (system_tokens, 0)
    assert first.cache_write_1h_tokens == 0
    assert first.input_tokens == last_event(anthropic_cache).prompt_tokens > system_tokens

    # Another question after the same system prompt reads it.
    messages = marked_system(question="And now?")
    second = usage_of(await run(provider, request(SONNET, messages=messages), stream))
    assert (second.cached_input_tokens, second.cache_write_tokens) == (system_tokens, 0)
    assert second.input_tokens == last_event(anthropic_cache).prompt_tokens
    assert anthropic_cache.last.json["system"][0]["cache_control"] == EPHEMERAL

    # An edited system prompt misses and is written again.
    edited = marked_system(SYSTEM.replace("rule 3:", "rule three:"))
    third = usage_of(await run(provider, request(SONNET, messages=edited), stream))
    assert third.cached_input_tokens == 0
    assert third.cache_write_tokens == count_tokens(edited[0].content)


async def test_anthropic_reports_the_wire_usage_the_api_does(
    anthropic_cache: LoopbackServer,
) -> None:
    """The raw reply: cache_creation split by TTL, input_tokens without the cached parts."""
    body = {
        "model": SONNET,
        "max_tokens": 10,
        "system": [{"type": "text", "text": SYSTEM, "cache_control": ONE_HOUR}],
        "messages": [{"role": "user", "content": "Hi."}],
    }
    with httpx.Client(trust_env=False) as client:
        url = anthropic_cache.base_url + "/v1/messages"
        usage = [client.post(url, json=body).json()["usage"] for _ in range(2)]
    written = count_tokens(SYSTEM)
    uncached = last_event(anthropic_cache).prompt_tokens - written
    assert usage[0] == {
        "input_tokens": uncached,
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": written},
        "output_tokens": count_tokens("Hello, world!"),
    }
    assert usage[1]["cache_read_input_tokens"] == written
    assert usage[1]["cache_creation_input_tokens"] == 0 and usage[1]["input_tokens"] == uncached


@BOTH
async def test_anthropic_one_hour_writes_are_reported_apart(
    anthropic_cache: LoopbackServer,
    http_client: httpx.AsyncClient,
    clock: FakeClock,
    stream: bool,
) -> None:
    provider = make_provider("anthropic", anthropic_cache, http_client)
    messages = (
        Message("system", SYSTEM, cache_control=ONE_HOUR),
        Message("system", OTHER_SYSTEM, cache_control=EPHEMERAL),
        Message("user", "Hi."),
    )
    one_hour, five_minutes = count_tokens(SYSTEM), count_tokens(OTHER_SYSTEM)
    first = usage_of(await run(provider, request(SONNET, messages=messages), stream))
    assert first.cache_write_tokens == one_hour + five_minutes
    assert first.cache_write_1h_tokens == one_hour
    event = last_event(anthropic_cache)
    assert [(m.ttl, m.tokens) for m in event.marks] == [
        ("1h", one_hour),
        ("5m", one_hour + five_minutes),
    ]

    clock.advance(10 * 60)  # the 5-minute entry is gone, the 1-hour one is not
    again = usage_of(await run(provider, request(SONNET, messages=messages), stream))
    assert again.cached_input_tokens == one_hour
    assert (again.cache_write_tokens, again.cache_write_1h_tokens) == (five_minutes, 0)


async def test_anthropic_entries_expire_after_their_ttl_and_reads_refresh_them(
    anthropic_cache: LoopbackServer, http_client: httpx.AsyncClient, clock: FakeClock
) -> None:
    provider = make_provider("anthropic", anthropic_cache, http_client)
    req = request(SONNET, messages=marked_system())
    tokens = count_tokens(SYSTEM)
    assert usage_of(await run(provider, req, False)).cache_write_tokens == tokens
    for _ in range(3):  # 4 minutes apart: each read keeps the entry alive
        clock.advance(240)
        assert usage_of(await run(provider, req, False)).cached_input_tokens == tokens
    clock.advance(301)  # past the 5-minute TTL since the last read
    expired = usage_of(await run(provider, req, False))
    assert (expired.cached_input_tokens, expired.cache_write_tokens) == (0, tokens)


@BOTH
async def test_anthropic_more_than_four_marks_is_a_bad_request(
    anthropic_cache: LoopbackServer, http_client: httpx.AsyncClient, stream: bool
) -> None:
    roles = ["user", "assistant"] * 3
    messages = (
        Message("system", SYSTEM, cache_control=EPHEMERAL),
        *(Message(role, f"turn {n}", cache_control=EPHEMERAL) for n, role in enumerate(roles[:5])),
    )
    provider = make_provider("anthropic", anthropic_cache, http_client)
    with pytest.raises(BadRequestError, match="A maximum of 4 blocks with cache_control"):
        await run(provider, request(SONNET, messages=messages), stream)
    assert anthropic_cache.dialect.prompt_cache.events == []  # refused before any caching
    # Four marks are taken.
    await run(provider, request(SONNET, messages=messages[:4]), stream)
    assert len(last_event(anthropic_cache).marks) == 4


async def test_anthropic_refuses_a_one_hour_mark_after_a_five_minute_one(
    anthropic_cache: LoopbackServer, http_client: httpx.AsyncClient
) -> None:
    messages = (
        Message("system", SYSTEM, cache_control=EPHEMERAL),
        Message("user", "Hi.", cache_control=ONE_HOUR),
    )
    provider = make_provider("anthropic", anthropic_cache, http_client)
    with pytest.raises(BadRequestError, match="ttl='1h'"):
        await run(provider, request(SONNET, messages=messages), False)


@pytest.mark.parametrize(
    ("model", "tokens", "cached"),
    [
        (SONNET, 600, False),  # under Sonnet's 1,024
        (SONNET, 1500, True),
        ("claude-haiku-4-5", 3000, False),  # under 4,096
        ("claude-opus-4-5-20251101", 3000, False),
        ("claude-opus-4-1-20250805", 3000, True),
        ("claude-3-haiku-20240307", 1500, False),  # under 2,048
    ],
)
async def test_anthropic_prefixes_under_the_models_minimum_are_not_cached(
    anthropic_cache: LoopbackServer,
    http_client: httpx.AsyncClient,
    model: str,
    tokens: int,
    cached: bool,
) -> None:
    provider = make_provider("anthropic", anthropic_cache, http_client)
    system = long_text(tokens)
    req = request(model, messages=marked_system(system))
    first = usage_of(await run(provider, req, False))
    second = usage_of(await run(provider, req, False))
    expected = count_tokens(system) if cached else 0
    assert (first.cache_write_tokens, second.cached_input_tokens) == (expected, expected)
    assert last_event(anthropic_cache).marks[0].cacheable is cached


async def test_anthropic_caches_tools_before_the_system_prompt(
    anthropic_cache: LoopbackServer, http_client: httpx.AsyncClient
) -> None:
    """Cache order is tools → system → messages: a marked tool list survives a changed
    system prompt, and the system prompt's mark covers the tools too."""
    tool = Tool(
        "lookup",
        long_text(1200, "tool"),
        {"type": "object", "properties": {"q": {"type": "string"}}},
        cache_control=EPHEMERAL,
    )
    provider = make_provider("anthropic", anthropic_cache, http_client)
    first = await provider.complete(request(SONNET, messages=marked_system(), tools=(tool,)))
    tool_tokens = last_event(anthropic_cache).marks[0].tokens
    wire_tool = {
        k: v for k, v in anthropic_cache.last.json["tools"][0].items() if k != "cache_control"
    }
    assert tool_tokens == count_tokens(json.dumps(wire_tool, sort_keys=True, separators=(",", ":")))
    assert first.usage is not None
    assert first.usage.cache_write_tokens == tool_tokens + count_tokens(SYSTEM)

    messages = marked_system(OTHER_SYSTEM)
    second = await provider.complete(request(SONNET, messages=messages, tools=(tool,)))
    assert second.usage is not None
    assert second.usage.cached_input_tokens == tool_tokens
    assert second.usage.cache_write_tokens == count_tokens(OTHER_SYSTEM)


async def test_anthropic_looks_back_twenty_blocks_from_a_mark(
    anthropic_cache: LoopbackServer, http_client: httpx.AsyncClient
) -> None:
    """A mark moved to the newest turn still reads the earlier turn's prefix, if it is
    at most 20 blocks back."""
    provider = make_provider("anthropic", anthropic_cache, http_client)
    system = Message("system", SYSTEM)
    turn1 = (system, Message("user", "Question one.", cache_control=EPHEMERAL))
    await provider.complete(request(SONNET, messages=turn1))
    prefix = last_event(anthropic_cache).prompt_tokens

    turn2 = (
        system,
        Message("user", "Question one."),
        Message("assistant", "Answer one."),
        Message("user", "Question two.", cache_control=EPHEMERAL),
    )
    reply = await provider.complete(request(SONNET, messages=turn2))
    assert reply.usage is not None
    assert reply.usage.cached_input_tokens == prefix
    assert reply.usage.cache_write_tokens == last_event(anthropic_cache).prompt_tokens - prefix

    far = [Message("user", "Question one.")]
    for n in range(11):  # 22 more blocks: the earlier mark is out of reach
        far += [Message("assistant", f"Answer {n}."), Message("user", f"Question {n}.")]
    far[-1] = replace(far[-1], cache_control=EPHEMERAL)
    reply = await provider.complete(request(SONNET, messages=(system, *far)))
    assert reply.usage is not None and reply.usage.cached_input_tokens == 0


async def test_anthropic_stream_takes_the_one_hour_split_from_message_delta(
    anthropic_server: LoopbackServer, http_client: httpx.AsyncClient
) -> None:
    """The adapter reads ``cache_creation`` wherever the stream carries it; a later
    (cumulative) usage replaces the earlier one."""

    def sse(name: str, obj: object) -> bytes:
        return f"event: {name}\ndata: {json.dumps(obj)}\n\n".encode()

    start_usage = {"input_tokens": 5, "cache_creation_input_tokens": 0, "output_tokens": 1}
    delta_usage = {
        "input_tokens": 5,
        "cache_creation_input_tokens": 3000,
        "cache_read_input_tokens": 100,
        "cache_creation": {"ephemeral_5m_input_tokens": 1000, "ephemeral_1h_input_tokens": 2000},
        "output_tokens": 7,
    }
    message = {"id": "m", "type": "message", "role": "assistant", "content": [], "model": SONNET}
    frames = [
        sse(
            "message_start", {"type": "message_start", "message": message | {"usage": start_usage}}
        ),
        sse(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        sse(
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "ok"},
            },
        ),
        sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
        sse(
            "message_delta",
            {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": delta_usage},
        ),
        sse("message_stop", {"type": "message_stop"}),
    ]
    anthropic_server.queue(Behaviour(frames=frames))
    reply = await run(make_provider("anthropic", anthropic_server, http_client), request(), True)
    assert reply.usage == Usage(
        input_tokens=3105,
        output_tokens=7,
        cached_input_tokens=100,
        cache_write_tokens=3000,
        cache_write_1h_tokens=2000,
    )


@BOTH
async def test_anthropic_usage_without_a_cache_creation_split_has_no_one_hour_part(
    anthropic_server: LoopbackServer, http_client: httpx.AsyncClient, stream: bool
) -> None:
    usage = {"input_tokens": 10, "cache_creation_input_tokens": 50, "output_tokens": 2}
    anthropic_server.queue(Behaviour(usage=usage))
    provider = make_provider("anthropic", anthropic_server, http_client)
    reply = await run(provider, request(), stream)
    assert reply.usage == Usage(input_tokens=60, output_tokens=2, cache_write_tokens=50)


# --- OpenAI ------------------------------------------------------------------------------


def chat(system: str = SYSTEM, question: str = "Hi.") -> tuple[Message, ...]:
    return (Message("system", system), Message("user", question))


def check_increment(cached: int, prompt: int) -> None:
    assert cached >= 1024 and (cached - 1024) % 128 == 0 and cached <= prompt


@BOTH
async def test_openai_caches_a_repeated_long_prefix_in_128_token_steps(
    openai_cache: LoopbackServer, http_client: httpx.AsyncClient, stream: bool
) -> None:
    provider = make_provider("openai", openai_cache, http_client)
    first = usage_of(await run(provider, request("gpt-4o-mini", messages=chat()), stream))
    assert first.cached_input_tokens == 0
    assert first.input_tokens == last_event(openai_cache).prompt_tokens > count_tokens(SYSTEM)

    req = request("gpt-4o-mini", messages=chat(question="Something else entirely."))
    second = usage_of(await run(provider, req, stream))
    check_increment(second.cached_input_tokens, second.input_tokens)
    # The shared part is the system prompt (and a little framing): all of it but the
    # last partial 128-token step is read.
    assert count_tokens(SYSTEM) - 128 < second.cached_input_tokens <= count_tokens(SYSTEM) + 16
    assert "prompt_cache_key" not in openai_cache.last.json


async def test_openai_cached_tokens_follow_the_shared_prefix_exactly(clock: FakeClock) -> None:
    """The rule itself: 1,024 tokens, then whole 128-token steps of the shared prefix."""
    cache = OpenAICache(clock=clock)

    def body(shared: int, total: int = 3000) -> dict[str, Any]:
        # " a" and " b" are one cl100k token each; "<user>\n" frames the message.
        return {"messages": [{"role": "user", "content": " a" * shared + " b" * (total - shared)}]}

    head = count_tokens("<user>\n")
    cache.account(body(3000), "gpt-4o")
    for shared, expected in [(1000, 0), (1100, 1024), (1151, 1024), (1152, 1152), (2999, 2944)]:
        event = cache.account(body(shared - head), "gpt-4o")
        assert (event.prompt_tokens, event.read_tokens) == (3000 + head, expected), shared
    assert (
        cache.account(body(3000), "gpt-4o").read_tokens == 3000 + head - (3000 + head - 1024) % 128
    )


@BOTH
async def test_openai_prompt_cache_keys_are_sent_and_keep_caches_apart(
    openai_cache: LoopbackServer, http_client: httpx.AsyncClient, stream: bool
) -> None:
    provider = make_provider("openai", openai_cache, http_client)
    first = await run(
        provider, request("gpt-4o", messages=chat(), prompt_cache_key="conv-1"), stream
    )
    assert openai_cache.last.json["prompt_cache_key"] == "conv-1"
    assert last_event(openai_cache).cache_key == "conv-1"
    assert usage_of(first).cached_input_tokens == 0

    other = await run(
        provider, request("gpt-4o", messages=chat(), prompt_cache_key="conv-2"), stream
    )
    assert usage_of(other).cached_input_tokens == 0  # another key: another cache
    same = await run(
        provider, request("gpt-4o", messages=chat(), prompt_cache_key="conv-1"), stream
    )
    check_increment(usage_of(same).cached_input_tokens, usage_of(same).input_tokens)
    nokey = await run(provider, request("gpt-4o", messages=chat()), stream)
    assert usage_of(nokey).cached_input_tokens == 0


async def test_openai_compatible_providers_send_the_key_too(
    openai_cache: LoopbackServer, http_client: httpx.AsyncClient
) -> None:
    provider = make_provider("openai-compatible", openai_cache, http_client)
    for _ in range(2):
        reply = await run(provider, request("gpt-4o", messages=chat(), prompt_cache_key="k"), False)
    assert openai_cache.last.json["prompt_cache_key"] == "k"
    assert usage_of(reply).cached_input_tokens >= 1024


async def test_openai_short_prompts_and_idle_caches_get_no_discount(
    openai_cache: LoopbackServer, http_client: httpx.AsyncClient, clock: FakeClock
) -> None:
    provider = make_provider("openai", openai_cache, http_client)
    short = request("gpt-4o", messages=chat(long_text(900)))
    for _ in range(2):
        assert usage_of(await run(provider, short, False)).cached_input_tokens == 0

    long = request("gpt-4o", messages=chat())
    await run(provider, long, False)
    clock.advance(299)
    assert usage_of(await run(provider, long, False)).cached_input_tokens > 0
    clock.advance(301)  # five minutes without a request
    assert usage_of(await run(provider, long, False)).cached_input_tokens == 0


# --- Gemini ------------------------------------------------------------------------------


@BOTH
async def test_gemini_reports_implicitly_cached_tokens_on_a_repeat(
    gemini_cache: LoopbackServer, http_client: httpx.AsyncClient, stream: bool
) -> None:
    provider = make_provider("gemini", gemini_cache, http_client)
    first = usage_of(await run(provider, request("gemini-2.5-flash", messages=chat()), stream))
    assert first.cached_input_tokens == 0
    assert first.input_tokens == last_event(gemini_cache).prompt_tokens

    req = request("gemini-2.5-flash", messages=chat(question="Another one."))
    second = usage_of(await run(provider, req, stream))
    # cachedContentTokenCount is part of promptTokenCount; the system instruction is
    # the shared prefix (block granularity).
    assert second.cached_input_tokens == count_tokens(SYSTEM)
    assert second.input_tokens == last_event(gemini_cache).prompt_tokens


@pytest.mark.parametrize(
    ("model", "cached"), [("gemini-2.5-flash", True), ("gemini-2.5-pro", False)]
)
async def test_gemini_caches_only_prefixes_of_the_models_minimum(
    gemini_cache: LoopbackServer, http_client: httpx.AsyncClient, model: str, cached: bool
) -> None:
    provider = make_provider("gemini", gemini_cache, http_client)
    system = long_text(2500)  # over Flash's 1,024, under Pro's 4,096
    await run(provider, request(model, messages=chat(system)), False)
    reply = usage_of(await run(provider, request(model, messages=chat(system, "Again.")), False))
    assert reply.cached_input_tokens == (count_tokens(system) if cached else 0)
    assert gemini_min_tokens(model) == (1024 if cached else 4096)


async def test_gemini_implicit_cache_expires(
    gemini_cache: LoopbackServer, http_client: httpx.AsyncClient, clock: FakeClock
) -> None:
    provider = make_provider("gemini", gemini_cache, http_client)
    req = request("gemini-2.5-flash", messages=chat())
    await run(provider, req, False)
    clock.advance(301)
    assert usage_of(await run(provider, req, False)).cached_input_tokens == 0
    assert usage_of(await run(provider, req, False)).cached_input_tokens > 0


# --- The helpers a benchmark uses ----------------------------------------------------------


async def test_caching_servers_run_all_three_providers_and_count_their_savings(
    http_client: httpx.AsyncClient,
) -> None:
    models = {"anthropic": SONNET, "openai": "gpt-4o-mini", "gemini": "gemini-2.5-flash"}
    with caching_servers(anthropic={"min_tokens": 2048}) as servers:
        for kind, model in models.items():
            provider = make_provider(kind, servers.server(kind), http_client)
            messages = marked_system() if kind == "anthropic" else chat()
            for _ in range(2):
                await run(provider, request(model, messages=messages), False)
        # Sonnet's minimum was raised to 2,048: nothing cached there.
        assert servers.totals("anthropic").read_tokens == 0
        for kind in ("openai", "gemini"):
            totals = servers.totals(kind)
            assert totals.requests == 2 and totals.read_tokens > 1024
            assert [e.read_tokens > 0 for e in servers.events(kind)] == [False, True]
        servers.clock.advance(3600)
        await run(
            make_provider("gemini", servers.server("gemini"), http_client),
            request("gemini-2.5-flash", messages=chat()),
            False,
        )
        assert servers.events("gemini")[-1].read_tokens == 0
        assert servers.totals("gemini", since=2).requests == 1


def test_the_model_minimum_tables() -> None:
    assert [
        anthropic_min_tokens(m)
        for m in (
            "claude-sonnet-4-5-20250929",
            "claude-opus-4-20250514",
            "claude-opus-4-5",
            "claude-opus-4-6",
            "claude-haiku-4-5-20251001",
            "claude-3-5-haiku-latest",
            "something-else",
        )
    ] == [1024, 1024, 4096, 4096, 4096, 2048, 1024]
    assert AnthropicCache(min_tokens=10).min_tokens_for("claude-haiku-4-5") == 10
    assert GeminiCache(min_tokens=10).min_tokens_for("gemini-2.5-pro") == 10
