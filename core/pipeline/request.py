"""The request pipeline: a stack of same-shaped stages composed in one place.

Each stage is an object with one async-generator ``__call__(ctx, call_next)`` that
yields the reply's text deltas. A stage may act before calling the next stage, after
it, or instead of it (a cache hit never calls the provider), and its ``finally``
runs on every path, including cancellation mid-stream. The composition lives in
:func:`core.pipeline.stack.build_stages`; adding a stage is one line there.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Protocol, TypeVar

from core.types import (
    NO_SAMPLING,
    Attempt,
    Delta,
    Message,
    RequestRecord,
    ResponseFormat,
    Sampling,
    Tool,
    ToolCall,
    ToolChoice,
    Usage,
)

if TYPE_CHECKING:
    from core.accounting.prices import ModelPrice
    from core.cache.entries import CacheHit
    from core.config import TierConfig
    from core.context.window import ContextState
    from core.errors import CentwiseError
    from core.prompt_cache import Prepared
    from core.routing.router import RequestNeeds, RouteDecision

__all__ = [
    "CacheProbe",
    "Next",
    "Reply",
    "RequestContext",
    "Stage",
    "closing",
    "compose",
    "new_request_id",
]

T = TypeVar("T")

Next = Callable[["RequestContext"], AsyncIterator[Delta]]


class Stage(Protocol):
    def __call__(self, ctx: RequestContext, call_next: Next) -> AsyncIterator[Delta]: ...


class CacheProbe(Protocol):
    """The cache, looked up again on one request's behalf for another tier.

    The cache stage sets it on the request; the call stage uses it before falling
    back to a cheaper tier, so an answer the cache holds for that tier is not paid
    for twice.
    """

    async def lookup(self, tier: TierConfig) -> CacheHit | None:
        """A safe cached answer from ``tier`` or a better one, or None."""
        ...

    def serve(self, hit: CacheHit) -> list[Delta]:
        """Mark the request as answered by ``hit``; return its text in chunks."""
        ...


@dataclass
class RequestContext:
    """Everything one request carries through the stages; the record is built from it."""

    request_id: str
    prompt: str
    started_at: float
    system: str | None = None
    history: tuple[Message, ...] = ()
    requested_model: str = "auto"
    max_output_tokens: int | None = None
    temperature: float | None = None
    sampling: Sampling = NO_SAMPLING
    response_format: ResponseFormat | None = None
    purpose: str = "user"
    use_cache: bool = True
    conversation_id: str | None = None
    #: This turn's new messages when they are more than ``prompt`` as a user message
    #: (a user message with images; tool results). Empty: ``Message("user", prompt)``.
    turn: tuple[Message, ...] = ()
    tools: tuple[Tool, ...] = ()
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    reasoning_effort: str | None = None
    end_user: str | None = None
    metadata: dict[str, str] | None = None
    system_cache_control: Mapping[str, object] | None = None
    #: A gateway client's own ``prompt_cache_key`` (sent as given to OpenAI) and who
    #: the client is (its ``user``), whose requests the break detector compares.
    prompt_cache_key: str | None = None
    client: str | None = None
    #: Team mode: who sent it (``[team] member``) and the gateway key it came through.
    member: str | None = None
    app: str | None = None
    t0: float = field(default_factory=time.perf_counter)
    # Filled in by the stages:
    messages: tuple[Message, ...] = ()
    context: ContextState | None = None
    route: RouteDecision | None = None
    needs: RequestNeeds | None = None
    tier: TierConfig | None = None
    provider_name: str | None = None
    model: str | None = None
    max_tokens: int | None = None
    price: ModelPrice | None = None
    estimated_input_tokens: int | None = None
    estimate_is_approx: bool = False
    reservation_id: str | None = None
    #: What the reservation holds, in picodollars, and ``max_tokens`` as it was before
    #: the budget capped it (None: the budget did not cap it).
    reserved_pusd: int = 0
    uncapped_max_tokens: int | None = None
    cache_probe: CacheProbe | None = None
    cache_outcome: str = "miss"
    cache_similarity: float | None = None
    cache_matched_request_id: str | None = None
    saved_usd: Decimal = Decimal(0)
    #: What the cache itself spent on this request (remote embedding, yes/no
    #: verifier calls); ``saved_usd`` is net of it.
    cache_overhead_usd: Decimal = Decimal(0)
    usage: Usage | None = None
    usage_estimated: bool = False
    finish_reason: str | None = None
    text_parts: list[str] = field(default_factory=list)
    #: The reply's tool calls, whole (set when the provider finishes, or by a cache hit).
    tool_calls: tuple[ToolCall, ...] = ()
    first_token_t: float | None = None
    attempts: list[Attempt] = field(default_factory=list)
    simulated: bool = False
    degraded: bool = False
    status: str = "ok"
    error: CentwiseError | None = None
    warnings: list[str] = field(default_factory=list)
    record: RequestRecord | None = None
    #: The provider prompt-cache plan of the last provider tried (None: it has none).
    prompt_cache: Prepared | None = None

    @property
    def text(self) -> str:
        return "".join(self.text_parts)

    @property
    def turn_messages(self) -> tuple[Message, ...]:
        """This turn's new messages: ``turn``, or the prompt as a user message."""
        return self.turn or (Message("user", self.prompt),)

    @property
    def cache_group(self) -> str:
        """Whose earlier requests this one's prompt cache follows: its conversation's,
        else its client's; Centwise's own requests (summaries, judging) apart."""
        if self.conversation_id:
            group = f"conversation:{self.conversation_id}"
        else:
            group = f"client:{self.prompt_cache_key or self.client or 'default'}"
        return group if self.purpose == "user" else f"{self.purpose}/{group}"

    @property
    def cache_marks(self) -> int:
        """How many prompt-cache marks a client put on the messages sent and the tools."""
        marks = sum(m.cache_control is not None for m in self.messages)
        return marks + sum(t.cache_control is not None for t in self.tools)

    @property
    def answered(self) -> bool:
        """Whether the reply has anything: text or tool calls."""
        return bool(self.text_parts) or bool(self.tool_calls)


