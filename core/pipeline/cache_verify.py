"""The yes/no cache verifier: a cheap tier asked whether two prompts ask the same.

Used for a candidate in the pair verifier's grey zone (``[cache] verify_tier``). The
question goes through the whole pipeline as its own request with purpose
``cache_verify`` and the cache off, so its cost is recorded and budgeted like any
other; the cache stage subtracts it from the savings of the request it served.
Anything but a clear "yes" counts as "no": a wrong refusal costs one call, a wrong
acceptance serves a wrong answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.cache.entries import VerifierVerdict
from core.errors import CentwiseError
from core.pipeline.request import Next, RequestContext, new_request_id

if TYPE_CHECKING:
    from core.pipeline.services import Services

__all__ = ["VERIFY_SYSTEM", "CacheVerifier", "verify_prompt"]

VERIFY_SYSTEM = (
    "You check a response cache. Two user requests are shown. Answer YES if one answer"
    " would fully and correctly serve both (same task, same facts, numbers, names,"
    " direction, scope, audience, format and language), otherwise NO. Reply with YES or"
    " NO only."
)
_MAX_TOKENS = 3


def verify_prompt(new_prompt: str, cached_prompt: str) -> str:
    return f"Request A:\n{new_prompt}\n\nRequest B:\n{cached_prompt}\n\nSame answer for both?"


class CacheVerifier:
    """``await verifier(new, cached, cached_response)`` -> :class:`VerifierVerdict`."""

    def __init__(self, services: Services, pipeline: Next) -> None:
        self.services = services
        self.pipeline = pipeline

    async def __call__(
        self, new_prompt: str, cached_prompt: str, cached_response: str
    ) -> VerifierVerdict:
        tier = self.services.config.cache.verify_tier
        assert tier is not None  # the cache stage asks only when a tier is set
        ctx = RequestContext(
            request_id=new_request_id(),
            prompt=verify_prompt(new_prompt, cached_prompt),
            started_at=self.services.clock(),
            system=VERIFY_SYSTEM,
            requested_model=tier,
            max_output_tokens=_MAX_TOKENS,
            temperature=0.0,
            purpose="cache_verify",
            use_cache=False,
        )
        try:
            async for _ in self.pipeline(ctx):
                pass
        except CentwiseError:
            pass  # no answer is a "no"; the failed call is in the ledger
        record = ctx.record
        cost = record.cost_usd if record is not None and record.cost_known else None
        same = ctx.text.strip().lower().startswith("yes")
        return VerifierVerdict(same=same, cost_usd=cost, usage=ctx.usage)
