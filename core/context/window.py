"""Context management strategies, as plain functions over messages.

The context stages (:mod:`core.pipeline.stages.context`) use these to decide what of a
conversation's history goes with a new message:

* **strip metadata**: names, metadata and tool output tied to no call leave the
  history (tool calls and their results stay, as one unit);
* **sliding window**: at most ``max_history_messages`` earlier messages, chosen by
  *priority* (newest first, or with relevance retention the most similar older turns
  ahead of merely recent ones);
* **token-aware fit**: once the model is known, history is dropped lowest priority
  first until the prompt fits the model's window minus the reserved output;
* the summary of older turns (see :mod:`core.pipeline.summarizer`) goes right after the
  system prompt and is the first thing dropped if even that does not fit.

Token counts follow OpenAI's cookbook (as :meth:`TokenCounter.count_messages`) and are
memoised per encoding and text, so each message of a long conversation is tokenised
once, not once per turn.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import partial

from core.accounting.tokens import TokenCounter
from core.content.counting import content_tokens
from core.errors import ContextTooLongError
from core.types import Message

__all__ = [
    "ContextState",
    "FitResult",
    "MessageTokens",
    "SavingsBreakdown",
    "assemble",
    "fit_history",
    "recency_priority",
    "relevance_priority",
    "stepped_limit",
    "strip_metadata",
    "summary_messages",
    "tool_groups",
    "whole_groups",
]

# Cookbook constants, as in core.accounting.tokens: each message 3, a name 1, reply priming 3.
_PER_MESSAGE = 3
_PER_NAME = 1
_PRIMING = 3
_MEMO_LIMIT = 100_000
SUMMARY_PREFIX = "Summary of the earlier conversation:\n"


class MessageTokens:
    """Prompt-token counts per message, memoised by encoding and text."""

    def __init__(self, tokens: TokenCounter) -> None:
        self.tokens = tokens
        self._memo: dict[tuple[str, str], int] = {}

    def text(self, text: str, model: str) -> int:
        encoding = self.tokens.encoding_name_for(model)[0]
        key = (encoding, text)
        n = self._memo.get(key)
        if n is None:
            if len(self._memo) >= _MEMO_LIMIT:
                self._memo.clear()
            n = self._memo[key] = self.tokens.count_text(text, model).tokens
        return n

    def message(self, m: Message, model: str) -> int:
        n = _PER_MESSAGE + self.text(m.role, model) + self.text(m.content, model)
        if m.name is not None:
            n += self.text(m.name, model) + _PER_NAME
        if m.images or m.tool_calls or m.tool_call_id:
            n += content_tokens(m, partial(self.text, model=model), model)
        return n

    def messages(self, messages: Sequence[Message], model: str) -> int:
        """Same total as :meth:`TokenCounter.count_messages`."""
        return _PRIMING + sum(self.message(m, model) for m in messages)


@dataclass(frozen=True, slots=True)
class SavingsBreakdown:
    """Where the money was saved: cache hits, and context management (gross; its
    summary requests cost ``context_cost_usd``, already in the spend)."""

    cache_usd: Decimal
    context_usd: Decimal
    context_cost_usd: Decimal
    #: Auto-routed answers below the top tier, against the top tier's prices (estimate).
    routing_usd: Decimal = Decimal(0)

    @property
    def context_net_usd(self) -> Decimal:
        return self.context_usd - self.context_cost_usd


@dataclass(slots=True)
class ContextState:
    """What the context stages decided for one request (the record is built from it).

    ``history`` is the candidate history in order; ``priority`` lists its indices,
    most important first, already cut to the sliding window.
    """

    full: tuple[Message, ...]
    history: tuple[Message, ...] = ()
    priority: tuple[int, ...] = ()
    summary: Message | None = None
    actions: list[str] = field(default_factory=list)
    tokens_before: int | None = None
    tokens_after: int | None = None
    saved_usd: Decimal = Decimal(0)

    def act(self, action: str) -> None:
        if action not in self.actions:
            self.actions.append(action)


def strip_metadata(history: Sequence[Message]) -> tuple[Message, ...]:
    """History without names, metadata, or tool output that answers no call (none of
    it is conversation). Tool calls and the results tied to them stay: a provider
    refuses a call without its result, and the answer after it depends on both."""
    out = []
    for m in history:
        tied = m.tool_call_id is not None
        if (m.role == "tool" and not tied) or not (
            m.content.strip() or m.tool_calls or m.images or tied
        ):
            continue
        if m.name is not None or m.metadata is not None:
            m = replace(m, name=None, metadata=None)
        out.append(m)
    return tuple(out)


def tool_groups(history: Sequence[Message]) -> list[int]:
    """For each message, the index of the group it belongs to: an assistant message
    with tool calls and the results that answer them form one group (kept or dropped
    together); every other message is a group of its own."""
    groups = list(range(len(history)))
    owner: dict[str, int] = {}
    for i, m in enumerate(history):
        for call in m.tool_calls:
            owner[call.id] = i
        if m.role == "tool" and m.tool_call_id in owner:
            groups[i] = owner[m.tool_call_id]
    return groups


def whole_groups(
    priority: Sequence[int], groups: Sequence[int], limit: int | None = None
) -> tuple[int, ...]:
    """``priority`` with each tool group's members together at its best-ranked place,
    cut to ``limit`` messages without splitting a group."""
    members: dict[int, list[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(i)
    out: list[int] = []
    seen: set[int] = set()
    for i in priority:
        g = groups[i]
        if g in seen:
            continue
        seen.add(g)
        group = members[g]
        if limit is not None and len(out) + len(group) > limit:
            break
        out.extend(group)
    return tuple(out)


def stepped_limit(n: int, limit: int, step: int) -> int:
    """How many of ``n`` history messages a window of ``limit`` keeps when it moves in
    steps of ``step``: the oldest are dropped ``step`` at a time, so the first kept
    message changes once every ``step`` messages (and the cached prefix with it), not
    every turn. Keeps between ``limit - step + 1`` and ``limit``."""
    if n <= limit:
        return n
    step = max(1, min(step, limit)) if limit else 1
    dropped = -(-(n - limit) // step) * step
    return max(0, n - dropped)


def recency_priority(n: int) -> tuple[int, ...]:
    """Newest first: the plain sliding window."""
    return tuple(range(n - 1, -1, -1))


def relevance_priority(
    similarities: Sequence[float], keep_recent: int, top: int, min_similarity: float
) -> tuple[int, ...]:
    """The last ``keep_recent`` messages, then up to ``top`` older ones with the highest
    similarity to the new message (at least ``min_similarity``), then the rest newest
    first. ``similarities[i]`` belongs to history message ``i``."""
    n = len(similarities)
    recent = list(range(n - 1, max(n - keep_recent, 0) - 1, -1))
    older = range(max(n - keep_recent, 0))
    ranked = sorted(older, key=lambda i: (-similarities[i], -i))
    relevant = [i for i in ranked[:top] if similarities[i] >= min_similarity]
    chosen = set(recent) | set(relevant)
    rest = [i for i in range(n - 1, -1, -1) if i not in chosen]
    return tuple(recent + relevant + rest)


def assemble(
    system: str | None,
    summary: Message | None,
    history: Sequence[Message],
    keep: Sequence[int],
    turn: str | Sequence[Message],
    system_mark: Mapping[str, object] | None = None,
) -> tuple[Message, ...]:
    """System prompt (with a client's cache mark), summary, the kept history in its
    original order, then the turn: the new messages (a prompt given as text is one
    user message)."""
    out = [Message("system", system, cache_control=system_mark)] if system else []
    if summary is not None:
        out.extend(summary_messages(summary))
    out.extend(history[i] for i in sorted(keep))
    out.extend(_turn(turn))
    return tuple(out)


#: Between two blocks of a stored summary (each fold adds one; see the summarizer).
SUMMARY_BLOCK_SEP = "\n\n[summary continues]\n\n"
SUMMARY_CONTINUED = "Summary of the earlier conversation, continued:\n"


def summary_messages(summary: Message) -> tuple[Message, ...]:
    """The summary as sent: one system message per block, so a new block leaves the
    earlier ones (and the provider's cached prefix through them) as they were."""
    blocks = summary.content.split(SUMMARY_BLOCK_SEP)
    if len(blocks) == 1:
        return (summary,)
    first, *rest = blocks
    return (Message("system", first), *(Message("system", SUMMARY_CONTINUED + b) for b in rest))


def _turn(turn: str | Sequence[Message]) -> tuple[Message, ...]:
    return (Message("user", turn),) if isinstance(turn, str) else tuple(turn)


@dataclass(frozen=True, slots=True)
class FitResult:
    keep: tuple[int, ...]
    summary_kept: bool
    tokens: int


def fit_history(
    state: ContextState,
    system: str | None,
    prompt: str | Sequence[Message],
    model: str,
    counter: MessageTokens,
    *,
    window: int | None,
    cap: int,
    request_id: str | None = None,
    extra: int = 0,
) -> FitResult:
    """Keep history by priority while the prompt stays within ``min(window, cap)``.

    ``window`` is the model's input limit less the reserved output (None: unknown);
    ``cap`` is ``[budget].max_input_tokens``. The window is a hard limit: when the
    system prompt and the new message alone pass it, :class:`ContextTooLongError`.
    (Passing only ``cap`` is left to the budget stage, which names that limit.)
    """
    fixed = _PRIMING + extra + sum(counter.message(m, model) for m in _turn(prompt))
    if system:
        fixed += counter.message(Message("system", system), model)
    if window is not None and fixed > window:
        raise ContextTooLongError(
            f"the prompt is {fixed:,} tokens, but {model} leaves {window:,} for input once "
            f"the reply is reserved; shorten it by {fixed - window:,} tokens "
            "(or lower max_output_tokens, or pick a model with a larger window)",
            model=model,
            request_id=request_id,
        )
    limit = cap if window is None else min(window, cap)
    total = fixed
    summary_kept = False
    if state.summary is not None:
        cost = sum(counter.message(m, model) for m in summary_messages(state.summary))
        if total + cost <= limit:
            total += cost
            summary_kept = True
    keep: list[int] = []
    groups = tool_groups(state.history)
    taken: set[int] = set()
    for i in state.priority:
        if groups[i] in taken:
            continue
        taken.add(groups[i])
        group = [j for j in state.priority if groups[j] == groups[i]]
        cost = sum(counter.message(state.history[j], model) for j in group)
        if total + cost > limit:
            break  # a window, not a knapsack: never keep an older turn over a newer one
        total += cost
        keep.extend(group)  # a tool call and its results: together or not at all
    return FitResult(tuple(keep), summary_kept, total)