@asynccontextmanager
async def closing(stream: AsyncIterator[T]) -> AsyncIterator[AsyncIterator[T]]:
    """Close ``stream`` on exit, so the stages below finish (and account) *before*
    the stage above runs its own ``finally``, including on cancellation."""
    try:
        yield stream
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()


def compose(stages: Sequence[Stage], terminal: Next | None = None) -> Next:
    """Nest ``stages`` so the first one is outermost; return the entry point."""
    app: Next = terminal or _nothing
    for stage in reversed(stages):
        app = partial(stage, call_next=app)
    return app


async def _nothing(ctx: RequestContext) -> AsyncIterator[Delta]:
    return
    yield  # pragma: no cover - makes this an async generator


def new_request_id() -> str:
    return "req_" + uuid.uuid4().hex[:20]


class Reply:
    """A streaming answer. Iterate for text (``str``) and tool-call pieces
    (:class:`~core.types.ToolCallDelta`); :attr:`record` is set at the end."""

    def __init__(self, ctx: RequestContext, app: Next) -> None:
        self.ctx = ctx
        self._stream: AsyncIterator[Delta] = app(ctx)

    @property
    def request_id(self) -> str:
        return self.ctx.request_id

    @property
    def record(self) -> RequestRecord | None:
        return self.ctx.record

    def __aiter__(self) -> AsyncIterator[Delta]:
        return self._stream

    async def collect(self) -> RequestRecord:
        """Drain the stream and return the record; a failure is recorded, then raised."""
        async for _ in self._stream:
            pass
        assert self.ctx.record is not None
        return self.ctx.record

    async def cancel(self) -> RequestRecord | None:
        """Stop mid-stream; the partial usage and cost are recorded as cancelled."""
        aclose = getattr(self._stream, "aclose", None)
        if aclose is not None:
            await aclose()
        return self.ctx.record
