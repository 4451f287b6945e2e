"""The call stage: retries, circuit breakers and fallbacks around the providers.

For each request the stage tries, in order, until one answers:

1. the routed provider and model, retried per that provider's policy;
2. the tier's configured ``fallbacks`` (another provider or model, same tier);
3. each cheaper tier, flagged ``degraded`` in the record; before calling a cheaper
   tier the cache is looked up with that tier's quality floor (``ctx.cache_probe``),
   and an answer it holds is served degraded, at no cost, instead of paid for again.

A target whose breaker is open fails fast and the next one is tried. Nothing falls
back once text has reached the user, and a fallback to a pricier model first
re-reserves what it may cost (by the budget's rule, at its own cap), so a budget is
never overshot by a fallback. (The cached
answer of last resort lives in the cache stage.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from core.accounting.prices import worst_case_cost
from core.content.counting import tool_definition_tokens
from core.errors import (
    BadRequestError,
    CircuitOpenError,
    ContentFilteredError,
    ProviderContextLengthError,
    ProviderError,
    UnsupportedParameterError,
)
from core.money import to_pusd
from core.pipeline.request import Next, RequestContext, closing
from core.pipeline.resilience import AttemptInfo, RetryPolicy, stream_with_retries
from core.pipeline.stages.budget import hold_budget
from core.types import (
    Attempt,
    Delta,
    Finish,
    ProviderRequest,
    TextDelta,
    Tool,
    ToolCallDelta,
    UsageReport,
)

if TYPE_CHECKING:
    from core.config import TierConfig
    from core.pipeline.services import Services
    from core.providers.base import Provider

__all__ = ["CallStage", "Target", "unsupported"]


@dataclass(frozen=True, slots=True)
class Target:
    provider: str
    model: str
    tier: TierConfig | None
    degraded: bool = False


class CallStage:
    """Calls providers with retries, breakers and fallbacks; streams the text."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def targets(self, ctx: RequestContext) -> list[Target]:
        assert ctx.provider_name and ctx.model
        first = Target(ctx.provider_name, ctx.model, ctx.tier)
        out = [first]
        if ctx.tier is None or (ctx.route is not None and ctx.route.pinned):
            return out
        out += [Target(f.provider, f.model, ctx.tier) for f in ctx.tier.fallbacks]
        cheaper = [
            t
            for t in self.services.config.routing.tiers
            if t.max_complexity < ctx.tier.max_complexity
        ]
        for tier in reversed(cheaper):
            out.append(Target(tier.provider, tier.model, tier, degraded=True))
            out += [Target(f.provider, f.model, tier, degraded=True) for f in tier.fallbacks]
        unique: dict[tuple[str, str], Target] = {}
        for t in out:
            unique.setdefault((t.provider, t.model), t)
        needs = ctx.needs
        if needs is None or not needs.required():
            return list(unique.values())
        services = self.services
        return [  # a fallback that cannot serve the request is never tried
            t
            for i, t in enumerate(unique.values())
            if i == 0 or not services.cannot(needs, t.tier, t.provider, t.model)
        ]

    async def __call__(self, ctx: RequestContext, call_next: Next) -> AsyncIterator[Delta]:
        targets = self.targets(ctx)
        last_error: ProviderError | None = None
        for i, target in enumerate(targets):
            if i:
                cached = await self._cached_answer(ctx, targets[i - 1], target, last_error)
                if cached is not None:
                    for text in cached:
                        yield text
                    return
                self._switch(ctx, target, last_error)
            try:
                async with closing(self._attempt_target(ctx, target)) as stream:
                    async for text in stream:
                        yield text
                return
            except ProviderError as e:
                last_error = e
                if ctx.answered or not _may_fall_back(e) or i == len(targets) - 1:
                    raise
        assert last_error is not None  # pragma: no cover
        raise last_error

    async def _cached_answer(
        self, ctx: RequestContext, previous: Target, target: Target, cause: ProviderError | None
    ) -> list[Delta] | None:
        """On entering a cheaper tier, the cache's answer for that tier, served onto the
        request (degraded, at no cost); None when there is none: its provider is called."""
        probe = ctx.cache_probe
        if probe is None or target.tier is None or not _enters_cheaper_tier(previous, target):
            return None
        hit = await probe.lookup(target.tier)
        if hit is None:
            return None
        self._move(ctx, target)  # no reservation: a cached answer costs nothing
        ctx.warnings.append(f"a cheaper tier: served its cached answer after: {cause}")
        return probe.serve(hit)

    def _switch(self, ctx: RequestContext, target: Target, cause: ProviderError | None) -> None:
        """Move the request to a fallback target, re-reserving if it could cost more
        than is held: by the same rule as the first hold, at the target's own cap."""
        services = self.services
        price = services.price_for(target.provider, target.model)
        new_worst = (
            worst_case_cost(ctx.estimated_input_tokens or 0, ctx.max_tokens or 0, price)
            if price
            else None
        )
        if new_worst is not None and to_pusd(new_worst) > ctx.reserved_pusd:
            # The old hold goes first, so the new one may use its money; in this
            # process nothing runs in between (no await), so no one else takes it.
            if ctx.reservation_id:
                services.ledger.release(ctx.reservation_id)
            ctx.reservation_id, ctx.reserved_pusd = None, 0
            hold_budget(services.budget, ctx, target.model, price)
        self._move(ctx, target)
        what = "a cheaper tier" if target.degraded else "a fallback"
        ctx.warnings.append(f"{what}: {target.provider}/{target.model} answered after: {cause}")

    def _move(self, ctx: RequestContext, target: Target) -> None:
        price = self.services.price_for(target.provider, target.model)
        ctx.provider_name, ctx.model, ctx.price = target.provider, target.model, price
        ctx.tier = target.tier
        ctx.degraded = ctx.degraded or target.degraded

    async def _attempt_target(self, ctx: RequestContext, target: Target) -> AsyncIterator[Delta]:
        services = self.services
        provider = services.provider(target.provider)
        refused = unsupported(provider, ctx)
        if refused:
            raise UnsupportedParameterError(
                f"{'; '.join(refused)}: not supported by {provider.kind} provider"
                f" {target.provider!r} ({target.model}); nothing was sent",
                where=refused[0].split(":", 1)[0],
                provider=target.provider,
                model=target.model,
                request_id=ctx.request_id,
            )
        marks = ctx.cache_marks
        if marks and not provider.takes_cache_marks(target.model):
            ctx.warnings.append(
                f"{marks} cache_control mark(s) left out: {provider.kind} provider"
                f" {target.provider!r} takes no marks (it caches prompts on its own terms)"
            )
        settings = provider.settings
        ctx.simulated = provider.simulated
        policy = RetryPolicy(
            max_attempts=settings.max_attempts,
            max_total_seconds=settings.max_retry_seconds,
            base_delay=settings.retry_base_delay_seconds,
        )
        breaker = services.breakers.get(target.provider, target.model)
        request = ProviderRequest(
            request_id=ctx.request_id,
            model=target.model,
            messages=ctx.messages,
            max_tokens=ctx.max_tokens or 1,
            temperature=ctx.temperature,
            tier=target.tier.id if target.tier else None,
            sampling=ctx.sampling,
            response_format=ctx.response_format,
            tools=ctx.tools,
            tool_choice=ctx.tool_choice,
            parallel_tool_calls=ctx.parallel_tool_calls,
            reasoning_effort=ctx.reasoning_effort,
            # A server set not to take the key gets none; the client's still groups.
            prompt_cache_key=ctx.prompt_cache_key if settings.prompt_cache_key else None,
        )
        request = self._plan_prompt_cache(ctx, target, request, provider.kind)
        recorder = _AttemptRecorder(ctx, target)
        stream = stream_with_retries(
            lambda n: provider.stream(request),
            policy,
            breaker,
            sleep=services.sleep,
            clock=services.monotonic,
            on_attempt_end=recorder.end,
            request_id=ctx.request_id,
        )
        async with closing(stream):
            try:
                async for event in stream:
                    self._apply(ctx, event)
                    if isinstance(event, TextDelta):
                        if event.text:
                            yield event.text
                    elif isinstance(event, ToolCallDelta):
                        yield event
            except CircuitOpenError as e:
                ctx.attempts.append(
                    Attempt(target.provider, target.model, "circuit_open", error=str(e))
                )
                raise

    def _plan_prompt_cache(
        self, ctx: RequestContext, target: Target, request: ProviderRequest, kind: str
    ) -> ProviderRequest:
        """The request with the provider prompt cache's marks or key (see
        :mod:`core.prompt_cache`); the plan stays on the context for the record."""
        services = self.services
        model = target.model
        tokens = services.message_tokens

        def tool_tokens(tools: Sequence[Tool]) -> int:
            count = partial(tokens.text, model=model)
            return tool_definition_tokens(count, tools, ctx.tool_choice, model, kind)

        plan = services.prompt_cache.prepare(
            request,
            group=ctx.cache_group,
            provider=target.provider,
            message_tokens=partial(tokens.message, model=model),
            tool_tokens=tool_tokens,
            client_key=ctx.prompt_cache_key,
            sends_key=services.provider(target.provider).settings.prompt_cache_key,
        )
        ctx.prompt_cache = plan
        return request if plan is None else plan.request

    @staticmethod
    def _apply(ctx: RequestContext, event: object) -> None:
        if isinstance(event, UsageReport):
            ctx.usage, ctx.usage_estimated = event.usage, event.estimated
        elif isinstance(event, Finish):
            ctx.finish_reason = event.reason
            ctx.tool_calls = event.tool_calls


