"""The context-fit stage, right after routing: the chosen model's window applied.

It refuses a prompt that cannot fit (:class:`~core.errors.ContextTooLongError`) and
sets the figures the record keeps: tokens before and after, and the dollars saved.
See :mod:`core.pipeline.stages.context` for the part that runs before routing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import TYPE_CHECKING

from core.content.counting import schema_tokens, tool_definition_tokens
from core.context.window import ContextState, assemble, fit_history
from core.pipeline.request import Next, RequestContext, closing
from core.types import Delta

if TYPE_CHECKING:
    from core.pipeline.services import Services

__all__ = ["ContextFitStage"]


class ContextFitStage:
    """After routing: fit the history to the model's window and price what it saved."""

    def __init__(self, services: Services) -> None:
        self.services = services

    async def __call__(self, ctx: RequestContext, call_next: Next) -> AsyncIterator[Delta]:
        if ctx.context is not None:
            self._fit(ctx, ctx.context)
        async with closing(call_next(ctx)) as stream:
            async for delta in stream:
                yield delta

    def _fit(self, ctx: RequestContext, state: ContextState) -> None:
        assert ctx.model is not None  # set by the route stage
        counter = self.services.message_tokens
        window = None
        if ctx.price is not None and ctx.price.max_input_tokens:
            window = ctx.price.max_input_tokens - (ctx.max_tokens or 0)
        kind = self.services.provider(ctx.provider_name).kind if ctx.provider_name else "openai"
        model = ctx.model
        tools = tool_definition_tokens(
            lambda text: self.services.tokens.count_text(text, model).tokens,
            ctx.tools,
            ctx.tool_choice,
            model,
            kind,
        ) + schema_tokens(
            lambda text: self.services.tokens.count_text(text, model).tokens, ctx.response_format
        )
        state.tokens_before = counter.messages(state.full, ctx.model) + tools
        result = fit_history(
            state,
            ctx.system,
            ctx.turn_messages,
            ctx.model,
            counter,
            window=window,
            cap=self.services.config.budget.max_input_tokens,
            request_id=ctx.request_id,
            extra=tools,
        )
        if state.summary is not None and not result.summary_kept:
            state.act("summary_dropped")
        if len(result.keep) < len(state.priority):
            state.act("trim")
        summary = state.summary if result.summary_kept else None
        ctx.messages = assemble(
            ctx.system,
            summary,
            state.history,
            result.keep,
            ctx.turn_messages,
            ctx.system_cache_control,
        )
        ctx.estimated_input_tokens = state.tokens_after = result.tokens
        rate = ctx.price.input_cost_per_token if ctx.price is not None else None
        saved = state.tokens_before - result.tokens
        state.saved_usd = saved * rate if rate is not None else Decimal(0)
