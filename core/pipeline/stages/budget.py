"""The budget stage: refuses oversize prompts, holds what a request may cost, caps output.

It runs after the cache stage: a cached answer costs nothing, so an exhausted budget
never refuses it. With learned reservations and little money left, the hold is sized
by capping ``max_tokens`` (see :mod:`core.accounting.budget`); the request is then
told, and told again if the cap cut its answer short.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from core.accounting.output_lengths import prompt_kind
from core.accounting.prices import worst_case_cost
from core.money import format_usd, from_pusd
from core.pipeline.request import Next, RequestContext, closing
from core.types import Delta

if TYPE_CHECKING:
    from core.accounting.budget import BudgetPolicy
    from core.accounting.prices import ModelPrice

__all__ = ["BudgetStage", "hold_budget"]


class BudgetStage:
    """Refuses oversize prompts, holds the request's cost, caps output, refuses overshoot."""

    def __init__(self, budget: BudgetPolicy) -> None:
        self.budget = budget

    async def __call__(self, ctx: RequestContext, call_next: Next) -> AsyncIterator[Delta]:
        tokens = ctx.estimated_input_tokens or 0
        self.budget.check_input(tokens, request_id=ctx.request_id, model=ctx.model)
        assert ctx.max_tokens is not None  # set by the route stage
        worst = worst_case_cost(tokens, ctx.max_tokens, ctx.price) if ctx.price else None
        if worst is None and self.budget.has_periodic_limits:
            ctx.warnings.append(
                f"no known price for {ctx.model}: this request cannot be held to the budget"
            )
        # A shared database found away moments ago: fail now, before paying a provider
        # for an answer that could not be recorded.
        self.budget.ledger.check_available()
        # On the loop, on either backend: handing the hold to a thread was measured
        # slower on PostgreSQL too (engine overhead and one gateway's throughput).
        hold_budget(self.budget, ctx, ctx.model, ctx.price)
        async with closing(call_next(ctx)) as stream:
            async for delta in stream:
                yield delta
        uncapped = ctx.uncapped_max_tokens
        if uncapped is not None and ctx.finish_reason == "length":
            ctx.warnings.append(
                f"the budget cap cut the answer short: it stopped at max_tokens {ctx.max_tokens}"
                f" (capped from {uncapped}); ask again when the budget allows more"
            )


def hold_budget(
    budget: BudgetPolicy, ctx: RequestContext, model: str | None, price: ModelPrice | None
) -> None:
    """Hold what the request may cost on ``model`` (refusing it if the budget cannot
    pay), and cap ``ctx.max_tokens`` where the hold was sized below it. The cap is
    always taken from ``max_tokens`` as first set, so a fallback sizes its own."""
    requested = ctx.uncapped_max_tokens or ctx.max_tokens
    assert requested is not None
    tokens = ctx.estimated_input_tokens or 0
    kind = prompt_kind(
        ctx.purpose, tools=bool(ctx.tools), json=ctx.response_format is not None,
        input_tokens=tokens,
    )  # fmt: skip
    hold = budget.reserve(
        ctx.request_id,
        model=model,
        price=price,
        input_tokens=tokens,
        max_tokens=requested,
        kind=kind,
        member=ctx.member,
        app=ctx.app,
    )
    ctx.reservation_id, ctx.reserved_pusd = hold.reservation_id, hold.amount_pusd
    ctx.max_tokens = hold.max_tokens
    ctx.uncapped_max_tokens = requested if hold.capped else None
    if hold.capped:
        left = format_usd(from_pusd(hold.left_pusd or 0))
        ctx.warnings.append(
            f"max_tokens capped from {requested} to {hold.max_tokens} by the"
            f" {hold.capped_by} budget: {left} left"
        )
