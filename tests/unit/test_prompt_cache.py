"""Provider prompt caching: prefixes, the Anthropic breakpoints, the OpenAI key, the
break detector and the TTL odds (core.prompt_cache), on hand-made requests."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.accounting.prices import PriceTable, cost_of
from core.config import parse_config
from core.errors import ConfigError
from core.prompt_cache import PromptCaching, divergence, prefix_of, rule_for, worth_writing
from core.prompt_cache.odds import ReuseOdds
from core.types import Message, ProviderRequest, Tool, Usage

PRICES = PriceTable.bundled()
SONNET = "claude-sonnet-4-5"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def words(n: int, seed: str = "w") -> str:
    return " ".join(f"{seed}{i}" for i in range(n))


def count_message(m: Message) -> int:
    return len(m.content.split()) + 4


def count_tools(tools: object) -> int:
    return sum(len(t.description.split()) + 10 for t in tools)  # type: ignore[attr-defined]


KINDS = {"claude": "anthropic", "oa": "openai", "compat": "openai-compatible", "sim": "simulator"}


def caching(clock: Clock, mode: str = "auto", ttl: str = "5m", key: str = "conversation"):
    return PromptCaching(
        mode, ttl, key, clock, lambda _p, model: PRICES.lookup(model), KINDS.__getitem__
    )


def request(system: str, turns: list[str], model: str = SONNET, tools=()) -> ProviderRequest:
    messages = [Message("system", system)] if system else []
    for i, text in enumerate(turns):
        messages.append(Message("user" if i % 2 == 0 else "assistant", text))
    return ProviderRequest("r", model, tuple(messages), 100, tools=tuple(tools))


def plan(
    pc: PromptCaching,
    req: ProviderRequest,
    provider: str = "claude",
    group="conversation:c1",
    key=None,
):
    return pc.prepare(
        req,
        group=group,
        provider=provider,
        message_tokens=count_message,
        tool_tokens=count_tools,
        client_key=key,
    )


def marks_of(req: ProviderRequest) -> list[str]:
    out = [f"tools[{i}]" for i, t in enumerate(req.tools) if t.cache_control is not None]
    out += [f"messages[{i}]" for i, m in enumerate(req.messages) if m.cache_control is not None]
    return out


# -- prefixes ----------------------------------------------------------------------------


def test_divergence_names_the_message_the_offset_and_both_sides():
    a = prefix_of(
        [],
        [Message("system", "You are helpful. Today is Monday."), Message("user", "hi")],
        count_message,
        count_tools,
    )
    b = prefix_of(
        [],
        [Message("system", "You are helpful. Today is Friday."), Message("user", "hi")],
        count_message,
        count_tools,
    )
    found = divergence(a, b)
    assert found is not None
    assert (found.part, found.index, found.offset) == ("messages", 0, 26)
    assert "Monday" in found.before and "Friday" in found.after
    longer = prefix_of(
        [],
        [
            Message("system", "You are helpful. Today is Monday."),
            Message("user", "hi"),
            Message("assistant", "yo"),
        ],
        count_message,
        count_tools,
    )
    assert divergence(a, longer) is None  # only added after: the same conversation


def test_a_reordered_tool_list_diverges_at_the_first_moved_tool():
    t1, t2 = Tool("a", "first"), Tool("b", "second")
    a = prefix_of([t1, t2], [Message("user", "q")], count_message, count_tools)
    b = prefix_of([t2, t1], [Message("user", "q")], count_message, count_tools)
    found = divergence(a, b)
    assert found is not None and (found.part, found.index) == ("tools", 0)
    assert a.chain[-1] != b.chain[-1] and a.blocks[-1].text == b.blocks[-1].text


# -- the economics -------------------------------------------------------------------------


def test_a_write_is_worth_it_only_when_reads_are_likely_enough():
    rule = rule_for("anthropic", SONNET, PRICES.lookup(SONNET), "5m")
    assert rule is not None and rule.min_tokens == 1024
    assert rule.read_discount == Decimal("0.0000027")  # 3.00 - 0.30 per 1M
    assert rule.write_premium() == Decimal("0.00000075")  # 1.25x
    assert rule.write_premium(True) == Decimal("0.000003")  # 2x
    assert worth_writing(0.5, rule, one_hour=False)
    assert not worth_writing(0.5, rule, one_hour=True)  # 2x needs > 1.11 reads
    assert worth_writing(0.8, rule, one_hour=True)
    assert not worth_writing(0.1, rule, one_hour=False)


def test_one_hour_writes_are_priced_at_their_own_rate():
    price = PRICES.lookup(SONNET)
    assert price is not None
    usage = Usage(
        input_tokens=3000, output_tokens=10, cache_write_tokens=2000, cache_write_1h_tokens=1500
    )
    expected = (
        1000 * Decimal("0.000003")
        + 500 * Decimal("0.00000375")
        + 1500 * Decimal("0.000006")
        + 10 * Decimal("0.000015")
    )
    assert cost_of(usage, price) == expected
    with pytest.raises(ValueError):
        cost_of(Usage(input_tokens=10, cache_write_tokens=1, cache_write_1h_tokens=2), price)


def test_no_rule_without_a_prompt_cache_or_a_read_price():
    sim = rule_for("simulator", "claude-sonnet-4-5", PRICES.lookup(SONNET), "5m")
    assert sim is not None and sim.kind == "marks"  # the Simulator caches as the vendor
    assert rule_for("ollama", "llama3", PRICES.lookup("gpt-4o"), "5m") is None
    assert rule_for("anthropic", "no-such-model", None, "5m") is None
    auto = rule_for("openai", "gpt-4o", PRICES.lookup("gpt-4o"), "5m")
    assert auto is not None and auto.kind == "automatic" and auto.write_premium() == 0
    assert auto.cacheable(1000) == 0 and auto.cacheable(1500) == 1024 + 3 * 128


# -- Anthropic breakpoints -----------------------------------------------------------------


def test_auto_marks_the_system_prompt_and_the_end_when_long_enough():
    pc = caching(Clock())
    p = plan(pc, request(words(1500), ["question one"]))
    assert p is not None
    assert marks_of(p.request) == ["messages[0]", "messages[1]"]
    assert p.request.messages[0].cache_control == {"type": "ephemeral"}
    short = plan(pc, request(words(200), ["question one"]), group="conversation:c2")
    assert short is not None and marks_of(short.request) == []  # under 1,024 tokens


def test_one_hour_marks_carry_the_ttl_and_need_better_odds():
    pc = caching(Clock(), ttl="1h")
    first = plan(pc, request(words(1500), ["q"]))
    assert first is not None and marks_of(first.request) == []  # p = 0.5: 2x does not pay
    for _ in range(8):  # a group that keeps coming back
        pc.odds.seen("conversation:c1", pc.clock(), 3600)
        pc.clock.now += 60  # type: ignore[attr-defined]
    again = plan(pc, request(words(1500), ["q"]))
    assert again is not None and marks_of(again.request)
    assert again.request.messages[0].cache_control == {"type": "ephemeral", "ttl": "1h"}


def test_a_client_that_marked_anything_gets_no_automatic_marks():
    pc = caching(Clock())
    req = request(words(1500), ["q"])
    msgs = list(req.messages)
    msgs[0] = Message("system", msgs[0].content, cache_control={"type": "ephemeral"})
    req = ProviderRequest("r", SONNET, tuple(msgs), 100)
    p = plan(pc, req)
    assert p is not None and p.auto_marks == () and marks_of(p.request) == ["messages[0]"]
    assert len(p.client_marks) == 1


def test_mode_off_sends_no_marks_and_reports_what_it_left():
    clock = Clock()
    pc = caching(clock, mode="off")
    sys = words(1500)
    p1 = plan(pc, request(sys, ["q1"]))
    assert p1 is not None and marks_of(p1.request) == []
    pc.observe(p1, request_id="a", usage=Usage(1600, 5), ok=True, tier="t", context_actions=())
    p2 = plan(pc, request(sys, ["q1", "a1", "q2"]))
    obs = pc.observe(
        p2, request_id="b", usage=Usage(1700, 5), ok=True, tier="t", context_actions=()
    )
    assert obs.cause == "not_marked" and obs.lost_usd > 0


# -- the break detector --------------------------------------------------------------------


def run_turn(
    pc, req, rid, *, read=0, write=0, provider="claude", group="conversation:c1", actions=()
):
    p = plan(pc, req, provider=provider, group=group)
    assert p is not None
    usage = Usage(p.prefix.tokens, 20, cached_input_tokens=read, cache_write_tokens=write)
    return p, pc.observe(p, request_id=rid, usage=usage, ok=True, tier="t", context_actions=actions)


def test_a_conversation_reads_what_it_wrote_and_a_system_edit_is_a_break():
    clock = Clock()
    pc = caching(clock)
    sys = words(1500)
    p1, o1 = run_turn(pc, request(sys, ["q1"]), "r1", write=1510)
    assert o1.cause is None and p1.expected == 0
    assert o1.saved_usd < 0  # a write not read back yet costs its premium
    clock.now += 30
    p2, o2 = run_turn(pc, request(sys, ["q1", "a1", "q2"]), "r2", read=1510, write=20)
    assert p2.expected == p1.prefix.tokens  # the whole previous prompt
    assert "messages[1]" in marks_of(p2.request)  # the previous end, read through a mark
    assert o2.cause is None and o2.saved_usd > 0
    assert o2.detail["previous_request_id"] == "r1"
    clock.now += 30
    edited = "EDITED " + sys
    p3, o3 = run_turn(pc, request(edited, ["q1", "a1", "q2", "a2", "q3"]), "r3", write=1600)
    assert o3.cause == "system_changed"
    found = o3.detail["divergence"]
    assert found["part"] == "messages" and found["index"] == 0 and found["offset"] == 0
    assert o3.detail["break"]["lost_tokens"] == p2.prefix.tokens
    rule = p3.rule
    assert o3.lost_usd == p2.prefix.tokens * rule.read_discount


def test_a_new_question_with_the_same_system_prompt_is_not_a_break():
    clock = Clock()
    pc = caching(clock)
    sys = words(1500)
    run_turn(pc, request(sys, ["first question"]), "r1", write=1510, group="client:app")
    p, o = run_turn(pc, request(sys, ["another question"]), "r2", read=1504, group="client:app")
    assert o.cause is None and "divergence" not in o.detail
    assert p.expected == p.prefix.tokens_to(0)  # the system prompt, marked last time


def test_the_detector_follows_the_right_earlier_request_among_many():
    clock = Clock()
    pc = caching(clock)
    sys = words(1500)
    run_turn(pc, request(sys, ["conversation A"]), "a1", write=1510, group="client:app")
    run_turn(pc, request(sys, ["conversation B"]), "b1", write=1510, group="client:app")
    run_turn(pc, request(sys, ["conversation A", "answer", "more A"]), "a2", group="client:app")
    # A timestamp changed in the system prompt of conversation A's next turn:
    _, o = run_turn(
        pc,
        request("Now 10:02. " + sys, ["conversation A", "answer", "more A", "x", "y"]),
        "a3",
        group="client:app",
    )
    assert o.detail["previous_request_id"] == "a2"
    assert o.cause == "system_changed" and o.detail["divergence"]["index"] == 0


def test_causes_tools_history_context_model_and_expiry():
    clock = Clock()
    sys = words(1500)
    tools = [Tool("lookup", words(30, "d")), Tool("search", words(30, "e"))]
    pc = caching(clock)
    run_turn(pc, request(sys, ["q1"], tools=tools), "r1", write=1600)
    _, o = run_turn(pc, request(sys, ["q1", "a", "q2"], tools=tools[::-1]), "r2")
    assert o.cause == "tools_changed" and o.detail["divergence"]["part"] == "tools"

    pc = caching(clock)
    run_turn(pc, request(sys, ["q1", "a1", "q2"]), "r1", write=1600)
    _, o = run_turn(pc, request(sys, ["q1 edited", "a1", "q2", "a2", "q3"]), "r2")
    assert o.cause == "history_changed" and o.detail["divergence"]["index"] == 1

    pc = caching(clock)
    run_turn(pc, request(sys, ["q1", "a1", "q2"]), "r1", write=1600)
    _, o = run_turn(pc, request(sys, ["q2", "a2", "q3"]), "r2", actions=("window",))
    assert o.cause == "context_trimmed"

    pc = caching(clock)
    run_turn(pc, request(sys, ["q1"]), "r1", write=1600)
    _, o = run_turn(pc, request(sys, ["q1", "a", "q2"], model="claude-opus-4-5"), "r2")
    assert o.cause == "model_changed" and o.lost_usd > 0

    pc = caching(clock)
    run_turn(pc, request(sys, ["q1"]), "r1", write=1600)
    clock.now += 301
    p, o = run_turn(pc, request(sys, ["q1", "a", "q2"]), "r2", write=1600)
    assert p.expected == 0 and o.cause == "expired"


def test_a_provider_that_reads_far_less_than_expected_is_a_miss():
    clock = Clock()
    pc = caching(clock)
    sys = words(1500)
    run_turn(pc, request(sys, ["q1"]), "r1", write=1510)
    p, o = run_turn(pc, request(sys, ["q1", "a", "q2"]), "r2", read=0)
    assert p.expected > 1000 and o.cause == "provider_miss"
    assert o.detail["break"]["lost_tokens"] == p.expected


# -- OpenAI ---------------------------------------------------------------------------------


def test_openai_gets_one_stable_key_per_conversation_and_the_clients_own_wins():
    pc = caching(Clock())
    req = request(words(1500), ["q"], model="gpt-4o")
    a = plan(pc, req, provider="oa", group="conversation:c1")
    b = plan(pc, req, provider="oa", group="conversation:c1")
    c = plan(pc, req, provider="compat", group="conversation:c2")
    assert a is not None and b is not None and c is not None
    assert a.request.prompt_cache_key == b.request.prompt_cache_key
    assert a.request.prompt_cache_key != c.request.prompt_cache_key
    assert a.request.prompt_cache_key.startswith("centwise-")  # never the conversation id
    own = plan(pc, req, provider="oa", key="my-key")
    assert own is not None and own.request.prompt_cache_key == "my-key"
    off = caching(Clock(), key="off")
    assert plan(off, req, provider="oa").request.prompt_cache_key is None  # type: ignore[union-attr]
    sim = plan(pc, req, provider="sim")
    assert sim is not None and sim.request.prompt_cache_key is None  # OpenAI's own field


def test_openai_expected_reads_follow_the_128_token_steps():
    clock = Clock()
    pc = caching(clock)
    sys = words(1500)
    run_turn(pc, request(sys, ["q1"], model="gpt-4o"), "r1", provider="oa")
    p, o = run_turn(
        pc, request(sys, ["q1", "a", "q2"], model="gpt-4o"), "r2", provider="oa", read=1408
    )
    assert p.expected == 1024 + (p.prefix.tokens_to(1) - 1024) // 128 * 128
    assert o.cause is None and o.saved_usd == 1408 * (Decimal("0.0000025") - Decimal("0.00000125"))


# -- odds and config ------------------------------------------------------------------------


def test_reuse_odds_learn_that_a_key_does_not_come_back():
    odds = ReuseOdds()
    now = 0.0
    assert odds.probability("k", now, 300) == 0.5
    for _ in range(10):
        odds.seen("k", now, 300)
        now += 1000  # always after the TTL
    assert odds.probability("k", now, 300) < 0.15
    for _ in range(10):
        odds.seen("j", now, 300)
        now += 10
    assert odds.probability("j", now, 300) > 0.6


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('mode = "sometimes"', "prompt_cache.mode"),
        ('ttl = "2h"', "prompt_cache.ttl"),
        ('key = "user"', "prompt_cache.key"),
    ],
)
def test_an_unknown_mode_or_ttl_is_a_config_error_naming_the_key(text, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        parse_config(f"[prompt_cache]\n{text}\n")
    assert parse_config('[prompt_cache]\nmode = "off"\nttl = "1h"\n').prompt_cache.ttl == "1h"


def test_single_questions_under_one_system_prompt_stop_paying_for_the_tail():
    """Unrelated questions under the same system prompt come back often but never
    continue each other: the system prompt stays marked, the end of the prompt (whose
    write would never be read) stops being marked."""
    clock = Clock()
    pc = caching(clock)
    sys = words(1500)
    marks = []
    for i in range(12):
        req = request(sys, [f"unrelated question number {i}"])
        p, _ = run_turn(pc, req, f"r{i}", write=10, read=1500 if i else 0, group="client:app")
        marks.append(marks_of(p.request))
        clock.now += 20
    assert marks[0] == ["messages[0]", "messages[1]"]
    assert marks[-1] == ["messages[0]"]  # the head only
    assert pc.odds.continuation("client:app") < 0.2
    # a conversation (each turn continuing the last) keeps its tail marked
    turns: list[str] = []
    for i in range(6):
        turns += [f"q{i}"] if not turns else ["answer", f"q{i}"]
        p, _ = run_turn(pc, request(sys, list(turns)), f"c{i}", write=10, group="conversation:z")
        clock.now += 20
    assert marks_of(p.request)[-1] == f"messages[{len(turns)}]"
    assert pc.odds.continuation("conversation:z") > 0.7
