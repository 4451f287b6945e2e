"""Plain results and filters the ledger hands out; money is exact ``Decimal`` dollars."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal

__all__ = [
    "BREAKDOWN_KEYS",
    "BreakdownKey",
    "DayPoint",
    "GatewayKey",
    "GroupTotal",
    "LedgerFilter",
    "PeriodSpend",
    "Totals",
]

BreakdownKey = Literal[
    "tier", "model", "provider", "purpose", "cache_outcome", "status", "member", "app"
]
BREAKDOWN_KEYS: tuple[BreakdownKey, ...] = (
    "tier",
    "model",
    "provider",
    "purpose",
    "cache_outcome",
    "status",
    "member",
    "app",
)


@dataclass(frozen=True, slots=True)
class GatewayKey:
    """A virtual gateway key as stored: never the key, only its hash and first letters."""

    name: str
    prefix: str
    daily_usd: Decimal | None
    monthly_usd: Decimal | None
    created_at: float
    created_by: str | None
    revoked_at: float | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True, slots=True)
class PeriodSpend:
    """Spend and open reservations, in picodollars, for the local day and month of ``now``.

    ``spent`` sums ``cost_pusd`` over every purpose; a request of unknown price adds 0.
    """

    day: str
    month: str
    day_spent_pusd: int
    day_reserved_pusd: int
    month_spent_pusd: int
    month_reserved_pusd: int
    #: Unexpired holds now: requests in flight (in this scope).
    holds: int = 0
    #: The same for each budget scope asked for: ``(column, value, spend)`` with column
    #: ``"member"`` (a team member) or ``"app"`` (a virtual gateway key).
    scopes: tuple[tuple[str, str, PeriodSpend], ...] = ()

    @property
    def day_committed_pusd(self) -> int:
        """Spent plus reserved today: what a new reservation must fit beside."""
        return self.day_spent_pusd + self.day_reserved_pusd

    @property
    def month_committed_pusd(self) -> int:
        """Spent plus reserved this month."""
        return self.month_spent_pusd + self.month_reserved_pusd


@dataclass(frozen=True, slots=True)
class Totals:
    """Exact totals over a date range (``cost_usd`` leaves out unknown-price requests)."""

    requests: int = 0
    cost_usd: Decimal = Decimal(0)
    unknown_cost_requests: int = 0
    saved_usd: Decimal = Decimal(0)
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    reasoning_tokens: int = 0
    cache_hits: int = 0
    errors: int = 0
    refused: int = 0


@dataclass(frozen=True, slots=True)
class GroupTotal:
    """One group of :meth:`Ledger.breakdown`; ``key`` is None where the field was unset."""

    key: str | None
    totals: Totals


@dataclass(frozen=True, slots=True)
class DayPoint:
    """One local day of :meth:`Ledger.daily_series`; ``key`` is the split value, if any."""

    day: str
    key: str | None
    requests: int
    cost_usd: Decimal
    saved_usd: Decimal
    cache_hits: int
    unknown_cost_requests: int


@dataclass(frozen=True, slots=True)
class LedgerFilter:
    """Which rows :meth:`Ledger.page` and :meth:`Ledger.count` see; None means any.

    ``since``/``until`` are inclusive local dates; ``text`` is a case-insensitive
    substring of the prompt or the response; ``prompt_cached``: only requests sent to
    a provider with a prompt cache (those with a prompt-cache detail).
    """

    since: date | None = None
    until: date | None = None
    tier: str | None = None
    model: str | None = None
    cache_outcome: str | None = None
    status: str | None = None
    purpose: str | None = None
    text: str | None = None
    prompt_cached: bool = False
    member: str | None = None
    app: str | None = None
