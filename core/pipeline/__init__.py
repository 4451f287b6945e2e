"""The request pipeline: a stack of same-shaped stages over shared services.

* :mod:`core.pipeline.request`: :class:`RequestContext` (what one request carries
  through the stages), :func:`compose`, and :class:`Reply` (the stream a caller reads);
* :mod:`core.pipeline.services`: :class:`Services`, what the stages share (config,
  tokenizer, prices, ledger, budget, providers, breakers, cache, conversations);
* :mod:`core.pipeline.stack`: which stages run in which order, built in one place;
* :mod:`core.pipeline.stages`: one module per stage (record, context, route, fit,
  cache, budget, call);
* :mod:`core.pipeline.resilience`: retries, backoff and circuit breakers for the call;
* :mod:`core.pipeline.summarizer`: rolling conversation summaries, sent through the
  same pipeline as their own requests.
"""

from core.pipeline.request import Next, Reply, RequestContext, Stage, compose, new_request_id
from core.pipeline.services import Services
from core.pipeline.stack import build_pipeline, build_stages

__all__ = [
    "Next",
    "Reply",
    "RequestContext",
    "Services",
    "Stage",
    "build_pipeline",
    "build_stages",
    "compose",
    "new_request_id",
]
