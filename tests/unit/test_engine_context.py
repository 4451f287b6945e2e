"""Conversations and context management through the whole pipeline (instant Simulator)."""

from __future__ import annotations

import importlib.util
import itertools
import json
from decimal import Decimal
from pathlib import Path

import pytest

from core.cache.minilm import MODEL_PACKAGE
from core.config import parse_config
from core.context.window import SUMMARY_BLOCK_SEP
from core.engine import Engine
from core.errors import ContextTooLongError, InputError
from core.providers.simulator import SimulatorProvider
from core.types import Message, ProviderRequest
from tests.conftest import INSTANT_SIM

TOPICS = ("indexes", "vacuum", "checkpoints", "replication", "partitions", "locks")


def _turns(n: int, words: int = 40) -> list[Message]:
    out = []
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        role = "user" if i % 2 == 0 else "assistant"
        out.append(Message(role, f"Turn {i} about postgres {topic}: " + f"{topic} detail " * words))
    return out


def _seed(engine: Engine, n: int, system: str | None = "You are a database tutor.") -> str:
    cid = engine.start_conversation(system=system)
    engine.services.conversations().append(cid, _turns(n), engine.services.clock())
    return cid


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[ProviderRequest]:
    """Every request the Simulator receives."""
    seen: list[ProviderRequest] = []
    original = SimulatorProvider.stream

    def spy(self: SimulatorProvider, request: ProviderRequest):  # type: ignore[no-untyped-def]
        seen.append(request)
        return original(self, request)

    monkeypatch.setattr(SimulatorProvider, "stream", spy)
    return seen


async def test_the_window_moves_in_steps_so_the_prefix_stays_put(make_engine, sent):
    """With the default step (half the window) the first history message sent stays the
    same for several turns, and changes by a whole step when it moves."""
    engine = make_engine("[context]\nsummarize = false\nmax_history_messages = 10\n")
    cid = _seed(engine, 10)
    firsts = []
    for i in range(8):
        await engine.ask(f"Question {i} about locks?", conversation_id=cid, model="fast").collect()
        firsts.append(sent[-1].messages[1].content)
        assert 5 < len(sent[-1].messages) - 2 <= 10  # between limit - step + 1 and limit
    # 10, 12, 14, ... history messages: the start moves at 11 and 16 and 21 messages only
    changes = sum(a != b for a, b in itertools.pairwise(firsts))
    assert changes == 3 and len(set(firsts)) == 4
    rec = engine.history(0, 1)[0]
    assert "window" in rec.context_actions


@pytest.mark.parametrize("max_blocks", [1, 6])
async def test_summary_blocks_go_as_separate_messages_until_rolled_up(
    make_engine, sent, max_blocks
):
    engine = make_engine(
        "[context]\nsummarize_after_tokens = 3000\nmax_history_messages = 20\n"
        f"summary_max_blocks = {max_blocks}\n"
    )
    cid = _seed(engine, 200)
    await engine.ask("What about locks?", conversation_id=cid, model="premium").collect()
    stored = engine.services.conversations().load(cid).summary
    assert stored is not None
    blocks = stored.content.split(SUMMARY_BLOCK_SEP)
    answer = sent[-1]
    summaries = [m for m in answer.messages[1:] if m.role == "system"]
    assert (
        len(summaries) == len(blocks) == (1 if max_blocks == 1 else len(_context_records(engine)))
    )
    assert summaries[0].content.startswith("Summary of the earlier conversation:")
    assert all(m.content.endswith(b) for m, b in zip(summaries, blocks, strict=True))


def _context_records(engine: Engine) -> list:
    return [r for r in engine.history(0, 1000) if r.purpose == "context"]


