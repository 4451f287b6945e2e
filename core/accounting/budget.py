"""Token budgets with hard caps: the seed's TokenBudgetMiddleware, done properly.

Per request, a prompt over ``max_input_tokens`` is refused before any call and
``max_tokens`` is always sent. For the daily and monthly budgets the projected worst
case (input plus maximum output at the chosen model's prices) is *reserved* in the
ledger before the call, inside one ``BEGIN IMMEDIATE`` transaction that also reads
what is spent and reserved, and settled to the actual cost when the request is
recorded. Concurrent requests, in this process or another sharing the ledger,
therefore cannot overshoot a hard limit.

With ``reservation = "learned"`` (the default) the hold is sized inside that same
locked transaction from what is left, ``H = limit - spent - reserved`` (the tightest
of the day and the month, and of the member's and the gateway key's limits). While
``H`` is at least ten worst cases for each request in flight (this one included), the
worst case is held and nothing is cut. When it is tight, ``max_tokens`` is capped at the smaller of
1.25 × the model's learned p95 answer length for this kind of prompt (at least 16
tokens; see :mod:`core.accounting.output_lengths`) and the output ``H`` can still pay
for after the input, and the cost at that cap is held. Every hold is still the most
the request can cost, so a hard limit is never overshot; a burst is refused only when
the money is really gone.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import partial

from core.accounting.output_lengths import OutputLengths, PromptKind
from core.accounting.prices import ModelPrice, worst_case_cost
from core.config import BudgetConfig, ObservabilityConfig, TeamConfig
from core.errors import BudgetExceededError, InputTokenLimitError
from core.events import BUDGET_ALERT, REQUEST_FINISHED, EventHub
from core.ledger import Ledger, LedgerFilter, PeriodSpend
from core.ledger.models import GatewayKey
from core.money import format_usd, from_pusd, to_pusd
from core.types import RequestRecord

__all__ = ["BudgetAlert", "BudgetPolicy", "Forecast", "Hold", "Limit", "Sizing", "size_hold"]

#: While what is left is at least this many worst cases, the worst case is held.
PLENTIFUL = 10
#: A tight cap is 1.25 × the learned p95, and never below MIN_OUTPUT tokens; a
#: request that cannot pay for its input and MIN_OUTPUT tokens is refused.
P95_MARGIN = Decimal("1.25")
MIN_OUTPUT = 16
#: Recent ledger records the learned lengths start from.
SEED_RECORDS = 5000
#: How long a gateway key's limits are trusted before they are read again.
KEY_LIMITS_S = 5.0


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


@dataclass(frozen=True, slots=True)
class Hold:
    """The money held for one request, and the ``max_tokens`` it was sized for."""

    reservation_id: str | None
    amount_pusd: int
    max_tokens: int
    #: The budget ("daily" or "monthly") that lowered ``max_tokens``; None: not lowered.
    capped_by: str | None = None
    #: What that budget had left (limit − spent − reserved) when the hold was sized.
    left_pusd: int | None = None

    @property
    def capped(self) -> bool:
        return self.capped_by is not None


@dataclass(frozen=True, slots=True)
class Sizing:
    """How much output a request may produce and what holding it costs."""

    max_tokens: int
    amount_pusd: int


def size_hold(
    left_pusd: int,
    input_tokens: int,
    max_tokens: int,
    price: ModelPrice,
    p95: int | None,
    in_flight: int = 0,
) -> Sizing | None:
    """The learned reservation rule (see the module doc); None: refuse, since not even
    the input and :data:`MIN_OUTPUT` tokens (or ``max_tokens``, if fewer) fit.
    ``in_flight`` requests already holding money raise the bar for "plentiful": in a
    burst every request is sized as if the money were tight."""
    worst = worst_case_cost(input_tokens, max_tokens, price)
    rate = worst_case_cost(0, 1, price)
    assert worst is not None and rate is not None  # a known price
    worst_pusd = to_pusd(worst)
    if left_pusd >= PLENTIFUL * worst_pusd * (1 + in_flight):
        return Sizing(max_tokens, worst_pusd)
    if rate == 0:  # free output: nothing to cap
        return Sizing(max_tokens, worst_pusd) if worst_pusd <= left_pusd else None
    input_cost = worst - max_tokens * rate
    affordable = math.floor((from_pusd(left_pusd) - input_cost) / rate)
    learned = max(math.ceil(p95 * P95_MARGIN), MIN_OUTPUT) if p95 is not None else max_tokens
    cap = min(max_tokens, learned, affordable)
    if cap < min(MIN_OUTPUT, max_tokens):
        return None
    amount = worst_case_cost(input_tokens, cap, price)
    assert amount is not None
    return Sizing(cap, to_pusd(amount))


class BudgetPolicy:
    """Applies ``[budget]`` (and the ``[observability]`` daily cost alert) to requests.

    With learned reservations and a hard periodic limit, it learns answer lengths
    from the ledger's recent records and from every request that finishes.
    """

    def __init__(
        self,
        config: BudgetConfig,
        observability: ObservabilityConfig,
        ledger: Ledger,
        events: EventHub,
        clock: Callable[[], float] = time.time,
        lengths: OutputLengths | None = None,
        team: TeamConfig | None = None,
    ) -> None:
        self.config = config
        self.team = team or TeamConfig()
        self._keys: dict[str, tuple[GatewayKey | None, float]] = {}
        self.observability = observability
        self.ledger = ledger
        self.events = events
        self.clock = clock
        self.lengths = OutputLengths() if lengths is None else lengths
        if self.learns and lengths is None:
            recent = ledger.page(0, SEED_RECORDS, LedgerFilter(status="ok", cache_outcome="miss"))
            self.lengths.seed(reversed(recent))
        if config.reservation == "learned":  # gateway keys may bring limits of their own
            events.on(REQUEST_FINISHED, self._learn)

    def _learn(self, record: RequestRecord) -> None:
        self.lengths.learn(record)

    @property
    def learns(self) -> bool:
        """Whether holds are sized from learned answer lengths."""
        team = self.config.hard_limit and self.has_periodic_limits
        members = self.team.member_daily_usd is not None or self.team.member_monthly_usd is not None
        return self.config.reservation == "learned" and (team or members)

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
        """Whether the team's ``[budget]`` has a daily or monthly limit."""
        return self.config.daily_usd is not None or self.config.monthly_usd is not None

    def limits(self, member: str | None = None, app: str | None = None) -> list[Limit]:
        """Every periodic limit a request of ``member`` through gateway key ``app``
        must fit: the team's (``[budget]``), the member's (``[team] member_*_usd``,
        always hard) and the gateway key's own (always hard)."""
        out = [
            Limit(name, None, period, value)
            for name, period, value in (
                ("daily", "day", self.config.daily_usd),
                ("monthly", "month", self.config.monthly_usd),
            )
            if value is not None
        ]
        if member:
            for label, period, value in (
                ("daily", "day", self.team.member_daily_usd),
                ("monthly", "month", self.team.member_monthly_usd),
            ):
                if value is not None:
                    out.append(
                        Limit(f"{label} (member {member})", ("member", member), period, value)
                    )
        key = self._gateway_key(app) if app else None
        if key is not None and app:
            for label, period, value in (
                ("daily", "day", key.daily_usd),
                ("monthly", "month", key.monthly_usd),
            ):
                if value is not None:
                    out.append(Limit(f"{label} (gateway key {app})", ("app", app), period, value))
        return out

    def _gateway_key(self, name: str) -> GatewayKey | None:
        """The live gateway key ``name`` with its limits, re-read every few seconds."""
        now = time.monotonic()
        cached = self._keys.get(name)
        if cached is None or cached[1] <= now:
            found = next(
                (k for k in self.ledger.gateway_keys(include_revoked=False) if k.name == name),
                None,
            )
            cached = self._keys[name] = (found, now + KEY_LIMITS_S)
        return cached[0]

    def _hard(self, limit: Limit) -> bool:
        return limit.scope is not None or self.config.hard_limit

    def reserve(
        self,
        request_id: str,
        *,
        model: str | None,
        price: ModelPrice | None,
        input_tokens: int,
        max_tokens: int,
        kind: PromptKind,
        member: str | None = None,
        app: str | None = None,
    ) -> Hold:
        """Hold what the request may cost against every periodic limit it must fit
        (the team's, its member's, its gateway key's; sized and capped by the learned
        rule, see the module doc), or refuse the request."""
        limits = self.limits(member, app)
        if not limits:
            return Hold(None, 0, max_tokens)
        scopes = list(dict.fromkeys(lim.scope for lim in limits if lim.scope is not None))
        hold = partial(self.ledger.reserve, member=member, app=app, scopes=scopes)
        worst = worst_case_cost(input_tokens, max_tokens, price) if price else None
        amount = to_pusd(worst) if worst is not None else 0
        if worst is None or price is None or not self.learns_for(limits):

            def check(spend: PeriodSpend) -> None:
                self._refuse_if_over(spend, limits, amount, request_id, model)

            rid = hold(request_id, amount, self.clock(), check)
            return Hold(rid, amount, max_tokens)
        p95 = self.lengths.p95(model, kind) if model else None
        sizer = _Sizer(self, limits, request_id, model, price, input_tokens, max_tokens, p95)
        rid = hold(request_id, 0, self.clock(), sizer.check, amount_for=sizer.amount)
        return sizer.hold(rid)

    def learns_for(self, limits: list[Limit]) -> bool:
        """Whether holds against ``limits`` are sized from learned answer lengths."""
        return self.config.reservation == "learned" and any(self._hard(lim) for lim in limits)

    def headroom(
        self, spend: PeriodSpend, limits: list[Limit] | None = None
    ) -> tuple[Limit, int] | None:
        """The tightest hard limit and what it has left (limit − spent − reserved, in
        picodollars; negative when overcommitted); None without one."""
        left = [
            (to_pusd(lim.limit) - spent - reserved, i, lim)
            for i, (lim, spent, reserved) in enumerate(_figures(spend, limits or self.limits()))
            if self._hard(lim)
        ]
        if not left:
            return None
        pusd, _, lim = min(left)
        return lim, pusd

    def _refuse_if_over(
        self, spend: PeriodSpend, limits: list[Limit], amount: int, rid: str, model: str | None
    ) -> None:
        for lim, spent, reserved in _figures(spend, limits):
            if self._hard(lim) and spent + reserved + amount > to_pusd(lim.limit):
                raise _refusal(lim.name, spent, reserved, lim.limit, amount, rid, model)

    def after_record(self, spend: PeriodSpend | None = None) -> list[BudgetAlert]:
        """Emit each threshold alert once per period (claimed in the ledger, so once
        across processes too); ``spend`` as the ledger returned it with the record,
        else read now."""
        spend = self.ledger.period_spend(self.clock()) if spend is None else spend
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


