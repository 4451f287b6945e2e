"""Operational alerts: daily cost, budget thresholds, a low cache hit rate, an open breaker.

Each alert fires once per *crossing*: the budget and daily-cost alerts are claimed
once per period in the ledger by :class:`~core.accounting.budget.BudgetPolicy` (so once across
processes too); the hit-rate alert fires when the rate over the last
``cache_hit_rate_window`` requests falls below ``min_cache_hit_rate`` and re-arms only
once it is back above; a breaker alert fires when a breaker opens and re-arms when it
closes. Every alert is emitted as an ``ALERT`` event (for the GUI), logged, and POSTed
to ``[gateway] webhook_url`` when one is set.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from core.accounting.budget import BudgetAlert
from core.config import CentwiseConfig
from core.events import BUDGET_ALERT, REQUEST_FINISHED, EventHub
from core.money import usd_str
from core.types import RequestRecord

__all__ = ["ALERT", "Alert", "AlertMonitor"]

log = logging.getLogger("core.gateway.alerts")

#: The event an :class:`Alert` is emitted as, on the engine's hub.
ALERT = "ops_alert"

Poster = Callable[[str, dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Alert:
    """``kind``: budget | daily_cost | cache_hit_rate | breaker_open."""

    kind: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"source": "centwise", "kind": self.kind, "message": self.message, **self.details}


class AlertMonitor:
    """Listens to one engine's events and raises each alert once per crossing."""

    def __init__(
        self,
        config: CentwiseConfig,
        events: EventHub,
        breaker_states: Callable[[], list[tuple[str, str, str]]],
        *,
        webhook_url: str | None = None,
        post: Poster | None = None,
    ) -> None:
        self.events = events
        self.min_hit_rate = config.observability.min_cache_hit_rate
        self.cache_enabled = config.cache.enabled
        self._window: deque[bool] = deque(maxlen=config.observability.cache_hit_rate_window)
        self._hit_rate_low = False
        self._open_breakers: set[tuple[str, str]] = set()
        self._breaker_states = breaker_states
        self._webhook_url = webhook_url
        self._post = post
        self._tasks: set[asyncio.Task[None]] = set()
        self.fired: list[Alert] = []
        self._off = [
            events.on(BUDGET_ALERT, self._on_budget),
            events.on(REQUEST_FINISHED, self._on_request),
        ]

    def _on_budget(self, alert: BudgetAlert) -> None:
        kind = "daily_cost" if alert.budget == "daily_cost_alert" else "budget"
        details = {
            "budget": alert.budget,
            "period": alert.period,
            "threshold": alert.threshold,
            "spent_usd": usd_str(alert.spent_usd),
            "limit_usd": usd_str(alert.limit_usd),
        }
        self._fire(Alert(kind, alert.message, details))

    def _on_request(self, rec: RequestRecord) -> None:
        if self.cache_enabled and rec.status == "ok" and rec.purpose in ("user", "gateway"):
            self._window.append(rec.cache_outcome != "miss")
            self._check_hit_rate()
        self._check_breakers()

    def _check_hit_rate(self) -> None:
        if len(self._window) < (self._window.maxlen or 0):
            return
        rate = sum(self._window) / len(self._window)
        if rate >= self.min_hit_rate:
            self._hit_rate_low = False
        elif not self._hit_rate_low:
            self._hit_rate_low = True
            self._fire(
                Alert(
                    "cache_hit_rate",
                    f"cache hit rate is {rate:.0%} over the last {len(self._window)} "
                    f"requests, below the {self.min_hit_rate:.0%} minimum",
                    {"hit_rate": round(rate, 4), "window": len(self._window)},
                )
            )

    def _check_breakers(self) -> None:
        now_open = {(p, m) for p, m, state in self._breaker_states() if state == "open"}
        for provider, model in sorted(now_open - self._open_breakers):
            self._fire(
                Alert(
                    "breaker_open",
                    f"the circuit breaker for {provider}/{model} is open: calls to it "
                    "fail fast until it recovers",
                    {"provider": provider, "model": model},
                )
            )
        self._open_breakers = now_open

    def _fire(self, alert: Alert) -> None:
        self.fired.append(alert)
        log.warning(alert.message, extra={"fields": {"alert": alert.to_json()}})
        self.events.emit(ALERT, alert)
        if self._webhook_url and self._post is not None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # no loop (a sync caller): the log and the event still carry it
            task = loop.create_task(self._deliver(self._webhook_url, alert))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _deliver(self, url: str, alert: Alert) -> None:
        assert self._post is not None
        try:
            await self._post(url, alert.to_json())
        except Exception as e:  # a dead webhook must never break a request
            log.warning("alert webhook failed: %s", type(e).__name__)

    async def aclose(self) -> None:
        """Unsubscribe and wait for webhook deliveries still in flight."""
        for off in self._off:
            off()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