async def test_a_200_message_conversation_is_windowed_trimmed_and_priced(make_engine, sent):
    engine = make_engine(
        "[context]\nsummarize = false\nmax_history_messages = 30\nwindow_step = 1\n"
    )
    cid = _seed(engine, 200)
    rec = await engine.ask("How do I tune autovacuum?", conversation_id=cid, model="fast").collect()
    assert rec.status == "ok" and rec.conversation_id == cid
    assert rec.context_tokens_before > 5 * rec.context_tokens_after > 0
    assert rec.context_tokens_after == rec.usage.input_tokens == rec.estimated_input_tokens
    assert rec.context_actions == ["window"]
    (request,) = sent
    history = list(engine.conversation(cid)[1:201])
    assert request.messages == (
        Message("system", "You are a database tutor."),
        *history[-30:],
        Message("user", "How do I tune autovacuum?"),
    )
    price = engine.prices.lookup("gpt-4.1-nano")
    saved = (rec.context_tokens_before - rec.context_tokens_after) * price.input_cost_per_token
    assert rec.context_saved_usd == saved > 0
    stored = engine.get_record(rec.request_id)
    assert stored is not None and stored.context_saved_usd == saved
    assert stored.context_actions == ["window"]
    # the turn was appended; the system prompt comes first
    convo = engine.conversation(cid)
    assert len(convo) == 1 + 202 and convo[0].role == "system"
    assert convo[-2:] == [
        Message("user", "How do I tune autovacuum?"),
        Message("assistant", rec.response),
    ]
    assert _context_records(engine) == []


async def test_history_is_fitted_to_the_models_window_minus_the_reply(make_engine):
    engine = make_engine(
        "[context]\nsummarize = false\nmax_history_messages = 200\n"
        '[prices."gpt-4.1-nano"]\nmax_input_tokens = 3000\nmax_output_tokens = 500\n'
        "input_cost_per_token = 0.0000001\noutput_cost_per_token = 0.0000004\n"
    )
    cid = _seed(engine, 200)
    rec = await engine.ask("And vacuum?", conversation_id=cid, model="fast").collect()
    assert rec.status == "ok"
    assert rec.context_tokens_after <= 3000 - 500 < rec.context_tokens_before
    assert rec.context_tokens_after > 2000  # filled, not emptied
    assert rec.context_actions == ["trim"]
    assert rec.usage.input_tokens == rec.context_tokens_after


async def test_a_message_larger_than_the_window_is_refused_before_any_call(make_engine):
    engine = make_engine(
        '[prices."gpt-4.1-nano"]\nmax_input_tokens = 1000\nmax_output_tokens = 200\n'
        "input_cost_per_token = 0.0000001\noutput_cost_per_token = 0.0000004\n"
    )
    cid = _seed(engine, 4)
    reply = engine.ask("explain " * 1500, conversation_id=cid, model="fast")
    with pytest.raises(ContextTooLongError, match=r"leaves 800 for input") as info:
        await reply.collect()
    assert "1,5" in str(info.value) and "gpt-4.1-nano" in str(info.value)
    rec = reply.record
    assert rec is not None and rec.status == "rejected" and rec.attempts == []
    assert rec.error_kind == "context_too_long" and rec.cost_usd == 0
    assert rec.context_tokens_before is not None and rec.context_tokens_after is None
    assert len(engine.conversation(cid)) == 1 + 4  # nothing appended


