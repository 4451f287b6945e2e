"""What-if replay of provider prompt caching: recorded requests re-priced with caching
off, and on with either TTL.

Each request sent to a provider with a prompt cache keeps its prefix's shape in the
ledger (block digests and running token counts, never text). Replayed in time order
against the same emulation of each provider's rule the live planner uses
(:meth:`PromptCaching.simulate`), every scenario says what the requests' input would
have cost: Anthropic with no marks, with automatic marks and a five-minute TTL, or a
one-hour TTL. OpenAI and Gemini cache by themselves, so their input prices the same
in every scenario (only the key, which keeps hits on one cache, changes with "off").
Read and written tokens come from our counts, scaled to the tokens the provider
reported for the request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from core.accounting.prices import ModelPrice, cost_of
from core.content.prefix import Block, Prefix
from core.money import usd_str
from core.prompt_cache.service import PromptCaching
from core.types import RequestRecord, Usage

__all__ = [
    "SCENARIOS",
    "CacheScenario",
    "PromptCacheWhatIf",
    "prefix_from_detail",
    "replay_prompt_cache",
    "scenario_name",
]


def scenario_name(mode: str, ttl: str) -> str:
    """The scenario a ``[prompt_cache]`` mode and TTL stand for."""
    return next(n for n, m, t in SCENARIOS if m == mode and (m == "off" or t == ttl))


#: (name, mode, ttl) of each scenario replayed.
SCENARIOS: tuple[tuple[str, str, str], ...] = (
    ("off", "off", "5m"),
    ("auto, 5-minute TTL", "auto", "5m"),
    ("auto, 1-hour TTL", "auto", "1h"),
)
_ROLES = {"s": "system", "u": "user", "a": "assistant", "t": "tool"}


@dataclass(slots=True)
class CacheScenario:
    name: str
    mode: str
    ttl: str
    input_usd: Decimal = Decimal(0)
    cached_tokens: int = 0
    write_tokens: int = 0


@dataclass(slots=True)
class PromptCacheWhatIf:
    """Recorded input cost against each scenario's, over the same requests."""

    requests: int = 0
    input_tokens: int = 0
    recorded_input_usd: Decimal = Decimal(0)
    recorded_cached_tokens: int = 0
    scenarios: list[CacheScenario] = field(default_factory=list)
    #: Requests left out: their price is unknown, or they predate the prefix record.
    skipped: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "input_tokens": self.input_tokens,
            "recorded_input_usd": usd_str(self.recorded_input_usd),
            "recorded_cached_tokens": self.recorded_cached_tokens,
            "skipped": self.skipped,
            "scenarios": [
                {
                    "name": s.name,
                    "mode": s.mode,
                    "ttl": s.ttl,
                    "input_usd": usd_str(s.input_usd),
                    "cached_tokens": s.cached_tokens,
                    "cache_write_tokens": s.write_tokens,
                }
                for s in self.scenarios
            ],
        }


def prefix_from_detail(detail: dict[str, Any]) -> Prefix | None:
    """The prefix shape a record's ``prompt_cache`` detail kept (None: none kept)."""
    blocks = detail.get("blocks")
    if not isinstance(blocks, dict):
        return None
    chain, running, labels = blocks.get("h"), blocks.get("t"), blocks.get("l")
    if not (isinstance(chain, list) and isinstance(running, list) and isinstance(labels, list)):
        return None
    if not len(chain) == len(running) == len(labels):
        return None
    out: list[Block] = []
    before, n_messages = 0, 0
    for label, upto in zip(labels, running, strict=True):
        text = str(label)
        if text.startswith("tools["):
            out.append(Block("tools", int(text[6:-1]), "tool", "", int(upto) - before))
        else:
            out.append(
                Block("messages", n_messages, _ROLES.get(text, "user"), "", int(upto) - before)
            )
            n_messages += 1
        before = int(upto)
    return Prefix(tuple(out), tuple(str(c) for c in chain), tuple(int(t) for t in running))


def replay_prompt_cache(
    records: Iterable[RequestRecord],
    price_for: Callable[[str, str], ModelPrice | None],
    kind_of: Callable[[str], str],
) -> PromptCacheWhatIf:
    """Re-price the input of ``records`` (oldest first) under each scenario."""
    out = PromptCacheWhatIf()
    clock = [0.0]
    sims = [
        (
            CacheScenario(name, mode, ttl),
            PromptCaching(mode, ttl, "conversation", lambda: clock[0], price_for, kind_of),
        )
        for name, mode, ttl in SCENARIOS
    ]
    out.scenarios = [s for s, _ in sims]
    for rec in records:
        detail = rec.prompt_cache
        prefix = prefix_from_detail(detail) if detail else None
        if prefix is None or rec.provider is None or rec.model is None:
            continue
        price = price_for(rec.provider, rec.model)
        u = rec.usage
        recorded = _input_cost(u, price)
        if recorded is None or price is None or not prefix.tokens:
            out.skipped += 1
            continue
        out.requests += 1
        out.input_tokens += u.input_tokens
        out.recorded_input_usd += recorded
        out.recorded_cached_tokens += u.cached_input_tokens
        group = str(detail.get("group") or "client:default")
        for scenario, sim in sims:
            clock[0] = rec.started_at
            read, written = sim.simulate(
                prefix, group=group, provider=rec.provider, model=rec.model, at=rec.started_at
            )
            read = read * u.input_tokens // prefix.tokens
            written = min(written * u.input_tokens // prefix.tokens, u.input_tokens - read)
            one_hour = written if scenario.ttl == "1h" else 0
            usage = Usage(u.input_tokens, 0, read, written, 0, one_hour)
            cost = cost_of(usage, price)
            assert cost is not None
            scenario.input_usd += cost
            scenario.cached_tokens += read
            scenario.write_tokens += written
    return out


def _input_cost(u: Usage, price: ModelPrice | None) -> Decimal | None:
    if price is None:
        return None
    usage = Usage(
        u.input_tokens, 0, u.cached_input_tokens, u.cache_write_tokens, 0, u.cache_write_1h_tokens
    )
    return cost_of(usage, price)