@dataclass(frozen=True, slots=True)
class Limit:
    """One periodic limit: ``name`` as messages say it ("daily", "monthly (member
    ann)", "daily (gateway key ci)"), the ``scope`` whose spend it counts (None: the
    whole team), its ``period`` ("day" or "month") and the dollars."""

    name: str
    scope: tuple[str, str] | None
    period: str
    limit: Decimal


def _holds(spend: PeriodSpend, limit: Limit) -> int:
    """Requests in flight holding money against ``limit``'s scope."""
    if limit.scope is None:
        return spend.holds
    return next((s.holds for c, v, s in spend.scopes if (c, v) == limit.scope), 0)


def _figures(spend: PeriodSpend, limits: list[Limit]) -> list[tuple[Limit, int, int]]:
    """(limit, spent, reserved) for each limit, from the team's or its scope's spend."""
    scoped = {(column, value): s for column, value, s in spend.scopes}
    out = []
    for lim in limits:
        s = spend if lim.scope is None else scoped.get(lim.scope)
        if s is None:  # pragma: no cover - reserve always reads every scope asked for
            raise AssertionError(f"no spend read for {lim.scope}")
        if lim.period == "day":
            out.append((lim, s.day_spent_pusd, s.day_reserved_pusd))
        else:
            out.append((lim, s.month_spent_pusd, s.month_reserved_pusd))
    return out