class _AttemptRecorder:
    """Keeps the record's list of attempts as the retry loop reports them."""

    def __init__(self, ctx: RequestContext, target: Target) -> None:
        self.ctx = ctx
        self.target = target

    def end(self, info: AttemptInfo) -> None:
        status = "ok" if info.ok else ("cancelled" if info.cancelled else "error")
        usage = info.usage.usage if info.usage else None
        self.ctx.attempts.append(
            Attempt(
                provider=self.target.provider,
                model=self.target.model,
                status=status,
                error=str(info.error) if info.error else None,
                usage=usage if info.produced_output or info.ok else None,
                latency_ms=round(info.elapsed * 1000, 3),
            )
        )
        if not info.ok and not info.produced_output and not info.cancelled:
            self.ctx.usage = None  # a failed attempt with no output is not billed


def unsupported(provider: Provider, ctx: RequestContext) -> list[str]:
    """What the request asks for that ``provider``'s API cannot carry, each named
    (with the message index for an image), so it is refused before anything is sent."""
    out = [n for n in ctx.sampling.asked() if n not in provider.sampling_supported]
    if ctx.response_format is not None and not provider.json_output_supported:
        out.append("response_format")
    if ctx.reasoning_effort is not None and not provider.reasoning_effort_supported:
        out.append("reasoning_effort")
    if not provider.tools_supported and (
        ctx.tools or any(m.tool_calls or m.role == "tool" for m in ctx.messages)
    ):
        out.append("tools")
    choice = ctx.tool_choice
    if choice is not None and choice.mode not in provider.tool_choice_modes:
        out.append(f"tool_choice {choice.mode!r}")
    if ctx.parallel_tool_calls is not None and not provider.parallel_tool_calls_supported:
        out.append("parallel_tool_calls")
    strict = [t.name for t in ctx.tools if t.strict]
    if strict and not provider.strict_tools_supported:
        out.append(f"strict tool schemas ({', '.join(strict)})")
    for i, m in enumerate(ctx.messages):
        for j, image in enumerate(m.images):
            where = f"messages[{i}] image {j + 1}"
            if m.role != "user":
                out.append(f"{where}: images outside a user message")
            elif not provider.images_supported:
                out.append(f"{where}: images")
            elif image.data is None and not provider.image_urls_supported:
                out.append(f"{where}: images by URL (send the image's bytes instead)")
            elif (
                image.data is not None
                and provider.max_image_bytes is not None
                and len(image.data) > provider.max_image_bytes
            ):
                size, limit = len(image.data), provider.max_image_bytes
                out.append(f"{where}: an image of {size:,} bytes (the limit is {limit:,})")
    return out


def _enters_cheaper_tier(previous: Target, target: Target) -> bool:
    """Whether ``target`` is the first one tried in a cheaper tier."""
    if not target.degraded or target.tier is None:
        return False
    return previous.tier is None or previous.tier.id != target.tier.id


def _may_fall_back(error: ProviderError) -> bool:
    """Another model may succeed where this one failed, unless the request itself is
    at fault (a bad request) or the content was refused."""
    if isinstance(error, ProviderContextLengthError):
        return True
    return not isinstance(error, BadRequestError | ContentFilteredError)
