"""The record stage, outermost: every path leaves one ledger row.

Every path (success, cache hit, refusal, error and cancellation) is written to the
ledger, priced exactly by :func:`build_record`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING

from core.accounting.prices import cost_of
from core.content.images import image_tokens
from core.errors import CentwiseError, InputError
from core.events import REQUEST_FINISHED, EventHub
from core.pipeline.request import Next, RequestContext, closing
from core.types import Delta, RequestRecord, ToolCall, ToolCallDelta, Usage

if TYPE_CHECKING:
    from core.ledger import Ledger, PeriodSpend
    from core.pipeline.services import Services

__all__ = ["RecordStage", "build_record"]


class RecordStage:
    """Outermost: collects what the user saw and writes one ledger row on every path."""

    def __init__(self, services: Services) -> None:
        self.services = services

    async def __call__(self, ctx: RequestContext, call_next: Next) -> AsyncIterator[Delta]:
        pieces: dict[int, list[str]] = {}  # tool calls as streamed: id, name, arguments
        try:
            async with closing(call_next(ctx)) as stream:
                async for delta in stream:
                    if ctx.first_token_t is None:
                        ctx.first_token_t = time.perf_counter()
                    if type(delta) is str:
                        ctx.text_parts.append(delta)
                    elif isinstance(delta, ToolCallDelta):
                        piece = pieces.setdefault(delta.index, ["", "", ""])
                        piece[0] = delta.id or piece[0]
                        piece[1] = delta.name or piece[1]
                        piece[2] += delta.arguments
                    yield delta
        except CentwiseError as e:
            ctx.error = e
            ctx.status = _status_for(e)
            raise
        except (GeneratorExit, asyncio.CancelledError):
            ctx.status = "cancelled"
            raise
        except Exception as e:  # a bug must still leave a record behind
            ctx.error = CentwiseError(f"internal error: {type(e).__name__}: {e}")
            ctx.status = "error"
            raise
        finally:
            if pieces and not ctx.tool_calls:  # cut off mid-call: keep what arrived
                ctx.tool_calls = tuple(ToolCall(*pieces[i]) for i in sorted(pieces))
            self._finish(ctx)

    def _finish(self, ctx: RequestContext) -> None:
        record = build_record(ctx, self.services)
        ctx.record = record
        ledger: Ledger = self.services.ledger
        spend = ledger.record(record, ctx.reservation_id)
        self.services.announce(partial(self._announce, record, spend))

    def _announce(self, record: RequestRecord, spend: PeriodSpend) -> None:
        events: EventHub = self.services.events
        events.emit(REQUEST_FINISHED, record)
        if record.cost_usd:
            self.services.budget.after_record(spend)


def _status_for(error: CentwiseError) -> str:
    from core.errors import BudgetError

    if isinstance(error, BudgetError):
        return "refused"
    if isinstance(error, InputError):
        return "rejected"
    return "error"


def build_record(ctx: RequestContext, services: Services) -> RequestRecord:
    """Turn a finished context into its ledger row, pricing the usage exactly."""
    usage, estimated = _final_usage(ctx, services)
    cost: Decimal | None
    if ctx.cache_outcome in ("exact", "semantic", "fallback") or usage == Usage():
        cost = Decimal(0)
    else:
        cost = cost_of(usage, ctx.price) if ctx.price else None
    if cost is None:
        ctx.warnings.append(f"no price known for model {ctx.model!r}: cost is unknown")
    for attempt in ctx.attempts:
        if attempt.usage and ctx.price:
            attempt.cost_usd = cost_of(attempt.usage, ctx.price)
    for call in ctx.tool_calls:
        try:
            call.parsed()
        except ValueError:
            ctx.warnings.append(
                f"the arguments of tool call {call.id!r} ({call.name}) are not valid JSON;"
                " passed on as the provider sent them"
            )
    now = services.clock()
    route = ctx.route
    err = ctx.error
    first = ctx.first_token_t
    context = ctx.context
    observed = None
    plan = ctx.prompt_cache
    if plan is not None and ctx.cache_outcome == "miss" and ctx.attempts:
        observed = services.prompt_cache.observe(
            plan,
            request_id=ctx.request_id,
            usage=ctx.usage,  # what the provider reported (None: it reported nothing)
            ok=ctx.status == "ok" and ctx.usage is not None,
            tier=ctx.tier.id if ctx.tier else None,
            context_actions=context.actions if context else (),
        )
    return RequestRecord(
        request_id=ctx.request_id,
        started_at=ctx.started_at,
        finished_at=now,
        purpose=ctx.purpose,
        provider=ctx.provider_name,
        model=ctx.model,
        tier=ctx.tier.id if ctx.tier else None,
        route_score=route.score if route else None,
        route_reasons=list(route.reasons) if route else [],
        route_mode=route.mode if route else None,
        cache_outcome=ctx.cache_outcome,
        cache_similarity=ctx.cache_similarity,
        cache_matched_request_id=ctx.cache_matched_request_id,
        usage=usage,
        estimated_input_tokens=ctx.estimated_input_tokens,
        estimated_output_tokens=None,
        usage_estimated=estimated,
        cost_usd=cost,
        cost_known=cost is not None,
        saved_usd=ctx.saved_usd,
        latency_ms=round((time.perf_counter() - ctx.t0) * 1000, 3),
        ttft_ms=round((first - ctx.t0) * 1000, 3) if first is not None else None,
        retries=max(0, len(ctx.attempts) - 1),
        attempts=list(ctx.attempts),
        status=ctx.status,
        error=str(err) if err else None,
        error_kind=err.kind if err else None,
        simulated=ctx.simulated,
        degraded=ctx.degraded,
        prompt=ctx.prompt,
        system=ctx.system,
        response=ctx.text,
        finish_reason=ctx.finish_reason,
        conversation_id=ctx.conversation_id,
        warnings=list(dict.fromkeys(ctx.warnings)),
        context_tokens_before=context.tokens_before if context else None,
        context_tokens_after=context.tokens_after if context else None,
        context_saved_usd=context.saved_usd if context else Decimal(0),
        context_actions=list(context.actions) if context else [],
        routing_saved_usd=routing_saving(ctx, services, usage, cost),
        tool_calls=list(ctx.tool_calls),
        request_detail=request_detail(ctx, services),
        prompt_cache=observed.detail if observed else {},
        prompt_cache_saved_usd=observed.saved_usd if observed else Decimal(0),
        prompt_cache_lost_usd=observed.lost_usd if observed else Decimal(0),
        member=ctx.member,
        app=ctx.app,
    )


def request_detail(ctx: RequestContext, services: Services) -> dict[str, object]:
    """What the request asked for beyond its text, as plain JSON values (only what it
    used): tools, tool choice, JSON output, sampling, images (never their bytes) with
    their estimated tokens, tool results, reasoning effort, end user and metadata."""
    out: dict[str, object] = {}
    if ctx.tools:
        out["tools"] = [t.as_dict() for t in ctx.tools]
    if ctx.tool_choice is not None:
        out["tool_choice"] = ctx.tool_choice.key()
    if ctx.parallel_tool_calls is not None:
        out["parallel_tool_calls"] = ctx.parallel_tool_calls
    fmt = ctx.response_format
    if fmt is not None and fmt.schema is None:
        out["response_format"] = {"type": "json_object"}
    elif fmt is not None:
        out["response_format"] = {
            "type": "json_schema",
            "name": fmt.name,
            "schema": fmt.schema,
            "strict": fmt.strict,
        }
    sampling = ctx.sampling
    if sampling.asked():
        out["sampling"] = {
            "top_p": sampling.top_p,
            "stop": list(sampling.stop),
            "seed": sampling.seed,
        }
    images = [image for m in ctx.turn_messages for image in m.images]
    if images:
        kind = _provider_kind(ctx, services)
        model = ctx.model or "gpt-4o"
        out["images"] = [
            {**image.describe(), "tokens": image_tokens(image, kind, model)} for image in images
        ]
    results = [m for m in ctx.turn_messages if m.role == "tool"]
    if results:
        out["tool_results"] = [
            {"tool_call_id": m.tool_call_id, "content": m.content} for m in results
        ]
    if ctx.cache_marks:
        out["cache_marks"] = ctx.cache_marks
    if ctx.reasoning_effort is not None:
        out["reasoning_effort"] = ctx.reasoning_effort
    if ctx.end_user is not None:
        out["end_user"] = ctx.end_user
    if ctx.metadata:
        out["metadata"] = dict(ctx.metadata)
    return out


def _provider_kind(ctx: RequestContext, services: Services) -> str:
    if ctx.provider_name is None:
        return "openai"
    try:
        return services.provider(ctx.provider_name).kind
    except CentwiseError:
        return "openai"


def routing_saving(
    ctx: RequestContext, services: Services, usage: Usage, cost: Decimal | None
) -> Decimal:
    """What routing saved on this request: the same usage at the top tier's prices,
    less the cost. Only for auto-routed answers below the top tier (not explicit
    choices, cache hits, failures or degraded fallbacks). An estimate: a stronger
    model would not have answered with exactly the same tokens."""
    route, tier = ctx.route, ctx.tier
    if route is None or route.mode != "auto" or tier is None or cost is None:
        return Decimal(0)
    if ctx.status != "ok" or ctx.cache_outcome != "miss" or ctx.degraded:
        return Decimal(0)
    top = services.config.routing.tiers[-1]
    price = services.price_for(top.provider, top.model)
    if tier.id == top.id or price is None:
        return Decimal(0)
    would = cost_of(usage, price)
    return max(Decimal(0), would - cost) if would is not None else Decimal(0)


def _final_usage(ctx: RequestContext, services: Services) -> tuple[Usage, bool]:
    """Provider usage when reported; otherwise (cancelled or cut) count what was sent
    and what arrived, and mark it estimated."""
    if ctx.usage is not None:
        return ctx.usage, ctx.usage_estimated
    if ctx.cache_outcome != "miss" or not ctx.attempts:
        return Usage(), False
    if not ctx.answered and ctx.status != "cancelled":
        return Usage(), False  # failed before any output: providers do not bill it
    model = ctx.model or "gpt-4o"
    text = ctx.text + "".join(c.name + c.arguments for c in ctx.tool_calls)
    out = services.tokens.count_text(text, model) if text else None
    usage = Usage(
        input_tokens=ctx.estimated_input_tokens or 0,
        output_tokens=out.tokens if out else 0,
    )
    return usage, True
