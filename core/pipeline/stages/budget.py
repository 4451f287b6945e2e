"""The budget stage: refuses oversize prompts, caps output and reserves the worst case.

It runs after the cache stage: a cached answer costs nothing, so an exhausted budget
never refuses it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from core.accounting.prices import worst_case_cost
from core.pipeline.request import Next, RequestContext, closing
from core.types import Delta

if TYPE_CHECKING:
    from core.accounting.budget import BudgetPolicy

__all__ = ["BudgetStage"]


class BudgetStage:
    """Refuses oversize prompts, caps output, reserves the worst case, refuses overshoot."""

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
        ctx.reservation_id = self.budget.reserve(ctx.request_id, worst, ctx.model)
        async with closing(call_next(ctx)) as stream:
            async for delta in stream:
                yield delta
