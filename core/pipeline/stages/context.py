"""The two context stages: prepare the history before routing, fit it after.

The pipeline routes on the new message alone, so the model, and with it the window,
is known only after the route stage. Context management is therefore split:

* :class:`ContextStage` (before routing) does everything that does not depend on the
  model: load a stored conversation, strip metadata, make or reuse the summary, rank
  the history (recency, or relevance) and cut it to ``max_history_messages``;
* :class:`ContextFitStage` (right after routing) applies the chosen model's token
  budget, refuses a prompt that cannot fit (:class:`ContextTooLongError`), and sets
  the figures the record keeps: tokens before and after, and the dollars saved.

On success the context stage appends the user's message and the reply to the stored
conversation, as one turn.
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING

import numpy as np

from core.content.tools import check_tool_pairs
from core.context.conversations import Conversation, StoredSummary
from core.context.window import (
    SUMMARY_PREFIX,
    ContextState,
    assemble,
    recency_priority,
    relevance_priority,
    stepped_limit,
    strip_metadata,
    tool_groups,
    whole_groups,
)
from core.errors import CentwiseError, ConfigError, InputError
from core.pipeline.request import Next, RequestContext, closing
from core.pipeline.summarizer import Summarizer, fold_point, group_end
from core.types import Delta, Message

if TYPE_CHECKING:
    from core.pipeline.services import Services

__all__ = ["ContextStage"]

_KEEP_RECENT = 2  # with relevance on, the last exchange always stays
_MAX_FOLDS = 4  # summary requests per turn at most (a long imported backlog)
_EMBED_MEMO_LIMIT = 4096
_COUNT_MODEL = "gpt-4o"  # model-free counts (the threshold), as the router counts


class ContextStage:
    """Before routing: history from the conversation, stripped, summarised, windowed."""

    def __init__(self, services: Services, summarizer: Summarizer) -> None:
        self.services = services
        self.summarizer = summarizer
        self._vectors: dict[str, np.ndarray] = {}

    async def __call__(self, ctx: RequestContext, call_next: Next) -> AsyncIterator[Delta]:
        turn = ctx.turn_messages
        if not ctx.prompt.strip() and not any(m.images or m.role == "tool" for m in turn):
            raise InputError(
                "the prompt is empty; type something to ask", request_id=ctx.request_id
            )
        conversation = self._load(ctx)
        history: Sequence[Message] = ctx.history if conversation is None else conversation.messages
        try:
            check_tool_pairs([*history, *turn])
        except InputError as e:
            e.request_id = ctx.request_id
            raise
        anchor = None
        if turn[0].role == "tool" and history and history[-1].tool_calls:
            # The call the results answer is part of this turn: never trimmed away.
            anchor = history[-1]
            turn = (anchor, *turn)
            history = history[:-1]
        ctx.turn = turn
        state = ContextState(
            full=assemble(
                ctx.system, None, history, range(len(history)), turn, ctx.system_cache_control
            )
        )
        ctx.context = state
        if conversation is not None:
            history = await self._summarized_tail(ctx, state, conversation)
            if history and history[-1] is anchor:
                history = history[:-1]
        if self.services.config.context.strip_metadata:
            stripped = strip_metadata(history)
            if stripped != tuple(history):
                state.act("strip_metadata")
            history = stripped
        state.history = tuple(history)
        state.priority = await self._window(ctx, state)
        ctx.messages = assemble(
            ctx.system, state.summary, state.history, state.priority, turn, ctx.system_cache_control
        )
        async with closing(call_next(ctx)) as stream:
            async for delta in stream:
                yield delta
        if conversation is not None and ctx.answered:
            new = [m for m in turn if m is not history_anchor(turn)]
            reply = Message("assistant", ctx.text, tool_calls=ctx.tool_calls)
            self.services.conversations().append(
                conversation.id, [*new, reply], self.services.clock(), ctx.request_id
            )

    def _load(self, ctx: RequestContext) -> Conversation | None:
        if ctx.conversation_id is None or ctx.purpose == "context":
            return None  # a summary request belongs to a conversation but is not a turn
        if ctx.history:
            raise InputError(
                "give either earlier messages or a conversation, not both",
                request_id=ctx.request_id,
            )
        conversation = self.services.conversations().load(ctx.conversation_id)
        if ctx.system is None:
            ctx.system = conversation.system
        return conversation

    async def _summarized_tail(
        self, ctx: RequestContext, state: ContextState, conv: Conversation
    ) -> Sequence[Message]:
        """The messages the summary does not cover, after folding more into it if due.

        A long backlog (an imported thread) may take a few folds; each carries the
        previous summary and only turns not yet summarised."""
        cfg = self.services.config.context
        counter = self.services.message_tokens
        summary = conv.summary
        start = _first_after(conv.seqs, summary.upto_seq if summary else 0)
        for _ in range(_MAX_FOLDS if cfg.summarize else 0):
            tail = conv.messages[start:]
            costs = [counter.message(m, _COUNT_MODEL) for m in tail]
            held = counter.text(summary.content, _COUNT_MODEL) if summary else 0
            if sum(costs) + held <= cfg.summarize_after_tokens:
                break
            limit = self.summarizer.fold_limit(summary, counter)
            keep_tokens = cfg.summarize_after_tokens // 2
            fold = group_end(tail, fold_point(costs, keep_tokens, cfg.max_history_messages, limit))
            if not fold:
                break
            last_seq = conv.seqs[start + fold - 1]
            made = await self._fold(ctx, state, conv.id, summary, tail[:fold], last_seq)
            if made is None:
                break
            summary, start = made, start + fold
        if summary is not None:
            state.summary = Message("system", SUMMARY_PREFIX + summary.content)
            if "summary" not in state.actions:
                state.act("summary_reused")
        return conv.messages[start:]

    async def _fold(
        self,
        ctx: RequestContext,
        state: ContextState,
        conversation_id: str,
        previous: StoredSummary | None,
        turns: Sequence[Message],
        last_seq: int,
    ) -> StoredSummary | None:
        try:
            made = await self.summarizer.summarize(conversation_id, previous, turns, last_seq + 1)
        except CentwiseError as e:
            state.act("summary_failed")
            ctx.warnings.append(f"summarising earlier turns failed ({e}); trimmed them instead")
            return None
        self.services.conversations().save_summary(conversation_id, made, self.services.clock())
        state.act("summary")
        return made

    async def _window(self, ctx: RequestContext, state: ContextState) -> tuple[int, ...]:
        """History indices by priority, cut to ``max_history_messages`` (moving in
        steps of ``window_step``, so the cached prefix stays put between steps)."""
        cfg = self.services.config.context
        n = len(state.history)
        plain = recency_priority(n)
        priority = plain
        if cfg.relevance and n > _KEEP_RECENT and cfg.relevant_messages:
            sims = await self._similarities(ctx, state.history)
            if sims is not None:
                priority = relevance_priority(
                    sims, _KEEP_RECENT, cfg.relevant_messages, cfg.relevance_min_similarity
                )
        groups = tool_groups(state.history)
        step = cfg.window_step or max(1, cfg.max_history_messages // 2)
        limit = stepped_limit(n, cfg.max_history_messages, step)
        kept = whole_groups(priority, groups, limit)
        if set(kept) != set(whole_groups(plain, groups, limit)):
            state.act("relevance")
        if len(kept) < n:
            state.act("window")
        return kept

    async def _similarities(
        self, ctx: RequestContext, history: Sequence[Message]
    ) -> list[float] | None:
        try:
            cache = await self.services.semantic_cache()
        except ConfigError as e:  # the embedding model is unusable: relevance is optional
            ctx.warnings.append(f"relevance retention is off: {e}")
            return None
        texts = [ctx.prompt, *(m.content for m in history)]
        vectors = await asyncio.to_thread(self._embed, cache.embedder, texts)
        scores = vectors[1:] @ vectors[0]
        return [float(s) for s in scores]

    def _embed(self, embedder: object, texts: list[str]) -> np.ndarray:
        """Embed ``texts`` (run in a worker thread), reusing vectors seen before."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        if missing:
            fresh = embedder.embed(missing)  # type: ignore[attr-defined]
            if len(self._vectors) + len(missing) > _EMBED_MEMO_LIMIT:
                self._vectors.clear()
            for text, vector in zip(missing, fresh, strict=True):
                self._vectors[text] = np.asarray(vector, dtype=np.float32)
        return np.stack([self._vectors[t] for t in texts])


def history_anchor(turn: Sequence[Message]) -> Message | None:
    """The assistant message with the tool calls a turn of tool results answers, when
    the context stage moved it into the turn (it is already stored)."""
    return turn[0] if len(turn) > 1 and turn[0].tool_calls else None


def _first_after(seqs: Sequence[int], upto: int) -> int:
    """Index of the first message with ``seq >= upto`` (seqs ascend)."""
    return bisect.bisect_left(seqs, upto)
