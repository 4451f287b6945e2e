"""The route stage: picks the tier (or honours an explicit tier or model) and records why.

It also sets what the chosen model decides: the price, the estimated input tokens
and the output cap.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING

from core.money import format_usd, usd_str
from core.pipeline.request import Next, RequestContext, closing
from core.routing.router import RequestNeeds, RouteDecision
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
        if decision.mode == "auto" and services.config.prompt_cache.sticky_routing:
            decision = self._warm_model(ctx, decision)
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

    def _warm_model(self, ctx: RequestContext, decision: RouteDecision) -> RouteDecision:
        """Cache-aware routing: a conversation whose provider cache is warm on another
        tier's model stays there when the router picked a cheaper tier but switching
        would save less than the cached-input discount it gives up. Both figures go
        into the reasons. (A move to a stronger tier is for quality: it is followed,
        with the discount it costs noted.)"""
        services = self.services
        warm = services.prompt_cache.warm_state(ctx.cache_group)
        if warm is None or (warm.provider, warm.model) == (decision.provider, decision.model):
            return decision
        tier = services.config.tier(warm.tier) if warm.tier else None
        if tier is None or (tier.provider, tier.model) != (warm.provider, warm.model):
            return decision  # the config changed since: that tier is not the warm one
        if ctx.needs is not None and services.cannot(ctx.needs, tier, tier.provider, tier.model):
            return decision
        there = services.price_for(warm.provider, warm.model)
        here = services.price_for(decision.provider, decision.model)
        if there is None or here is None or not there.known or not here.known:
            return decision
        assert there.input_cost_per_token is not None and there.output_cost_per_token is not None
        assert here.input_cost_per_token is not None and here.output_cost_per_token is not None
        n_in = services.message_tokens.messages(ctx.messages, decision.model)
        n_out = warm.output_tokens or 256
        read = there.cache_read_input_token_cost
        discount = warm.tokens * (there.input_cost_per_token - (read or Decimal(0)))
        saving = (
            n_in * there.input_cost_per_token
            + n_out * there.output_cost_per_token
            - n_in * here.input_cost_per_token
            - n_out * here.output_cost_per_token
        )
        down = tier.max_complexity > decision.tier.max_complexity
        stay = down and discount > saving
        reason: dict[str, object] = {
            "feature": "prompt_cache",
            "value": (
                f"{'stayed on' if stay else 'left'} {tier.id} ({warm.model}), warm for"
                f" {warm.tokens:,} tokens: switching saves {format_usd(saving)},"
                f" the warm cache's discount is {format_usd(discount)}"
            ),
            "contribution": 0.0,
            "warm_tokens": warm.tokens,
            "discount_usd": usd_str(discount),
            "switch_saving_usd": usd_str(saving),
        }
        reasons = [*decision.reasons, reason]
        if not stay:
            return replace(decision, reasons=reasons)
        return replace(
            decision, tier=tier, provider=tier.provider, model=tier.model, reasons=reasons
        )
