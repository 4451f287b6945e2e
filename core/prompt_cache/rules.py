"""Each provider's prompt-caching rule, as published, and what it costs.

* **Anthropic** caches only prefixes that end at a ``cache_control`` mark (at most
  four per request), when the prefix reaches the model's minimum (1,024 tokens for
  most models, more for some: the price table's ``prompt_cache_min_tokens``). A read
  costs a tenth of the input price; a write 1.25× it for the five-minute cache, 2× for
  the one-hour one (the table's ``cache_read_input_token_cost``,
  ``cache_creation_input_token_cost`` and ``…_above_1hr``). A read looks back up to
  20 blocks before each mark.
* **OpenAI** (and OpenAI-compatible servers that follow it) caches every prompt of
  1,024 tokens or more by itself, in 128-token steps; reads cost 50-90% less
  depending on the model; there is no write premium. ``prompt_cache_key`` keeps
  requests that share it on the same cache.
* **Gemini** caches implicitly (1,024 tokens for Flash models, 2,048+ for Pro), reads
  at the table's cache-read rate, no write premium.

Ollama has no prompt cache. The Simulator, which stands in for the real model, caches
as that model's vendor does (see :class:`core.providers.simulator.SimulatorProvider`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from core.accounting.prices import ModelPrice
from core.content.prompt_cache import AUTOMATIC_STEP, vendor_of

__all__ = ["CacheRule", "rule_for", "ttl_seconds"]

_DEFAULT_MIN = 1024
_GEMINI_PRO_MIN = 2048
#: How long an automatic (OpenAI, Gemini) cache entry is expected to live unused:
#: OpenAI says five to ten minutes of inactivity; the lower figure is assumed.
_AUTOMATIC_TTL = 300.0

Kind = Literal["marks", "automatic"]


def ttl_seconds(ttl: str) -> float:
    """``"5m"`` or ``"1h"`` in seconds."""
    return 3600.0 if ttl == "1h" else 300.0


@dataclass(frozen=True, slots=True)
class CacheRule:
    """How one provider/model caches prompts, with its rates in dollars per token."""

    provider_kind: str
    model: str
    kind: Kind
    min_tokens: int
    ttl: float
    input_rate: Decimal
    read_rate: Decimal
    write_rate: Decimal
    write_1h_rate: Decimal

    @property
    def read_discount(self) -> Decimal:
        """What a cached token saves against an uncached one."""
        return self.input_rate - self.read_rate

    def write_premium(self, one_hour: bool = False) -> Decimal:
        """What writing a token to the cache costs above sending it uncached."""
        rate = self.write_1h_rate if one_hour else self.write_rate
        return rate - self.input_rate

    def cacheable(self, tokens: int) -> int:
        """The part of a ``tokens``-long shared prefix the provider serves from cache."""
        if tokens < self.min_tokens:
            return 0
        if self.kind == "automatic" and self.provider_kind != "gemini":
            return self.min_tokens + (tokens - self.min_tokens) // AUTOMATIC_STEP * AUTOMATIC_STEP
        return tokens


def rule_for(
    provider_kind: str, model: str, price: ModelPrice | None, ttl: str
) -> CacheRule | None:
    """The caching rule of ``model`` at a ``provider_kind`` provider; None when the
    provider keeps no prompt cache or the table gives no cache-read price (nothing to
    earn, and nothing to report)."""
    if price is None or price.input_cost_per_token is None:
        return None
    if provider_kind == "simulator":
        provider_kind = vendor_of(model)
    read = price.cache_read_input_token_cost
    if read is None or provider_kind not in ("anthropic", "openai", "openai-compatible", "gemini"):
        return None
    inp = price.input_cost_per_token
    min_tokens = price.prompt_cache_min_tokens
    if min_tokens is None:
        pro = provider_kind == "gemini" and "pro" in model.lower()
        min_tokens = _GEMINI_PRO_MIN if pro else _DEFAULT_MIN
    if provider_kind == "anthropic":
        write = price.cache_creation_input_token_cost or inp * Decimal("1.25")
        return CacheRule(
            provider_kind, model, "marks", min_tokens, ttl_seconds(ttl), inp, read, write,
            price.write_1h_rate or inp * 2,
        )  # fmt: skip
    return CacheRule(
        provider_kind, model, "automatic", min_tokens, _AUTOMATIC_TTL, inp, read, inp, inp
    )
