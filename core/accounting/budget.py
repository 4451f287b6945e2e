"""Token budgets with hard caps: the seed's TokenBudgetMiddleware, done properly.

Per request, a prompt over ``max_input_tokens`` is refused before any call and
``max_tokens`` is always sent. For the daily and monthly budgets the projected worst
case (input plus maximum output at the chosen model's prices) is *reserved* in the
ledger before the call, inside one ``BEGIN IMMEDIATE`` transaction that also reads
what is spent and reserved, and settled to the actual cost when the request is
recorded. Concurrent requests, in this process or another sharing the ledger,
therefore cannot overshoot a hard limit.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from core.config import BudgetConfig, ObservabilityConfig
from core.errors import BudgetExceededError, InputTokenLimitError
from core.events import BUDGET_ALERT, EventHub
from core.ledger import Ledger, PeriodSpend
from core.money import format_usd, from_pusd, to_pusd

__all__ = ["BudgetAlert", "BudgetPolicy", "Forecast"]


@dataclass(frozen=True, slots=True)
class BudgetAlert:
    budget: str  # daily | monthly | daily_cost_alert
    period: str  # e.g. 2026-11-27 or 2026-11
    threshold: float
    spent_usd: Decimal
    limit_usd: Decimal

    @property
    def message(self) -> str:
        pct = round(self.threshold * 100)
        return (
            f"{self.budget} budget for {self.period} has reached {pct}%: "
            f"{format_usd(self.spent_usd)} of {format_usd(self.limit_usd)}"
        )


@dataclass(frozen=True, slots=True)
class Forecast:
    """Projected spend at the end of the current day and month, and how it was made."""

    day_spent_usd: Decimal
    day_projected_usd: Decimal
    month_spent_usd: Decimal
    month_projected_usd: Decimal
    method: str


class BudgetPolicy:
    """Applies ``[budget]`` (and the ``[observability]`` daily cost alert) to requests."""

    def __init__(
        self,
        config: BudgetConfig,
        observability: ObservabilityConfig,
        ledger: Ledger,
        events: EventHub,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.observability = observability
        self.ledger = ledger
        self.events = events
        self.clock = clock

    def check_input(self, tokens: int, *, request_id: str, model: str | None) -> None:
        limit = self.config.max_input_tokens
        if tokens > limit:
            raise InputTokenLimitError(
                f"the prompt is {tokens:,} tokens, over the {limit:,}-token input limit "
                f"([budget].max_input_tokens); shorten it or raise the limit",
                request_id=request_id,
                model=model,
            )

    def max_tokens(self, requested: int | None, model_max: int | None) -> int:
        """The output cap sent to the provider: never unbounded, never over the config."""
        cap = self.config.max_output_tokens
        value = min(requested, cap) if requested else cap
        return min(value, model_max) if model_max else value

    @property
    def has_periodic_limits(self) -> bool:
        return self.config.daily_usd is not None or self.config.monthly_usd is not None

    def reserve(self, request_id: str, worst_case: Decimal | None, model: str | None) -> str | None:
        """Reserve ``worst_case`` against the periodic budgets, or refuse the request."""
        if not self.has_periodic_limits:
            return None
        amount = to_pusd(worst_case) if worst_case is not None else 0

        def check(spend: PeriodSpend) -> None:
            if self.config.hard_limit:
                self._refuse_if_over(spend, amount, request_id, model)

        return self.ledger.reserve(request_id, amount, self.clock(), check)

    def _refuse_if_over(self, spend: PeriodSpend, amount: int, rid: str, model: str | None) -> None:
        for name, limit, spent, reserved in (
            ("daily", self.config.daily_usd, spend.day_spent_pusd, spend.day_reserved_pusd),
            ("monthly", self.config.monthly_usd, spend.month_spent_pusd, spend.month_reserved_pusd),
        ):
            if limit is None:
                continue
            if spent + reserved + amount > to_pusd(limit):
                spent_usd = from_pusd(spent)
                raise BudgetExceededError(
                    f"refused by the {name} budget: {format_usd(spent_usd)} spent"
                    f"{f' and {format_usd(from_pusd(reserved))} reserved' if reserved else ''}"
                    f" of the {format_usd(limit)} limit; this request could cost up to "
                    f"{format_usd(from_pusd(amount))}",
                    budget=name,
                    spent_usd=spent_usd,
                    limit_usd=limit,
                    request_id=rid,
                    model=model,
                )

    def after_record(self) -> list[BudgetAlert]:
        """Emit each threshold alert once per period (claimed in the ledger, so once
        across processes too)."""
        spend = self.ledger.period_spend(self.clock())
        fired = []
        candidates = [
            ("daily", spend.day, self.config.daily_usd, spend.day_spent_pusd),
            ("monthly", spend.month, self.config.monthly_usd, spend.month_spent_pusd),
        ]
        for budget, period, limit, spent in candidates:
            if not limit:
                continue
            for threshold in self.config.alert_thresholds:
                if spent >= to_pusd(limit * Decimal(str(threshold))):
                    alert = BudgetAlert(budget, period, threshold, from_pusd(spent), limit)
                    if self.ledger.claim_alert(f"budget:{budget}:{period}:{threshold}"):
                        fired.append(alert)
        daily_alert = self.observability.cost_alert_usd_per_day
        if daily_alert and spend.day_spent_pusd >= to_pusd(daily_alert):
            alert = BudgetAlert(
                "daily_cost_alert", spend.day, 1.0, from_pusd(spend.day_spent_pusd), daily_alert
            )
            if self.ledger.claim_alert(f"cost_alert:{spend.day}"):
                fired.append(alert)
        for alert in fired:
            self.events.emit(BUDGET_ALERT, alert)
        return fired

    def forecast(self, now: float | None = None) -> Forecast:
        """Period-end spend from the recent rate: the last 3 hours for the day, the
        last 7 days (or the days so far) for the month."""
        now = self.clock() if now is None else now
        spend = self.ledger.period_spend(now)
        lt = time.localtime(now)
        day_start = time.mktime((lt.tm_year, lt.tm_mon, lt.tm_mday, 0, 0, 0, 0, 0, -1))
        next_day = time.mktime((lt.tm_year, lt.tm_mon, lt.tm_mday + 1, 0, 0, 0, 0, 0, -1))
        next_month = time.mktime((lt.tm_year, lt.tm_mon + 1, 1, 0, 0, 0, 0, 0, -1))
        month_start = time.mktime((lt.tm_year, lt.tm_mon, 1, 0, 0, 0, 0, 0, -1))
        window = min(3 * 3600.0, max(now - day_start, 1.0))
        recent = self.ledger.spend_between(now - window, now)
        day_spent = from_pusd(spend.day_spent_pusd)
        day_proj = day_spent + recent * Decimal(str((next_day - now) / window))
        mwindow = min(7 * 86400.0, max(now - month_start, 1.0))
        mrecent = self.ledger.spend_between(now - mwindow, now)
        month_spent = from_pusd(spend.month_spent_pusd)
        month_proj = month_spent + mrecent * Decimal(str((next_month - now) / mwindow))
        q = Decimal("0.000001")
        return Forecast(
            day_spent,
            day_proj.quantize(q),
            month_spent,
            month_proj.quantize(q),
            "spent so far + recent rate (last 3 h for the day, last 7 days for the month) "
            "× time left in the period",
        )
