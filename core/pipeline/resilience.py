"""Retries and circuit breakers as small composable objects.

Attempts are numbered from 1. Clock and sleep are always passed in, so tests run
with a fake clock and never really sleep (the shape of tenacity's ``wait``/``stop``
strategies and ``BaseRetrying(sleep=...)``).

* :class:`RetryPolicy` decides whether to try again and how long to wait first:
  exponential backoff with full jitter, at least the provider's ``Retry-After``,
  bounded by attempts and by total time.
* :class:`CircuitBreaker` stops calling a provider/model that keeps failing, then
  lets one probe through after a cool-down. :class:`BreakerBoard` holds one per
  provider/model.
* :func:`call_with_retries` and :func:`stream_with_retries` run an attempt function
  under both. A stream is retried only while no text has reached the caller.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from core.errors import CircuitOpenError, ProviderError
from core.types import ProviderEvent, TextDelta, UsageReport

__all__ = [
    "AttemptInfo",
    "BreakerBoard",
    "BreakerState",
    "CircuitBreaker",
    "RetryPolicy",
    "call_with_retries",
    "stream_with_retries",
    "trips_breaker",
]

T = TypeVar("T")
BreakerState = Literal["closed", "open", "half_open"]
Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When to try again, and how long to wait first.

    The wait after failed attempt ``n`` is uniform in
    ``[0, min(max_delay, base_delay * 2**(n-1))]`` (full jitter), raised to the
    error's ``retry_after`` when the provider sent one.
    """

    max_attempts: int = 4
    max_total_seconds: float = 60.0
    base_delay: float = 0.5
    max_delay: float = 20.0
    rand: Callable[[], float] = field(default=random.random, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if min(self.max_total_seconds, self.base_delay, self.max_delay) < 0:
            raise ValueError("max_total_seconds, base_delay and max_delay must not be negative")

    def delay(self, attempt: int, error: ProviderError, elapsed: float = 0.0) -> float:
        """Seconds to wait after failed ``attempt``, ``elapsed`` seconds into the call.

        A jittered wait is cut to the time left; a ``retry_after`` never is (retrying
        earlier than asked only earns another 429): :meth:`should_retry` gives up
        instead when it does not fit.
        """
        window = min(self.max_delay, self.base_delay * 2.0 ** max(attempt - 1, 0))
        wait = self.rand() * window
        if error.retry_after is not None:
            return max(wait, error.retry_after)
        return max(0.0, min(wait, self.max_total_seconds - elapsed))

    def should_retry(self, attempt: int, error: ProviderError, elapsed: float) -> bool:
        """True when ``error`` is retryable, attempts remain and the wait fits in time."""
        if not error.retryable or attempt >= self.max_attempts:
            return False
        if elapsed >= self.max_total_seconds:
            return False
        least_wait = error.retry_after or 0.0
        return elapsed + least_wait <= self.max_total_seconds


def trips_breaker(error: ProviderError) -> bool:
    """Whether ``error`` says the provider is unhealthy (rate limit, 5xx, timeout,
    network). A rejected key or a bad request says nothing about its health."""
    return error.retryable


class CircuitBreaker:
    """Fails fast after ``failure_threshold`` consecutive health failures.

    closed → open after the threshold; open → half-open once ``cooldown_seconds``
    have passed, letting one probe through at a time; the probe closes it on success
    and re-opens it (for a fresh cool-down) on a health failure.
    """

    def __init__(
        self,
        failure_threshold: int = 5,
        cooldown_seconds: float = 30.0,
        clock: Clock = time.monotonic,
        *,
        provider: str = "",
        model: str = "",
    ) -> None:
        if failure_threshold < 1:
            raise ValueError(f"failure_threshold must be at least 1, got {failure_threshold}")
        self.failure_threshold = failure_threshold
        self.cooldown_seconds = cooldown_seconds
        self.provider = provider
        self.model = model
        self._clock = clock
        self._state: BreakerState = "closed"
        self._failures = 0
        self._opened_at = 0.0
        self._probing = False

    def __repr__(self) -> str:
        return f"CircuitBreaker({self.provider}/{self.model}, {self.state})"

    @property
    def state(self) -> BreakerState:
        """The state now; an open breaker whose cool-down has passed reads half-open."""
        if self._state == "open" and self.retry_in() <= 0:
            return "half_open"
        return self._state

    def retry_in(self) -> float:
        """Seconds until an open breaker lets a probe through (0 when not open)."""
        if self._state != "open":
            return 0.0
        return max(0.0, self._opened_at + self.cooldown_seconds - self._clock())

    def allow(self) -> bool:
        """May an attempt go now? In half-open, only one probe at a time."""
        if self.state == "closed":
            return True
        if self.state == "open":
            return False
        if self._probing:
            return False
        self._state, self._probing = "half_open", True
        return True

    def record_success(self) -> None:
        """The provider answered: close the breaker."""
        self._state, self._failures, self._probing = "closed", 0, False

    def record_failure(self, error: ProviderError | None = None) -> None:
        """An attempt failed. Errors that say nothing about health only free the probe."""
        if error is not None and not trips_breaker(error):
            self.release()
            return
        self._failures += 1
        if self._state == "half_open" or self._failures >= self.failure_threshold:
            self._state, self._opened_at, self._probing = "open", self._clock(), False

    def release(self) -> None:
        """The attempt ended without news about health (cancelled, or a bad request)."""
        self._probing = False


class BreakerBoard:
    """One :class:`CircuitBreaker` per (provider, model), made on first use."""

    def __init__(self, factory: Callable[[str, str], CircuitBreaker] | None = None) -> None:
        self._factory = factory or (lambda p, m: CircuitBreaker(provider=p, model=m))
        self._breakers: dict[tuple[str, str], CircuitBreaker] = {}

    def get(self, provider: str, model: str) -> CircuitBreaker:
        key = (provider, model)
        if key not in self._breakers:
            self._breakers[key] = self._factory(provider, model)
        return self._breakers[key]

    def snapshot(self) -> list[tuple[str, str, BreakerState]]:
        """``(provider, model, state)`` for every breaker, sorted, for the GUI."""
        return [(p, m, b.state) for (p, m), b in sorted(self._breakers.items())]


@dataclass(frozen=True, slots=True)
class AttemptInfo:
    """How one attempt ended, for the ledger's list of attempts.

    ``usage`` is the last usage report the attempt streamed; ``retry_delay`` is the
    wait before the next attempt (None when there is none); ``cancelled`` is True
    when the caller stopped (or was cancelled) mid-attempt.
    """

    attempt: int
    error: ProviderError | None
    produced_output: bool
    elapsed: float
    usage: UsageReport | None = None
    retry_delay: float | None = None
    cancelled: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None and not self.cancelled


def _admit(breaker: CircuitBreaker, request_id: str | None, cause: BaseException | None) -> None:
    if breaker.allow():
        return
    wait = breaker.retry_in()
    if wait > 0:
        why = f"its circuit breaker is open for another {math.ceil(wait)} s"
    else:  # half-open: another request is already probing
        why = "its circuit breaker is letting one test request through; try again shortly"
    err = CircuitOpenError(
        f"{breaker.provider}/{breaker.model} is failing; {why}",
        retry_after=wait,
        provider=breaker.provider or None,
        model=breaker.model or None,
        request_id=request_id,
    )
    raise err from cause


@dataclass(slots=True)
class _Attempt:
    """What the loop saw during one attempt."""

    number: int
    began: float
    produced: bool = False
    usage: UsageReport | None = None

    def see(self, event: ProviderEvent) -> None:
        if isinstance(event, TextDelta) and event.text:
            self.produced = True
        elif isinstance(event, UsageReport):
            self.usage = event


@dataclass(slots=True)
class _Run:
    """The state shared by the attempts of one call: breaker, policy and reporting."""

    policy: RetryPolicy
    breaker: CircuitBreaker
    clock: Clock
    request_id: str | None
    on_attempt_end: Callable[[AttemptInfo], None] | None
    start: float = 0.0
    number: int = 0
    last: ProviderError | None = None

    def __post_init__(self) -> None:
        self.start = self.clock()

    def begin(self) -> _Attempt:
        """Start the next attempt, or raise :class:`CircuitOpenError`."""
        self.number += 1
        _admit(self.breaker, self.request_id, self.last)
        return _Attempt(self.number, self.clock())

    def failed(self, seen: _Attempt, error: ProviderError) -> float | None:
        """Record a failure; the wait before the next attempt, or None to give up."""
        self.breaker.record_failure(error)
        self.last = error
        wait = None
        # Text already shown cannot be taken back, so such a stream is never retried.
        if not seen.produced and self.policy.should_retry(
            seen.number, error, self.clock() - self.start
        ):
            wait = self.policy.delay(seen.number, error, self.clock() - self.start)
        self._report(seen, error, wait)
        return wait

    def abandoned(self, seen: _Attempt) -> None:
        self.breaker.release()
        self._report(seen, None, None, cancelled=True)

    def succeeded(self, seen: _Attempt) -> None:
        self.breaker.record_success()
        self._report(seen, None, None)

    def _report(
        self,
        seen: _Attempt,
        error: ProviderError | None,
        wait: float | None,
        cancelled: bool = False,
    ) -> None:
        if self.on_attempt_end is not None:
            elapsed = self.clock() - seen.began
            self.on_attempt_end(
                AttemptInfo(seen.number, error, seen.produced, elapsed, seen.usage, wait, cancelled)
            )


async def call_with_retries(
    attempt_fn: Callable[[int], Awaitable[T]],
    policy: RetryPolicy,
    breaker: CircuitBreaker,
    *,
    sleep: Sleep = asyncio.sleep,
    clock: Clock = time.monotonic,
    on_retry: Callable[[int, ProviderError, float], None] | None = None,
    on_attempt_end: Callable[[AttemptInfo], None] | None = None,
    request_id: str | None = None,
) -> T:
    """Await ``attempt_fn(n)`` for n = 1, 2, … until it succeeds or ``policy`` stops.

    Raises the last :class:`ProviderError`, or :class:`CircuitOpenError` when the
    breaker refuses an attempt. ``on_retry(attempt, error, delay)`` runs before each
    wait; ``on_attempt_end`` once per attempt.
    """
    run = _Run(policy, breaker, clock, request_id, on_attempt_end)
    while True:
        seen = run.begin()
        try:
            result = await attempt_fn(seen.number)
        except ProviderError as err:
            wait = run.failed(seen, err)
            if wait is None:
                raise
            if on_retry is not None:
                on_retry(seen.number, err, wait)
            await sleep(wait)
            continue
        except BaseException:
            run.abandoned(seen)
            raise
        seen.produced = True
        run.succeeded(seen)
        return result


async def _aclose(stream: AsyncIterator[ProviderEvent]) -> None:
    close = getattr(stream, "aclose", None)
    if close is not None:
        await close()


async def stream_with_retries(
    open_stream: Callable[[int], AsyncIterator[ProviderEvent]],
    policy: RetryPolicy,
    breaker: CircuitBreaker,
    *,
    sleep: Sleep = asyncio.sleep,
    clock: Clock = time.monotonic,
    on_attempt_end: Callable[[AttemptInfo], None] | None = None,
    request_id: str | None = None,
) -> AsyncIterator[ProviderEvent]:
    """Yield the events of ``open_stream(n)``, retrying failures that come before any
    text reached the caller; a failure after text is re-raised.

    Everything yielded between two ``on_attempt_end`` calls belongs to the attempt
    the second one reports (a failed attempt's usage report too). Close the generator
    (``contextlib.aclosing``) when abandoning it early.
    """
    run = _Run(policy, breaker, clock, request_id, on_attempt_end)
    while True:
        seen = run.begin()
        stream = open_stream(seen.number)
        try:
            async for event in stream:
                seen.see(event)
                yield event
        except ProviderError as err:
            wait = run.failed(seen, err)
            if wait is None:
                raise
        except BaseException:
            run.abandoned(seen)
            raise
        else:
            run.succeeded(seen)
            return
        finally:
            await _aclose(stream)
        await sleep(wait)
