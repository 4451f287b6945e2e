"""The stack: which stages run, in which order, composed in one place.

Record is outermost so that every path leaves a ledger row. Context runs before
routing (it needs no model), context-fit right after it (it needs the model's
window). The cache is consulted *before* the budget: a cached answer costs nothing,
so an exhausted budget never refuses it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from core.pipeline.cache_verify import CacheVerifier
from core.pipeline.request import Next, RequestContext, Stage, compose
from core.pipeline.services import Services
from core.pipeline.stages.budget import BudgetStage
from core.pipeline.stages.cache import CacheStage
from core.pipeline.stages.call import CallStage
from core.pipeline.stages.context import ContextStage
from core.pipeline.stages.fit import ContextFitStage
from core.pipeline.stages.record import RecordStage
from core.pipeline.stages.route import RouteStage
from core.pipeline.summarizer import Summarizer
from core.routing.router import TierRouter
from core.types import Delta

__all__ = ["build_pipeline", "build_stages"]


def build_stages(
    services: Services, summarizer: Summarizer, cache_verifier: CacheVerifier | None = None
) -> list[Stage]:
    """The pipeline, outermost first. Adding a stage is one line here."""
    return [
        RecordStage(services),
        ContextStage(services, summarizer),
        RouteStage(TierRouter(services.config), services),
        ContextFitStage(services),
        CacheStage(services, cache_verifier),
        BudgetStage(services.budget),
        CallStage(services),
    ]


def build_pipeline(services: Services) -> Next:
    """The composed pipeline. Summary and cache-verification requests go through this
    same pipeline (their cost is recorded and budgeted like any other), so the
    summarizer and the yes/no cache verifier are handed it."""
    app: Next | None = None

    def pipeline(ctx: RequestContext) -> AsyncIterator[Delta]:
        assert app is not None  # set below, before any request can start
        return app(ctx)

    stages = build_stages(
        services, Summarizer(services, pipeline), CacheVerifier(services, pipeline)
    )
    app = compose(stages)
    return app
