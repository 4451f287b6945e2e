"""Context strategies as plain functions: stripping, priorities, the token-aware fit,
the summary fold point, and token counts that match the tokenizer's."""

from __future__ import annotations

import pytest

from core.accounting.tokens import TokenCounter
from core.context.conversations import StoredSummary
from core.context.window import (
    ContextState,
    MessageTokens,
    assemble,
    fit_history,
    recency_priority,
    relevance_priority,
    strip_metadata,
)
from core.errors import ContextTooLongError, InputError
from core.pipeline.summarizer import fold_point, summary_prompt
from core.types import Message

MODEL = "gpt-4.1-mini"


@pytest.fixture(scope="module")
def counter() -> MessageTokens:
    return MessageTokens(TokenCounter())


def _history(n: int, words: int = 20) -> tuple[Message, ...]:
    return tuple(
        Message("user" if i % 2 == 0 else "assistant", f"message {i} " + "word " * words)
        for i in range(n)
    )


def test_message_counts_equal_the_tokenizers(counter: MessageTokens) -> None:
    msgs = [
        Message("system", "Be brief."),
        Message("user", "héllo wörld, how are you?", name="ann"),
        Message("assistant", "Fine.\n\nThanks " * 30),
    ]
    assert counter.messages(msgs, MODEL) == TokenCounter().count_messages(msgs, MODEL).tokens
    assert counter.messages(msgs, MODEL) == counter.messages(msgs, MODEL)  # memoised


def test_strip_metadata_drops_tool_results_names_and_metadata() -> None:
    history = (
        Message("user", "Find the weather", metadata={"ts": "2026-01-01T10:00:00Z"}),
        Message("assistant", "Calling.", metadata={"tool_calls": [{"id": "c1"}]}),
        Message("tool", '{"temp": 21, "raw": "..."}', name="weather"),
        Message("assistant", "It is 21 degrees.", name="bot"),
        Message("user", "   "),
    )
    out = strip_metadata(history)
    assert [m.role for m in out] == ["user", "assistant", "assistant"]
    assert all(m.metadata is None and m.name is None for m in out)
    assert out[2].content == "It is 21 degrees."


def test_recency_priority_is_newest_first() -> None:
    assert recency_priority(4) == (3, 2, 1, 0)
    assert recency_priority(0) == ()


def test_relevance_keeps_similar_old_turns_ahead_of_merely_recent_ones() -> None:
    sims = [0.9, 0.1, 0.2, 0.8, 0.05, 0.1, 0.3, 0.2]
    prio = relevance_priority(sims, keep_recent=2, top=2, min_similarity=0.35)
    assert prio[:4] == (7, 6, 0, 3)  # last exchange, then the two most similar
    assert sorted(prio) == list(range(8))
    # below the floor nothing is promoted: plain recency
    low = relevance_priority([0.1] * 6, keep_recent=2, top=3, min_similarity=0.35)
    assert low == recency_priority(6)


def test_fit_keeps_newest_history_within_the_window(counter: MessageTokens) -> None:
    history = _history(40)
    state = ContextState(full=(), history=history, priority=recency_priority(40))
    result = fit_history(state, "sys", "question?", MODEL, counter, window=600, cap=8000)
    assert 0 < len(result.keep) < 40
    assert result.keep == tuple(range(39, 39 - len(result.keep), -1))  # the newest ones
    sent = assemble("sys", None, history, result.keep, "question?")
    assert counter.messages(sent, MODEL) == result.tokens <= 600
    one_more = assemble("sys", None, history, (*result.keep, result.keep[-1] - 1), "question?")
    assert counter.messages(one_more, MODEL) > 600


def test_fit_drops_the_summary_only_when_nothing_else_fits(counter: MessageTokens) -> None:
    summary = Message("system", "Summary: " + "fact " * 100)
    state = ContextState(full=(), history=_history(4), priority=(3, 2, 1, 0), summary=summary)
    roomy = fit_history(state, None, "q", MODEL, counter, window=None, cap=8000)
    assert roomy.summary_kept and roomy.keep == (3, 2, 1, 0)
    tight = fit_history(state, None, "q", MODEL, counter, window=60, cap=8000)
    # the summary alone is over the window: it goes, and the newest turns fill the room
    assert not tight.summary_kept and tight.keep and tight.keep[0] == 3 and tight.tokens <= 60


def test_prompt_larger_than_the_window_is_refused_with_numbers(counter: MessageTokens) -> None:
    state = ContextState(full=(), history=_history(3), priority=(2, 1, 0))
    prompt = "word " * 3000
    with pytest.raises(ContextTooLongError) as info:
        fit_history(state, "sys", prompt, MODEL, counter, window=1000, cap=8000, request_id="r1")
    message = str(info.value)
    assert "1,000" in message and "3,0" in message and "shorten it by 2,0" in message
    assert isinstance(info.value, InputError) and info.value.request_id == "r1"


def test_budget_cap_trims_but_does_not_refuse(counter: MessageTokens) -> None:
    state = ContextState(full=(), history=_history(10), priority=recency_priority(10))
    result = fit_history(state, None, "word " * 500, MODEL, counter, window=None, cap=100)
    assert result.keep == () and result.tokens > 100  # the budget stage names that limit


def test_fold_point_keeps_recent_turns_and_bounds_each_summary() -> None:
    costs = [100] * 20
    assert fold_point(costs, keep_tokens=500, keep_messages=20, fold_limit=10_000) == 15
    assert fold_point(costs, keep_tokens=500, keep_messages=3, fold_limit=10_000) == 17
    assert fold_point(costs, keep_tokens=500, keep_messages=20, fold_limit=450) == 4
    assert fold_point([100, 100], keep_tokens=500, keep_messages=20, fold_limit=1000) == 0


def test_summary_prompt_is_incremental() -> None:
    turns = [Message("user", "new question"), Message("assistant", "new answer")]
    first = summary_prompt(None, turns, 100)
    assert "(none yet)" in first and "user: new question" in first
    later = summary_prompt(StoredSummary(8, "OLD SUMMARY", "r"), turns, 100)
    assert "OLD SUMMARY" in later and "at most 100 tokens" in later
