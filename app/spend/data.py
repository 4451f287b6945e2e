"""What the spend dashboard plots, read from the engine in one off-thread call.

Plain Python (no Qt) so it is cheap to test; money becomes float only here, for
plotting, after the exact sums are done by the ledger.
"""

from __future__ import annotations

import calendar
import math
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from core.context.window import SavingsBreakdown
from core.engine import Engine, SpendSummary
from core.ledger.models import GroupTotal
from core.prompt_cache.report import ProviderCacheReport
from core.quality.feedback import TierQuality

__all__ = ["RANGES", "DashboardData", "load_dashboard_data", "range_start"]

# label -> days back from today (None: everything)
RANGES: dict[str, int | None] = {"Today": 0, "7 days": 6, "30 days": 29, "All": None}
OTHER_TIER = "other"


@dataclass(slots=True)
class DashboardData:
    range_label: str
    summary: SpendSummary
    day_stamps: list[float] = field(default_factory=list)  # local midnight of each day
    tier_costs: dict[str, list[float]] = field(default_factory=dict)
    requests: list[int] = field(default_factory=list)
    saved: list[float] = field(default_factory=list)
    hit_rate_pct: list[float] = field(default_factory=list)  # NaN on days without requests
    month_days: list[int] = field(default_factory=list)
    month_cumulative: list[float] = field(default_factory=list)
    days_in_month: int = 31
    today_day: int = 1
    savings: SavingsBreakdown | None = None  # by source, over the range
    quality: list[TierQuality] = field(default_factory=list)  # per tier, all time
    provider_cache: ProviderCacheReport | None = None  # over the range
    members: list[GroupTotal] = field(default_factory=list)  # team members, over the range
    apps: list[GroupTotal] = field(default_factory=list)  # gateway keys, over the range


def range_start(label: str, today: date) -> date | None:
    back = RANGES[label]
    return None if back is None else today - timedelta(days=back)


def load_dashboard_data(
    engine: Engine, label: str, tier_ids: list[str], now: float | None = None
) -> DashboardData:
    """Per-day spend by tier, requests and cache savings over the range, the month,
    savings by source, quality per tier, the provider-cache report and spend per team
    member and per app (gateway key)."""
    today = date.fromtimestamp(time.time() if now is None else now)
    since = range_start(label, today)
    data = DashboardData(label, engine.spend_summary(since))
    by_tier = engine.daily_series(since, today, by="tier")
    overall = engine.daily_series(since, today)
    first = since
    if first is None:
        first = min((date.fromisoformat(p.day) for p in overall), default=today)
    days = [first + timedelta(days=i) for i in range((today - first).days + 1)]
    index = {d.isoformat(): i for i, d in enumerate(days)}
    data.day_stamps = [datetime(d.year, d.month, d.day).timestamp() for d in days]
    keys = [*tier_ids, OTHER_TIER]
    data.tier_costs = {k: [0.0] * len(days) for k in keys}
    for p in by_tier:
        key = p.key if p.key in tier_ids else OTHER_TIER
        if p.day in index:
            data.tier_costs[key][index[p.day]] += float(p.cost_usd)
    data.requests = [0] * len(days)
    data.saved = [0.0] * len(days)
    hits = [0] * len(days)
    for p in overall:
        if p.day in index:
            i = index[p.day]
            data.requests[i] += p.requests
            data.saved[i] += float(p.saved_usd)
            hits[i] += p.cache_hits
    data.hit_rate_pct = [
        100.0 * h / n if n else math.nan for h, n in zip(hits, data.requests, strict=True)
    ]
    _fill_month(engine, data, today)
    data.savings = engine.savings_breakdown(since)
    data.quality = engine.tier_quality()
    data.provider_cache = engine.provider_cache_report(since)
    data.members = engine.breakdown("member", since)
    data.apps = engine.breakdown("app", since)
    return data


def _fill_month(engine: Engine, data: DashboardData, today: date) -> None:
    start = today.replace(day=1)
    per_day = {p.day: float(p.cost_usd) for p in engine.daily_series(start, today)}
    total = 0.0
    data.month_days, data.month_cumulative = [0], [0.0]
    for n in range(1, today.day + 1):
        total += per_day.get(start.replace(day=n).isoformat(), 0.0)
        data.month_days.append(n)
        data.month_cumulative.append(total)
    data.days_in_month = calendar.monthrange(today.year, today.month)[1]
    data.today_day = today.day
