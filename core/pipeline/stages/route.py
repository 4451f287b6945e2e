"""The route stage: picks the tier (or honours an explicit tier or model) and records why.

It also sets what the chosen model decides: the price, the estimated input tokens
and the output cap.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from core.pipeline.request import Next, RequestContext, closing
from core.routing.router import RequestNeeds
from core.types import Delta

if TYPE_CHECKING:
    from core.pipeline.services import Services
    from core.routing.router import TierRouter

__all__ = ["RouteStage", "needs_of"]


def needs_of(ctx: RequestContext) -> RequestNeeds:
    """What the request needs beyond text: tools (declared, or calls in its messages),
    images, a JSON Schema."""
    calls = any(m.tool_calls or m.role == "tool" for m in ctx.messages)
    return RequestNeeds(
        tools=len(ctx.tools) or int(calls),
        images=sum(len(m.images) for m in ctx.messages),
        json_schema=ctx.response_format is not None and ctx.response_format.schema is not None,
    )


class RouteStage:
    """Picks the tier (or honours an explicit tier/model) and records why."""

    def __init__(self, router: TierRouter, services: Services) -> None:
        self.router = router
        self.services = services

    async def __call__(self, ctx: RequestContext, call_next: Next) -> AsyncIterator[Delta]:
        counted = self.services.tokens.count_text(ctx.prompt, "gpt-4o")
        depth = sum(m.role == "user" for m in ctx.messages[:-1])
        needs = needs_of(ctx)
        ctx.needs = needs
        services = self.services
        decision = self.router.route(
            ctx.prompt,
            counted.tokens,
            ctx.requested_model,
            depth=depth,
            needs=needs,
            can=lambda tier: services.cannot(needs, tier, tier.provider, tier.model),
        )
        if decision.mode == "explicit":
            tier = decision.tier if not decision.pinned else None
            missing = services.cannot(needs, tier, decision.provider, decision.model)
            if missing:
                ctx.warnings.append(
                    f"the price table says {decision.model} cannot {', '.join(missing)};"
                    " sent as asked"
                )
        ctx.route, ctx.tier = decision, decision.tier
        ctx.provider_name, ctx.model = decision.provider, decision.model
        ctx.price = self.services.price_for(decision.provider, decision.model)
        est = self.services.tokens.count_messages(ctx.messages, decision.model)
        ctx.estimated_input_tokens, ctx.estimate_is_approx = est.tokens, est.estimated
        model_max = ctx.price.max_output_tokens if ctx.price else None
        ctx.max_tokens = self.services.budget.max_tokens(ctx.max_output_tokens, model_max)
        async with closing(call_next(ctx)) as stream:
            async for delta in stream:
                yield delta