async def test_summaries_are_made_by_the_fast_tier_reused_and_incremental(make_engine):
    engine = make_engine("[context]\nsummarize_after_tokens = 3000\nmax_history_messages = 20\n")
    cid = _seed(engine, 200)
    first = await engine.ask("What about locks?", conversation_id=cid, model="premium").collect()
    assert "summary" in first.context_actions and first.status == "ok"
    assert first.context_tokens_after <= 3000 + 600 < first.context_tokens_before
    made = _context_records(engine)
    # an imported 18k-token backlog takes a few folds, each carrying the one before
    assert 2 <= len(made) <= 4
    for older, newer in zip(made[1:], made[:-1], strict=True):  # newest first
        assert older.response.strip()[:100] in newer.prompt
    for rec in made:
        assert rec.tier == "fast" and rec.status == "ok" and rec.cache_outcome == "miss"
        assert rec.cost_usd > 0 and rec.conversation_id == cid
    stored = engine.services.conversations().load(cid).summary
    assert stored is not None and stored.request_id == made[0].request_id
    # each fold added a block and kept the blocks before it as they were
    blocks = stored.content.split(SUMMARY_BLOCK_SEP)
    assert len(blocks) == len(made)
    assert blocks == [r.response.strip() for r in reversed(made)]
    # the next turn reuses it, with no new summary request
    second = await engine.ask("And partitions?", conversation_id=cid, model="premium").collect()
    assert second.context_actions == ["summary_reused"]
    assert len(_context_records(engine)) == len(made)
    # grow past the threshold again: only the new turns are folded, with the old summary
    for i in range(10):
        q = f"More on replication lag {i}?"
        await engine.ask(q, conversation_id=cid, model="premium").collect()
    again = _context_records(engine)
    assert len(again) == len(made) + 1
    assert stored.content[:200] in again[0].prompt  # the previous summary, folded forward
    # it starts where the old summary ended: turns already summarised are not resent
    assert f"Turn {stored.upto_seq - 1} about" not in again[0].prompt
    assert f"Turn {stored.upto_seq} about" in again[0].prompt
    newer = engine.services.conversations().load(cid).summary
    assert newer is not None and newer.upto_seq > stored.upto_seq
    assert newer.content.startswith(stored.content + SUMMARY_BLOCK_SEP)  # appended
    # what it all saved and cost is in the breakdown
    savings = engine.savings_breakdown()
    records = engine.history(0, 1000)
    assert savings.context_usd == sum((r.context_saved_usd for r in records), Decimal(0))
    assert savings.context_cost_usd == sum((r.cost_usd for r in again), Decimal(0))
    assert savings.cache_usd == 0 and 0 < savings.context_net_usd < savings.context_usd


FAILING_FAST = """
[providers.down]
kind = "openai-compatible"
base_url = "http://127.0.0.1:9"
max_attempts = 1
connect_timeout_seconds = 2
[[routing.tiers]]
id = "fast"
provider = "down"
model = "gpt-4.1-nano"
max_complexity = 3
[[routing.tiers]]
id = "premium"
provider = "simulator"
model = "gpt-4.1"
max_complexity = 10
[context]
summarize_after_tokens = 2000
"""


async def test_a_failed_summary_falls_back_to_trimming_and_says_so(make_engine):
    engine = make_engine(FAILING_FAST)
    cid = _seed(engine, 60)
    rec = await engine.ask("What about locks?", conversation_id=cid, model="premium").collect()
    assert rec.status == "ok"
    assert "summary_failed" in rec.context_actions and "window" in rec.context_actions
    assert any("summarising earlier turns failed" in w for w in rec.warnings)
    failed = _context_records(engine)
    assert len(failed) == 1 and failed[0].status == "error" and failed[0].tier == "fast"
    assert engine.services.conversations().load(cid).summary is None
    assert rec.context_tokens_after < rec.context_tokens_before
    assert len(engine.conversation(cid)) == 1 + 62  # the turn itself was stored


async def test_a_conversation_survives_a_restart(tmp_path: Path):
    text = INSTANT_SIM + "[cache]\nenabled = false\n[context]\nsummarize_after_tokens = 1500\n"
    config = parse_config(text, "test.toml")
    engine = Engine.open(config, tmp_path / "data")
    cid = engine.start_conversation(system="Answer about databases.")
    replies = []
    for q in ("What is MVCC?", "How does vacuum relate?", "What about bloat?"):
        replies.append((await engine.ask(q, conversation_id=cid, model="fast").collect()).response)
    engine.services.conversations().append(cid, _turns(20), engine.services.clock())
    await engine.ask("Summarise the risks", conversation_id=cid, model="fast").collect()
    summary = engine.services.conversations().load(cid).summary
    assert summary is not None
    before = engine.conversation(cid)
    await engine.aclose()

    engine = Engine.open(config, tmp_path / "data")
    try:
        assert engine.conversation(cid) == before
        assert engine.conversation(cid)[2] == Message("assistant", replies[0])
        assert [c.id for c in engine.conversations()] == [cid]
        rec = await engine.ask("And after a restart?", conversation_id=cid, model="fast").collect()
        assert rec.status == "ok" and rec.system == "Answer about databases."
        assert rec.context_actions == ["summary_reused"]
        assert engine.services.conversations().load(cid).summary == summary
        assert len(engine.conversation(cid)) == len(before) + 2
        assert engine.conversations()[0].message_count == len(before) + 1
    finally:
        await engine.aclose()


