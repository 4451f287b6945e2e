"""What a replay found, as plain data, and its text and JSON forms.

Money is exact :class:`~decimal.Decimal` throughout; JSON carries it as decimal
strings, as everywhere in Centwise. Savings are positive when the other configuration
spends less.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from core.money import format_usd, usd_str
from core.prompt_cache.replay import PromptCacheWhatIf
from core.replay.quality import QualityEstimate

__all__ = [
    "BudgetDay",
    "CacheReplay",
    "ReplayReport",
    "Savings",
    "SpendRow",
    "render_text",
    "report_json",
]


@dataclass(frozen=True, slots=True)
class SpendRow:
    """One day, tier, model or purpose: recorded against projected."""

    key: str
    actual_requests: int
    actual_usd: Decimal
    projected_requests: int
    projected_usd: Decimal


@dataclass(frozen=True, slots=True)
class Savings:
    """Dollars each lever saves, applied in this order (models and prices, routing,
    context, cache); their sum is actual minus projected spend."""

    models_prices_usd: Decimal
    routing_usd: Decimal
    context_usd: Decimal
    cache_usd: Decimal

    @property
    def total_usd(self) -> Decimal:
        return self.models_prices_usd + self.routing_usd + self.context_usd + self.cache_usd


@dataclass(frozen=True, slots=True)
class CacheReplay:
    simulated: bool  # False: [cache] unchanged, the recorded hits are kept
    recorded_hits: int
    projected_hits: int
    exact_hits: int
    semantic_hits: int
    guard_rejections: int
    recorded_saved_usd: Decimal
    projected_saved_usd: Decimal
    stored_embeddings: int  # vectors found in cache.sqlite
    embedded: int  # prompts embedded for this replay (no stored vector)
    without_vector: int  # looked up by exact text only


@dataclass(frozen=True, slots=True)
class BudgetDay:
    day: str
    budget: str  # daily | monthly
    refused: int
    refused_usd: Decimal


@dataclass(frozen=True, slots=True)
class ReplayReport:
    """The whole answer to "what would this history have cost under that config?"."""

    source: str
    since: date | None
    changed: tuple[str, ...]  # config sections that differ
    requests: int  # the user's requests replayed
    carried: int  # user requests carried at their recorded cost (errors, refusals)
    actual_usd: Decimal
    projected_usd: Decimal
    unknown_actual: int
    unknown_projected: int
    estimated: int  # requests whose projected tokens are estimates (another model, counted)
    by_day: list[SpendRow]
    by_tier: list[SpendRow]
    by_model: list[SpendRow]
    savings: Savings
    cache: CacheReplay
    budgets: list[BudgetDay]
    other_purposes: list[SpendRow]  # judge, eval, context, embedding: not replayed
    quality: QualityEstimate | None
    quality_note: str | None
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    #: The providers' prompt caching replayed off, and on with either TTL (None: the
    #: history came from a file, which keeps no prefixes).
    prompt_cache: PromptCacheWhatIf | None = None
    #: The scenario the other configuration's ``[prompt_cache]`` is.
    prompt_cache_choice: str | None = None

    @property
    def change_usd(self) -> Decimal:
        return self.projected_usd - self.actual_usd


def _row(r: SpendRow) -> dict[str, Any]:
    return {
        "key": r.key,
        "actual_requests": r.actual_requests,
        "actual_usd": usd_str(r.actual_usd),
        "projected_requests": r.projected_requests,
        "projected_usd": usd_str(r.projected_usd),
    }


def _budget(b: BudgetDay) -> dict[str, Any]:
    return {
        "day": b.day,
        "budget": b.budget,
        "refused": b.refused,
        "refused_usd": usd_str(b.refused_usd),
    }


def report_json(r: ReplayReport) -> dict[str, Any]:
    """The report as JSON-ready data (money as decimal strings)."""
    s, c, q = r.savings, r.cache, r.quality
    return {
        "source": r.source,
        "since": r.since.isoformat() if r.since else None,
        "changed": list(r.changed),
        "requests": r.requests,
        "carried": r.carried,
        "actual_usd": usd_str(r.actual_usd),
        "projected_usd": usd_str(r.projected_usd),
        "change_usd": usd_str(r.change_usd),
        "unknown_actual": r.unknown_actual,
        "unknown_projected": r.unknown_projected,
        "estimated": r.estimated,
        "savings": {
            "models_prices_usd": usd_str(s.models_prices_usd),
            "routing_usd": usd_str(s.routing_usd),
            "context_usd": usd_str(s.context_usd),
            "cache_usd": usd_str(s.cache_usd),
            "total_usd": usd_str(s.total_usd),
        },
        "cache": {
            "simulated": c.simulated,
            "recorded_hits": c.recorded_hits,
            "projected_hits": c.projected_hits,
            "exact_hits": c.exact_hits,
            "semantic_hits": c.semantic_hits,
            "guard_rejections": c.guard_rejections,
            "recorded_saved_usd": usd_str(c.recorded_saved_usd),
            "projected_saved_usd": usd_str(c.projected_saved_usd),
            "stored_embeddings": c.stored_embeddings,
            "embedded": c.embedded,
            "without_vector": c.without_vector,
        },
        "by_day": [_row(x) for x in r.by_day],
        "by_tier": [_row(x) for x in r.by_tier],
        "by_model": [_row(x) for x in r.by_model],
        "budgets": [_budget(b) for b in r.budgets],
        "other_purposes": [_row(x) for x in r.other_purposes],
        "quality": None
        if q is None
        else {
            "basis": q.basis,
            "retention": round(q.retention, 4),
            "low": round(q.low, 4),
            "high": round(q.high, 4),
            "samples": q.samples,
        },
        "quality_note": r.quality_note,
        "notes": r.notes,
        "seconds": round(r.seconds, 3),
        "prompt_cache": None
        if r.prompt_cache is None
        else {**r.prompt_cache.as_json(), "chosen": r.prompt_cache_choice},
    }


def _usd(v: Decimal) -> str:
    return format_usd(v)


def _table(title: str, rows: list[SpendRow]) -> list[str]:
    if not rows:
        return []
    width = max(len(title), *(len(x.key) for x in rows))
    out = [f"{title:<{width}}  {'actual':>14} {'n':>7}  {'projected':>14} {'n':>7}"]
    for x in rows:
        out.append(
            f"{x.key:<{width}}  {_usd(x.actual_usd):>14} {x.actual_requests:>7}"
            f"  {_usd(x.projected_usd):>14} {x.projected_requests:>7}"
        )
    return [*out, ""]


def render_text(r: ReplayReport) -> str:
    """The report for a terminal."""
    s, c = r.savings, r.cache
    changed = ", ".join(r.changed) if r.changed else "nothing (identical configuration)"
    lines = [
        f"Replay of {r.requests:,} requests from {r.source}"
        + (f" since {r.since.isoformat()}" if r.since else "")
        + f" ({r.seconds:.2f} s, offline, no provider called)",
        f"Changed: {changed}",
        "",
        f"Actual spend     {_usd(r.actual_usd):>14}",
        f"Projected spend  {_usd(r.projected_usd):>14}   ({_usd(r.change_usd)} change)",
        "",
        "Savings by lever (positive: the other configuration spends less)",
        f"  models & prices {_usd(s.models_prices_usd):>14}",
        f"  routing         {_usd(s.routing_usd):>14}",
        f"  context         {_usd(s.context_usd):>14}",
        f"  cache           {_usd(s.cache_usd):>14}",
        "",
        f"Cache: {'re-run' if c.simulated else 'unchanged, recorded hits kept'}; "
        f"{c.recorded_hits:,} hits recorded, {c.projected_hits:,} projected "
        f"({c.exact_hits:,} exact, {c.semantic_hits:,} semantic, "
        f"{c.guard_rejections:,} refused by the guard); saved {_usd(c.projected_saved_usd)} "
        f"(recorded {_usd(c.recorded_saved_usd)})",
    ]
    if c.simulated:
        lines.append(
            f"  embeddings: {c.stored_embeddings:,} stored, {c.embedded:,} embedded now, "
            f"{c.without_vector:,} matched by exact text only"
        )
    if r.estimated:
        lines.append(
            f"Projected tokens are estimates on {r.estimated:,} requests "
            "(re-counted for another model, or never reported)."
        )
    lines.append("")
    lines += _table("day", r.by_day) + _table("tier", r.by_tier) + _table("model", r.by_model)
    if r.budgets:
        lines.append("Budgets of the other configuration would have refused:")
        lines += [
            f"  {b.day} ({b.budget}): {b.refused:,} requests, {_usd(b.refused_usd)}"
            for b in r.budgets
        ]
    else:
        lines.append("Budgets of the other configuration would have refused nothing.")
    q = r.quality
    if q is not None:
        lines.append(
            f"Expected quality retention ({q.basis}): {q.retention:.1%} "
            f"(95% interval {q.low:.1%} to {q.high:.1%}; samples "
            + ", ".join(f"{t} {n}" for t, n in q.samples.items())
            + ")"
        )
    elif r.quality_note:
        lines.append(f"Quality retention: not estimated ({r.quality_note}).")
    pc = r.prompt_cache
    if pc is not None and pc.requests:
        lines.append("")
        lines.append(
            f"Provider prompt caching, input of {pc.requests:,} requests"
            f" (recorded {_usd(pc.recorded_input_usd)}):"
        )
        for sc in pc.scenarios:
            mark = "  <- this configuration" if sc.name == r.prompt_cache_choice else ""
            lines.append(
                f"  {sc.name:<20} {_usd(sc.input_usd):>14}  {sc.cached_tokens:>10,} cached{mark}"
            )
    if r.other_purposes:
        lines.append("")
        lines += _table("not replayed", r.other_purposes)
    lines += [f"Note: {n}" for n in r.notes]
    return "\n".join(lines).rstrip() + "\n"