def _refusal(
    name: str,
    spent: int,
    reserved: int,
    limit: Decimal,
    amount: int,
    rid: str,
    model: str | None,
    *,
    least_tokens: int | None = None,
) -> BudgetExceededError:
    """The refusal by budget ``name``. With ``least_tokens``, ``amount`` is the least the
    request could run for (its input and that many output tokens), not its worst case."""
    spent_usd = from_pusd(spent)
    cost = (
        "this request could cost up to"
        if least_tokens is None
        else f"even its input and {least_tokens} output tokens would cost"
    )
    return BudgetExceededError(
        f"refused by the {name} budget: {format_usd(spent_usd)} spent"
        f"{f' and {format_usd(from_pusd(reserved))} reserved' if reserved else ''}"
        f" of the {format_usd(limit)} limit; {cost} {format_usd(from_pusd(amount))}",
        budget=name,
        spent_usd=spent_usd,
        limit_usd=limit,
        request_id=rid,
        model=model,
    )


class _Sizer:
    """Sizes one learned hold inside the ledger's locked transaction: ``check`` sees
    the period spend, ``amount`` decides the cap and the amount (or refuses)."""

    def __init__(
        self,
        policy: BudgetPolicy,
        limits: list[Limit],
        request_id: str,
        model: str | None,
        price: ModelPrice,
        input_tokens: int,
        max_tokens: int,
        p95: int | None,
    ) -> None:
        self.policy = policy
        self.limits = limits
        self.request_id = request_id
        self.model = model
        self.price = price
        self.input_tokens = input_tokens
        self.max_tokens = max_tokens
        self.p95 = p95
        self.sizing = Sizing(max_tokens, 0)
        self.tightest: tuple[Limit, int] | None = None

    def check(self, spend: PeriodSpend) -> None:
        self.tightest = self.policy.headroom(spend, self.limits)

    def amount(self, spend: PeriodSpend) -> int:
        assert self.tightest is not None  # learns_for: a hard limit exists
        lim, left = self.tightest
        in_flight = _holds(spend, lim)
        sizing = size_hold(
            left, self.input_tokens, self.max_tokens, self.price, self.p95, in_flight
        )
        if sizing is None:
            tokens = min(MIN_OUTPUT, self.max_tokens)
            least = to_pusd(worst_case_cost(self.input_tokens, tokens, self.price) or Decimal(0))
            ((found, spent, reserved),) = _figures(spend, [lim])
            raise _refusal(
                found.name, spent, reserved, found.limit, least, self.request_id,
                self.model, least_tokens=tokens,
            )  # fmt: skip
        self.sizing = sizing
        return sizing.amount_pusd

    def hold(self, reservation_id: str) -> Hold:
        capped = self.sizing.max_tokens < self.max_tokens and self.tightest is not None
        lim, left = self.tightest if self.tightest is not None else (None, None)
        return Hold(
            reservation_id,
            self.sizing.amount_pusd,
            self.sizing.max_tokens,
            capped_by=lim.name if capped and lim is not None else None,
            left_pusd=left,
        )
