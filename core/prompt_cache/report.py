"""The provider-cache report: hit ratio, money saved, breaks by cause, per conversation.

Built from the ledger's per-request figures (see :mod:`core.prompt_cache.service`):
what provider caching saved (reads at their discount, less write premiums) is kept
apart from the semantic cache's and context management's savings. Shown by
``centwise cache provider-report`` and the Spend view's Provider cache panel.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from core.ledger.aggregates import PROMPT_CACHE_BREAK_FIELDS
from core.money import from_pusd, usd_str
from core.prompt_cache.service import CAUSES

__all__ = [
    "BreakLine",
    "CauseLine",
    "ConversationLine",
    "ModelLine",
    "ProviderCacheReport",
    "provider_cache_report",
]

_RECENT_BREAKS = 20


class _Source(Protocol):
    def prompt_cache_sums(self, t0: float | None = None) -> dict[str, list[tuple[Any, ...]]]: ...

    def other_savings(self, t0: float | None = None) -> tuple[Decimal, Decimal]: ...


@dataclass(slots=True)
class ModelLine:
    provider: str
    model: str
    requests: int = 0
    input_tokens: int = 0
    cached_tokens: int = 0
    write_tokens: int = 0
    saved_usd: Decimal = Decimal(0)

    @property
    def hit_ratio(self) -> float:
        return self.cached_tokens / self.input_tokens if self.input_tokens else 0.0


@dataclass(slots=True)
class CauseLine:
    cause: str
    why: str
    requests: int = 0
    lost_tokens: int = 0
    lost_usd: Decimal = Decimal(0)


@dataclass(slots=True)
class ConversationLine:
    """One conversation's trade-off: tokens context management trimmed (and what that
    saved) against the cached tokens its cuts cost."""

    conversation_id: str
    requests: int = 0
    cached_tokens: int = 0
    tokens_trimmed: int = 0
    trim_saved_usd: Decimal = Decimal(0)
    context_breaks: int = 0
    cached_tokens_lost: int = 0
    lost_usd: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class BreakLine:
    request_id: str
    finished_at: float
    provider: str
    model: str
    cause: str
    where: str
    before: str
    after: str
    expected_tokens: int
    reported_tokens: int
    lost_usd: Decimal


@dataclass(slots=True)
class ProviderCacheReport:
    since: float | None
    requests: int = 0
    input_tokens: int = 0
    cached_tokens: int = 0
    write_tokens: int = 0
    expected_tokens: int = 0
    saved_usd: Decimal = Decimal(0)
    lost_usd: Decimal = Decimal(0)
    semantic_saved_usd: Decimal = Decimal(0)
    context_saved_usd: Decimal = Decimal(0)
    models: list[ModelLine] = field(default_factory=list)
    causes: list[CauseLine] = field(default_factory=list)
    conversations: list[ConversationLine] = field(default_factory=list)
    breaks: list[BreakLine] = field(default_factory=list)

    @property
    def hit_ratio(self) -> float:
        """Cached input tokens over all input tokens sent to caching providers."""
        return self.cached_tokens / self.input_tokens if self.input_tokens else 0.0

    @property
    def misses(self) -> int:
        return sum(c.requests for c in self.causes)

    def as_json(self) -> dict[str, object]:
        """The report as plain JSON values, money as decimal strings."""
        return {
            "since": self.since,
            "requests": self.requests,
            "input_tokens": self.input_tokens,
            "cached_tokens": self.cached_tokens,
            "cache_write_tokens": self.write_tokens,
            "expected_cached_tokens": self.expected_tokens,
            "hit_ratio": round(self.hit_ratio, 4),
            "saved_usd": usd_str(self.saved_usd),
            "lost_usd": usd_str(self.lost_usd),
            "other_savings": {
                "semantic_cache_usd": usd_str(self.semantic_saved_usd),
                "context_usd": usd_str(self.context_saved_usd),
            },
            "models": [
                {
                    "provider": m.provider,
                    "model": m.model,
                    "requests": m.requests,
                    "input_tokens": m.input_tokens,
                    "cached_tokens": m.cached_tokens,
                    "cache_write_tokens": m.write_tokens,
                    "hit_ratio": round(m.hit_ratio, 4),
                    "saved_usd": usd_str(m.saved_usd),
                }
                for m in self.models
            ],
            "misses_by_cause": [
                {
                    "cause": c.cause,
                    "why": c.why,
                    "requests": c.requests,
                    "lost_tokens": c.lost_tokens,
                    "lost_usd": usd_str(c.lost_usd),
                }
                for c in self.causes
            ],
            "conversations": [
                {
                    "conversation_id": c.conversation_id,
                    "requests": c.requests,
                    "cached_tokens": c.cached_tokens,
                    "tokens_trimmed": c.tokens_trimmed,
                    "trim_saved_usd": usd_str(c.trim_saved_usd),
                    "context_breaks": c.context_breaks,
                    "cached_tokens_lost": c.cached_tokens_lost,
                    "lost_usd": usd_str(c.lost_usd),
                }
                for c in self.conversations
            ],
            "recent_breaks": [
                {
                    "request_id": b.request_id,
                    "finished_at": b.finished_at,
                    "provider": b.provider,
                    "model": b.model,
                    "cause": b.cause,
                    "where": b.where,
                    "before": b.before,
                    "after": b.after,
                    "expected_cached_tokens": b.expected_tokens,
                    "reported_cached_tokens": b.reported_tokens,
                    "lost_usd": usd_str(b.lost_usd),
                }
                for b in self.breaks
            ],
        }


def where_of(detail: dict[str, Any]) -> str:
    """``messages[0] at character 120`` for a stored divergence ('' when none)."""
    found = detail.get("divergence")
    if not isinstance(found, dict):
        return ""
    return f"{found.get('part')}[{found.get('index')}] at character {found.get('offset')}"


def provider_cache_report(source: _Source, since: float | None = None) -> ProviderCacheReport:
    """The report over requests finished at or after ``since`` (epoch; all when None),
    summed by the database (only the latest breaks' details are read)."""
    sums = source.prompt_cache_sums(since)
    report = ProviderCacheReport(since)
    report.semantic_saved_usd, report.context_saved_usd = source.other_savings(since)
    (total,) = sums["total"]
    report.requests, report.input_tokens, report.cached_tokens, report.write_tokens = total[:4]
    report.expected_tokens = total[4]
    report.saved_usd, report.lost_usd = from_pusd(total[5]), from_pusd(total[6])
    report.models = [
        ModelLine(p or "", m or "", n, i, c, w, from_pusd(saved))
        for p, m, n, i, c, w, _, saved, _ in sums["models"]
    ]
    causes = [
        CauseLine(cause, CAUSES.get(cause, cause), n, tokens or 0, from_pusd(lost or 0))
        for cause, n, tokens, lost in sums["causes"]
    ]
    report.causes = sorted(causes, key=lambda c: (-c.lost_usd, -c.requests))
    report.conversations = [
        ConversationLine(cid, n, cached or 0, trimmed or 0, from_pusd(saved or 0), breaks or 0,
                         lost_tokens or 0, from_pusd(lost or 0))
        for cid, n, cached, trimmed, saved, breaks, lost_tokens, lost in sums["conversations"]
    ]  # fmt: skip
    report.breaks = [_break_line(row) for row in sums["breaks"]]
    return report


def _break_line(row: tuple[Any, ...]) -> BreakLine:
    r = dict(zip(PROMPT_CACHE_BREAK_FIELDS, row, strict=True))
    detail = json.loads(r["prompt_cache"])
    found = detail.get("divergence") or {}
    return BreakLine(
        r["request_id"], r["finished_at"], r["provider"] or "", r["model"] or "",
        r["prompt_cache_break"], where_of(detail), str(found.get("before", "")),
        str(found.get("after", "")), r["prompt_cache_expected_tokens"] or 0,
        r["cached_input_tokens"], from_pusd(r["prompt_cache_lost_pusd"]),
    )  # fmt: skip
