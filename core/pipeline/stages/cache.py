"""The cache stage: serve a cached answer when it is safe, file a good new one.

Lookup order (in :class:`core.cache.store.SemanticCache`): exact normalised text,
then cosine similarity within the request's namespace (system prompt, earlier turns
and sampling settings), then the hard-negative guard, and a quality floor so that a
request never gets an answer from a lower tier than its own. A hit costs nothing; the
record keeps what the original call would cost at today's prices as ``saved_usd``.

When every provider has failed and nothing has been shown yet, the stage looks again
without the quality floor and serves the best safe match, flagged ``fallback``.
Embedding runs in a worker thread, never on the event loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import numpy as np

from core.accounting.prices import cost_of
from core.cache.entries import CacheHit, namespace_for
from core.errors import ProviderError
from core.pipeline.request import Next, RequestContext, closing

if TYPE_CHECKING:
    from core.pipeline.services import Services

__all__ = ["CacheStage"]

_CHUNK = 24  # characters per delta when a hit is streamed like a live answer


class CacheStage:
    """Semantic cache in front of the budget and the call."""

    def __init__(self, services: Services) -> None:
        self.services = services

    async def __call__(self, ctx: RequestContext, call_next: Next) -> AsyncIterator[str]:
        cfg = self.services.config.cache
        namespace = None
        if cfg.enabled and ctx.use_cache and ctx.purpose == "user":
            history = list(ctx.messages[:-1])
            if history and history[0].role == "system" and history[0].content == ctx.system:
                history = history[1:]  # the system prompt is keyed on its own; a summary
                # of earlier turns (also role "system") stays in the history key
            namespace = namespace_for(
                ctx.system,
                history,
                temperature=ctx.temperature,
                cacheable_max_temperature=cfg.cacheable_max_temperature,
            )
        if namespace is None:
            async with closing(call_next(ctx)) as stream:
                async for delta in stream:
                    yield delta
            return
        try:
            vector = await self.services.embed_prompt(ctx.prompt, ctx.request_id)
        except ProviderError as e:  # the embeddings service is down: answer uncached
            ctx.warnings.append(f"cache skipped: embedding failed ({e})")
            async with closing(call_next(ctx)) as stream:
                async for delta in stream:
                    yield delta
            return
        hit = await self._lookup(ctx, namespace, vector, floor=True)
        if hit is not None:
            self._serve(ctx, hit, hit.outcome)
            for delta in _chunks(hit.response):
                yield delta
            return
        try:
            async with closing(call_next(ctx)) as stream:
                async for delta in stream:
                    yield delta
        except ProviderError as error:
            if ctx.text_parts:
                raise
            hit = await self._lookup(ctx, namespace, vector, floor=False)
            if hit is None:
                raise
            ctx.warnings.append(f"every provider failed; served a cached answer ({error})")
            self._serve(ctx, hit, "fallback")
            for delta in _chunks(hit.response):
                yield delta
            return
        self._store(ctx, namespace, vector)

    async def _lookup(
        self, ctx: RequestContext, namespace: str, vector: np.ndarray, *, floor: bool
    ) -> CacheHit | None:
        cache = await self.services.semantic_cache()
        result = await cache.alookup(
            ctx.prompt,
            namespace,
            self.services.tier_rank(ctx.tier.id if ctx.tier else None) if floor else 0,
            self.services.clock(),
            self.services.config.cache.similarity_threshold,
            embedding=vector,
            max_output_tokens=ctx.max_tokens,
        )
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
        ctx.saved_usd = saved if saved is not None else (hit.cost_usd or ctx.saved_usd)
        ctx.finish_reason = "stop"
        ctx.error = None

    def _store(self, ctx: RequestContext, namespace: str, vector: np.ndarray) -> None:
        if ctx.usage is None or not ctx.text_parts:
            return
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
            self.services.tier_rank(ctx.tier.id if ctx.tier else None),
            ctx.request_id,
            ctx.usage,
            cost,
            ctx.finish_reason,
            self.services.clock(),
            status="ok",
        )


def _chunks(text: str) -> list[str]:
    return [text[i : i + _CHUNK] for i in range(0, len(text), _CHUNK)] or [""]
