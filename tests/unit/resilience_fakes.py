"""Fakes shared by the resilience tests: a clock that never sleeps, and errors."""

from __future__ import annotations

from collections.abc import Callable

from core.errors import (
    AuthenticationError,
    BadRequestError,
    ConnectionFailedError,
    ContentFilteredError,
    OverloadedError,
    ProviderContextLengthError,
    ProviderTimeoutError,
    RateLimitError,
)
from core.pipeline.resilience import CircuitBreaker

__all__ = ["NOT_RETRYABLE", "RETRYABLE", "FakeClock", "always", "overloaded", "tripped"]


class FakeClock:
    """A monotonic clock that moves only when told; its ``sleep`` records and advances."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def always(value: float) -> Callable[[], float]:
    return lambda: value


def overloaded(retry_after: float | None = None) -> OverloadedError:
    return OverloadedError("503 from provider", status=503, retry_after=retry_after)


RETRYABLE = [
    RateLimitError("429", status=429),
    OverloadedError("529", status=529),
    ProviderTimeoutError("read timeout"),
    ConnectionFailedError("reset"),
]
NOT_RETRYABLE = [
    BadRequestError("400", status=400),
    AuthenticationError("401", status=401),
    AuthenticationError("403", status=403),
    BadRequestError("404", status=404),
    ProviderContextLengthError("too long", status=400),
    ContentFilteredError("refused"),
]


def tripped(clock: FakeClock, threshold: int = 3) -> CircuitBreaker:
    breaker = CircuitBreaker(failure_threshold=threshold, cooldown_seconds=30, clock=clock)
    for _ in range(threshold):
        breaker.record_failure(overloaded())
    return breaker
