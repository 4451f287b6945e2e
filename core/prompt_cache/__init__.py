"""Provider prompt caching: earn the providers' cached-input discounts, and show where
they break.

* :mod:`core.prompt_cache.rules`: each provider's caching rule and rates;
* :mod:`core.content.prefix` (below, shared with the Simulator): a request as
  ordered, chained-digest blocks; :mod:`core.content.prompt_cache`: the emulated
  provider cache (what it should hold, until when);
* :mod:`core.prompt_cache.odds`: how often a conversation comes back within the TTL;
* :mod:`core.prompt_cache.service`: the per-request plan (Anthropic breakpoints,
  OpenAI ``prompt_cache_key``) and the break detector;
* :mod:`core.prompt_cache.report`: the provider-cache report over the ledger;
* :mod:`core.prompt_cache.replay`: re-pricing recorded requests with caching on or off.
"""

from core.content.prefix import Block, Divergence, Prefix, divergence, prefix_of
from core.prompt_cache.rules import CacheRule, rule_for
from core.prompt_cache.service import (
    CAUSES,
    Observation,
    Prepared,
    PromptCaching,
    WarmState,
    worth_writing,
)

__all__ = [
    "CAUSES",
    "Block",
    "CacheRule",
    "Divergence",
    "Observation",
    "Prefix",
    "Prepared",
    "PromptCaching",
    "WarmState",
    "divergence",
    "prefix_of",
    "rule_for",
    "worth_writing",
]