async def test_metadata_is_stripped_when_configured(make_engine):
    history = [
        Message("user", "Weather in Oslo?", metadata={"ts": "2026-01-01T10:00:00Z"}),
        Message("assistant", "Checking.", metadata={"tool_calls": [{"id": "c1", "args": "{}"}]}),
        Message("tool", json.dumps({"temp_c": -3, "station": "OSL" * 50}), name="weather"),
        Message("assistant", "It is -3 °C in Oslo."),
    ]
    on = make_engine()
    rec = await on.ask("And tomorrow?", history=history, model="fast").collect()
    assert rec.context_actions == ["strip_metadata"]
    assert rec.context_tokens_after < rec.context_tokens_before
    assert rec.usage.input_tokens == rec.context_tokens_after
    off = make_engine("[context]\nstrip_metadata = false\n")
    rec = await off.ask("And tomorrow?", history=history, model="fast").collect()
    assert rec.context_actions == [] and rec.context_tokens_after == rec.context_tokens_before


async def test_bad_conversation_requests_are_input_errors(make_engine):
    engine = make_engine()
    with pytest.raises(InputError, match="no conversation"):
        await engine.ask("hi", conversation_id="conv_missing").collect()
    cid = engine.start_conversation()
    with pytest.raises(InputError, match="not both"):
        await engine.ask("hi", conversation_id=cid, history=[Message("user", "x")]).collect()
    with pytest.raises(InputError, match="no conversation"):
        engine.conversation("conv_missing")
    assert engine.conversation(cid) == []


async def test_conversations_list_newest_first_with_cost(make_engine):
    engine = make_engine()
    a = engine.start_conversation()
    b = engine.start_conversation()
    rec = await engine.ask("Tell me about sqlite", conversation_id=a, model="fast").collect()
    listed = engine.conversations()
    assert [c.id for c in listed] == [a, b]
    assert listed[0].title == "Tell me about sqlite" and listed[0].message_count == 2
    assert listed[0].cost_usd == rec.cost_usd and listed[1].cost_usd == 0
    assert [c.id for c in engine.conversations(limit=1)] == [a]


@pytest.mark.skipif(
    importlib.util.find_spec(MODEL_PACKAGE) is None,
    reason="the 'embeddings' extra (local model package) is not installed",
)
async def test_relevance_keeps_an_old_similar_turn(make_engine, sent):
    extra = "[context]\nrelevance = true\nmax_history_messages = 4\nrelevant_messages = 1\n"
    engine = make_engine(extra)
    old = [
        Message("user", "How much water should sourdough bread dough have?"),
        Message("assistant", "Sourdough hydration is usually 70 to 80 percent water."),
    ]
    history = old + _turns(20, words=5)
    rec = await engine.ask(
        "What sourdough hydration suits a beginner baker?", history=history, model="fast"
    ).collect()
    assert "relevance" in rec.context_actions and "window" in rec.context_actions
    kept = sent[-1].messages[:-1]
    assert len(kept) == 4 and kept[0] in old  # an old, similar turn, kept in order
    assert kept[-2:] == tuple(history[-2:])  # and the last exchange
    plain = make_engine("[context]\nmax_history_messages = 4\n")
    base = await plain.ask(
        "What sourdough hydration suits a beginner baker?", history=history, model="fast"
    ).collect()
    assert "relevance" not in base.context_actions
    assert sent[-1].messages[:-1] == tuple(history[-4:])
