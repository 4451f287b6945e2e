"""Summaries of a conversation's older turns, written by the fast tier, in blocks.

A summary covers every stored message before ``upto_seq``. When the unsummarised
history passes ``[context].summarize_after_tokens``, the older part of it is folded
into the summary: the request carries the previous summary (for reference) and only
the new turns, so each message is summarised once, never the whole thread again.

Each fold adds a *block* and leaves the earlier blocks as they were, so the prompt a
provider caches (system prompt, then the summary blocks) stays the same up to the new
block; only past ``[context].summary_max_blocks`` are the blocks rewritten into one.

The summary request goes through the whole pipeline (route, budget, call, ledger) as
its own request with purpose ``context`` and the cache off, so its cost lands in the
ledger like any other and budgets hold it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from core.context.conversations import StoredSummary
from core.context.window import SUMMARY_BLOCK_SEP, MessageTokens
from core.errors import CentwiseError
from core.pipeline.request import Next, RequestContext, new_request_id
from core.types import Message

if TYPE_CHECKING:
    from core.pipeline.services import Services

__all__ = ["SUMMARY_SYSTEM", "Summarizer", "fold_point"]

SUMMARY_SYSTEM = (
    "You compress chat history into concise summaries that keep facts, names, numbers,"
    " decisions and open questions. Reply with the summary only."
)
# Room for the instructions and labels around the folded turns.
_OVERHEAD_TOKENS = 200
_COUNT_MODEL = "gpt-4o"


def fold_point(costs: Sequence[int], keep_tokens: int, keep_messages: int, fold_limit: int) -> int:
    """How many of the oldest unsummarised messages to fold into the summary.

    The newest messages stay as they are while they fit ``keep_tokens`` and number at
    most ``keep_messages``; the rest are folded, oldest first, up to ``fold_limit``
    tokens (the rest of them wait for the next summary). ``costs`` are per message.
    """
    kept, total = 0, 0
    for cost in reversed(costs):
        if kept >= keep_messages or total + cost > keep_tokens:
            break
        kept, total = kept + 1, total + cost
    fold, total = 0, 0
    for cost in costs[: len(costs) - kept]:
        if total + cost > fold_limit:
            break
        fold, total = fold + 1, total + cost
    return fold


class Summarizer:
    """Makes the summaries; :meth:`summarize` raises :class:`CentwiseError` on failure."""

    def __init__(self, services: Services, pipeline: Next) -> None:
        self.services = services
        self.pipeline = pipeline

    def fold_limit(self, previous: StoredSummary | None, counter: MessageTokens) -> int:
        """Tokens of turns one summary request may carry within the input limit."""
        cfg = self.services.config
        used = cfg.context.summary_max_tokens + _OVERHEAD_TOKENS
        if previous is not None:
            used += counter.text(previous.content, _COUNT_MODEL)
        return max(cfg.budget.max_input_tokens - used, 0)

    async def summarize(
        self,
        conversation_id: str,
        previous: StoredSummary | None,
        turns: Sequence[Message],
        upto_seq: int,
    ) -> StoredSummary:
        cfg = self.services.config
        blocks = previous.content.split(SUMMARY_BLOCK_SEP) if previous else []
        append = 0 < len(blocks) < cfg.context.summary_max_blocks
        ctx = RequestContext(
            request_id=new_request_id(),
            prompt=summary_prompt(previous, turns, cfg.context.summary_max_tokens, append=append),
            started_at=self.services.clock(),
            system=SUMMARY_SYSTEM,
            requested_model=cfg.routing.tiers[0].id,  # tiers are sorted: the fast one
            max_output_tokens=cfg.context.summary_max_tokens,
            purpose="context",
            use_cache=False,
            conversation_id=conversation_id,
        )
        async for _ in self.pipeline(ctx):
            pass
        text = ctx.text.strip().replace(SUMMARY_BLOCK_SEP, "\n\n")
        if not text:
            raise CentwiseError("the summary came back empty", request_id=ctx.request_id)
        if append and previous is not None:
            text = previous.content + SUMMARY_BLOCK_SEP + text
        return StoredSummary(upto_seq, text, ctx.request_id)


def turn_line(m: Message) -> str:
    """One message as the summariser reads it: its text, the tools it called, the call
    a result answers, and how many images it carried (never their bytes)."""
    line = f"{m.role}: {m.content}"
    if m.role == "tool" and m.tool_call_id:
        line = f"tool result for {m.tool_call_id}: {m.content}"
    for call in m.tool_calls:
        line += f"\n  called {call.name}({call.arguments}) as {call.id}"
    if m.images:
        line += f"\n  [{len(m.images)} image(s)]"
    return line


def group_end(turns: Sequence[Message], fold: int) -> int:
    """``fold`` moved past any tool result whose call is folded, so a summary never
    takes a call and leaves its result (or the other way round)."""
    folded = {c.id for m in turns[:fold] for c in m.tool_calls}
    while fold < len(turns) and turns[fold].role == "tool" and turns[fold].tool_call_id in folded:
        fold += 1
    return fold


def summary_prompt(
    previous: StoredSummary | None, turns: Sequence[Message], words: int, *, append: bool = False
) -> str:
    """The summary request: with ``append``, a summary of the new turns alone (the
    summary so far is given for reference and stays as it is); otherwise one summary
    rewriting the summary so far together with the new turns."""
    so_far = previous.content.replace(SUMMARY_BLOCK_SEP, "\n\n") if previous else "(none yet)"
    lines = [f"Summary so far:\n{so_far}", ""]
    lines.append("New turns to fold in:" if not append else "New turns to summarise:")
    lines.extend(turn_line(m) for m in turns)
    lines.append("")
    if append:
        lines.append(
            f"Write a summary of the new turns only, in at most {words} tokens; it will"
            " follow the summary so far, so do not repeat it."
        )
    else:
        lines.append(
            f"Rewrite the summary so far together with the new turns into one updated"
            f" summary of at most {words} tokens."
        )
    return "\n".join(lines)
