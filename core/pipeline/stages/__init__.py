"""One module per stage, each a class with one async-generator ``__call__(ctx, call_next)``.

Outermost first, as :func:`core.pipeline.stack.build_stages` composes them:
:mod:`~core.pipeline.stages.record` (a ledger row on every path),
:mod:`~core.pipeline.stages.context` (history before routing),
:mod:`~core.pipeline.stages.route` (the tier and why),
:mod:`~core.pipeline.stages.fit` (the model's window),
:mod:`~core.pipeline.stages.cache` (the semantic cache),
:mod:`~core.pipeline.stages.budget` (caps and reservations),
:mod:`~core.pipeline.stages.call` (providers, retries, breakers, fallbacks).
"""

from core.pipeline.stages.budget import BudgetStage
from core.pipeline.stages.cache import CacheStage
from core.pipeline.stages.call import CallStage
from core.pipeline.stages.context import ContextStage
from core.pipeline.stages.fit import ContextFitStage
from core.pipeline.stages.record import RecordStage
from core.pipeline.stages.route import RouteStage

__all__ = [
    "BudgetStage",
    "CacheStage",
    "CallStage",
    "ContextFitStage",
    "ContextStage",
    "RecordStage",
    "RouteStage",
]
