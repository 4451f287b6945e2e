"""The cache stage: serve a cached answer when it is safe, file a good new one.

Lookup order (in :class:`core.cache.store.SemanticCache`): exact normalised text,
then cosine similarity within the request's namespace (system prompt, earlier turns
and sampling settings), then the hard-negative guard, and a quality floor so that a
request never gets an answer from a lower tier than its own. A hit costs nothing; the
record keeps what the original call would cost at today's prices as ``saved_usd``.

Before the call stage falls back to a cheaper tier, it looks the prompt up again
with that tier's floor (``ctx.cache_probe``): an answer the cache holds for that tier
is served rather than paid for again.

When every provider has failed and nothing has been shown yet, the stage looks again
without the quality floor and serves the best safe match, flagged ``fallback``.
Embedding runs in a worker thread, never on the event loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import TYPE_CHECKING

import numpy as np

from core.accounting.prices import cost_of
from core.cache.entries import CacheHit, Verifier, namespace_for
from core.content.tools import tools_key
from core.errors import ProviderError
from core.pipeline.request import Next, RequestContext, closing
from core.types import Delta

if TYPE_CHECKING:
    from core.config import TierConfig
    from core.pipeline.services import Services

__all__ = ["CacheStage"]

_CHUNK = 24  # characters per delta when a hit is streamed like a live answer


class CacheStage:
    """Semantic cache in front of the budget and the call."""

    def __init__(self, services: Services, verifier: Verifier | None = None) -> None:
        self.services = services
        self.verifier = verifier  # the yes/no question for the grey zone, if configured

    async def __call__(self, ctx: RequestContext, call_next: Next) -> AsyncIterator[Delta]:
        cfg = self.services.config.cache
        namespace = None
        if cfg.enabled and ctx.use_cache and ctx.purpose == "user":
            turn = ctx.turn_messages
            history = list(ctx.messages[: len(ctx.messages) - len(turn)])
            if history and history[0].role == "system" and history[0].content == ctx.system:
                history = history[1:]  # the system prompt is keyed on its own; a summary
                # of earlier turns (also role "system") stays in the history key
            plain = len(turn) == 1 and turn[0].role == "user" and not turn[0].images
            namespace = namespace_for(
                ctx.system,
                history,
                temperature=ctx.temperature,
                cacheable_max_temperature=cfg.cacheable_max_temperature,
                sampling=ctx.sampling,
                response_format=ctx.response_format.key() if ctx.response_format else None,
                tools=tools_key(ctx.tools, ctx.tool_choice, ctx.parallel_tool_calls) or None,
                turn=() if plain else turn,
            )
        if namespace is None:
            async with closing(call_next(ctx)) as stream:
                async for delta in stream:
                    yield delta
            return
        try:
            vector, embedding_cost = await self.services.embed_prompt(ctx.prompt, ctx.request_id)
        except ProviderError as e:  # the embeddings service is down: answer uncached
            ctx.warnings.append(f"cache skipped: embedding failed ({e})")
            async with closing(call_next(ctx)) as stream:
                async for delta in stream:
                    yield delta
            return
        self._overhead(ctx, embedding_cost, "embedding the prompt")
        hit = await self._lookup(ctx, namespace, vector, self._rank(ctx.tier))
        if hit is not None:
            self._serve(ctx, hit, hit.outcome)
            for delta in _chunks(hit.response):
                yield delta
            return
        ctx.cache_probe = _TierProbe(self, ctx, namespace, vector)
        try:
            async with closing(call_next(ctx)) as stream:
                async for delta in stream:
                    yield delta
        except ProviderError as error:
            if ctx.answered:
                raise
            hit = await self._lookup(ctx, namespace, vector, 0)
            if hit is None:
                raise
            ctx.warnings.append(f"every provider failed; served a cached answer ({error})")
            self._serve(ctx, hit, "fallback")
            for delta in _chunks(hit.response):
                yield delta
            return
        self._store(ctx, namespace, vector)

    def _rank(self, tier: TierConfig | None) -> int:
        """The quality floor for ``tier``: no answer from a lower tier is served."""
        return self.services.tier_rank(tier.id if tier else None)

    async def _lookup(
        self, ctx: RequestContext, namespace: str, vector: np.ndarray, floor: int
    ) -> CacheHit | None:
        cache = await self.services.semantic_cache()
        result = await cache.alookup(
            ctx.prompt,
            namespace,
            floor,
            self.services.clock(),
            self.services.config.cache.similarity_threshold,
            embedding=vector,
            max_output_tokens=ctx.max_tokens,
            verifier=self.verifier if self.services.config.cache.verify_tier else None,
            request_id=ctx.request_id,
        )
        if result.verifier_calls:
            cost = result.verifier_cost_usd if result.verifier_cost_known else None
            self._overhead(ctx, cost, "the yes/no cache verifier")
        for rejection in result.rejections[:1]:
            reasons = "; ".join(rejection.reasons)
            ctx.warnings.append(
                f"cache: a similar prompt ({rejection.similarity:.3f}) was not served: {reasons}"
            )
        return result.hit

    def _serve(self, ctx: RequestContext, hit: CacheHit, outcome: str) -> None:
        ctx.cache_outcome = outcome
        ctx.cache_similarity = round(hit.similarity, 6)
        ctx.cache_matched_request_id = hit.request_id
        if hit.model:
            ctx.model = hit.model
            ctx.price = self.services.price_for(ctx.provider_name or "", hit.model)
        saved = cost_of(hit.usage, ctx.price) if ctx.price else None
        gross = saved if saved is not None else hit.cost_usd
        ctx.saved_usd = (gross or Decimal(0)) - ctx.cache_overhead_usd
        cache = self.services.semantic_cache_now()
        if cache is not None and gross is not None:
            cache.add_saving(hit.entry_id, ctx.saved_usd)  # the browser's net "Saved"
        ctx.finish_reason = "stop"
        ctx.error = None

    @staticmethod
    def _overhead(ctx: RequestContext, cost: Decimal | None, what: str) -> None:
        """Charge what the cache spent against this request's savings (a miss that
        paid for verification saved a negative amount)."""
        if cost is None:
            ctx.warnings.append(f"cache: the cost of {what} is unknown; savings exclude it")
            return
        ctx.cache_overhead_usd += cost
        ctx.saved_usd -= cost

    def _store(self, ctx: RequestContext, namespace: str, vector: np.ndarray) -> None:
        if ctx.cache_outcome != "miss" or ctx.usage is None or not ctx.text_parts:
            return  # served from the cache (say, before a cheaper tier): already filed
        if ctx.tool_calls:
            return  # a reply that asks for a tool call is an action to take, not an answer
        cost = cost_of(ctx.usage, ctx.price) if ctx.price else None
        cache = self.services.semantic_cache_now()
        if cache is None:
            return
        cache.store(
            ctx.prompt,
            namespace,
            vector,
            ctx.text,
            ctx.model,
            ctx.tier.id if ctx.tier else None,
            self._rank(ctx.tier),
            ctx.request_id,
            ctx.usage,
            cost,
            ctx.finish_reason,
            self.services.clock(),
            status="ok",
        )


class _TierProbe:
    """The :class:`~core.pipeline.request.CacheProbe` for one request: the same
    namespace and embedding, with another tier's quality floor."""

    def __init__(
        self, stage: CacheStage, ctx: RequestContext, namespace: str, vector: np.ndarray
    ) -> None:
        self.stage, self.ctx, self.namespace, self.vector = stage, ctx, namespace, vector

    async def lookup(self, tier: TierConfig) -> CacheHit | None:
        floor = self.stage._rank(tier)
        return await self.stage._lookup(self.ctx, self.namespace, self.vector, floor)

    def serve(self, hit: CacheHit) -> list[Delta]:
        self.stage._serve(self.ctx, hit, hit.outcome)
        return _chunks(hit.response)


def _chunks(text: str) -> list[Delta]:
    return [text[i : i + _CHUNK] for i in range(0, len(text), _CHUNK)] or [""]
