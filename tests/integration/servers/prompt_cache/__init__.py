"""Each provider's prompt-caching rule, played by the loopback servers.

The servers count a prompt's tokens with tiktoken's ``cl100k_base`` (from the same
offline rank file the engine reads, tokenized here on its own) and keep their own
cache, so what a test or benchmark sees cached is measured, not assumed:

* **Anthropic** (:class:`AnthropicCache`): only prefixes (tools → system → messages)
  ending at a block marked ``cache_control: {"type": "ephemeral"}`` (``ttl`` ``5m`` or
  ``1h``) are cached, if at least the model's minimum long; each mark looks for a hit at
  its own block and up to 20 blocks before it. The longest hit is read, the marked
  prefix beyond it written; an entry lives for its TTL since it was last used.
* **OpenAI** (:class:`OpenAICache`): every prompt of at least 1,024 tokens is cached;
  a later prompt with the same model and ``prompt_cache_key`` reads the longest shared
  token prefix, in 128-token steps from 1,024; entries expire after 5 minutes unused.
* **Gemini** (:class:`GeminiCache`): implicit caching of the prefix (tools → system
  instruction → contents), at block edges, when it is at least 1,024 tokens (4,096 on
  Pro models) and was seen within the TTL.

Each emulator records a :class:`CacheEvent` per request in ``events`` (``last``,
``totals()``). Time is
``clock()`` (``time.monotonic`` unless given; a :class:`FakeClock` passes a TTL without
sleeping). :func:`serve_caching` and :func:`caching_servers` start servers with caching
on; dialects take an emulator as ``prompt_cache`` (``AnthropicDialect(prompt_cache=True)``).
"""

from tests.integration.servers.prompt_cache._shared import (
    CacheEvent,
    CacheTotals,
    FakeClock,
    Mark,
    PromptCacheEmulator,
    count_tokens,
)
from tests.integration.servers.prompt_cache.anthropic import (
    ANTHROPIC_MINIMUMS,
    AnthropicCache,
    anthropic_min_tokens,
)
from tests.integration.servers.prompt_cache.gemini import GeminiCache, gemini_min_tokens
from tests.integration.servers.prompt_cache.openai import OpenAICache
from tests.integration.servers.prompt_cache.servers import (
    CachingServers,
    caching_servers,
    serve_caching,
)

__all__ = [
    "ANTHROPIC_MINIMUMS",
    "AnthropicCache",
    "CacheEvent",
    "CacheTotals",
    "CachingServers",
    "FakeClock",
    "GeminiCache",
    "Mark",
    "OpenAICache",
    "PromptCacheEmulator",
    "anthropic_min_tokens",
    "caching_servers",
    "count_tokens",
    "gemini_min_tokens",
    "serve_caching",
]
