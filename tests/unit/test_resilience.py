"""Retry policy, circuit breaker and call_with_retries, on a fake clock that never sleeps."""

from __future__ import annotations

import asyncio

import pytest

from core.errors import (
    BadRequestError,
    CircuitOpenError,
    ConnectionFailedError,
    OverloadedError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
)
from core.pipeline.resilience import (
    AttemptInfo,
    BreakerBoard,
    CircuitBreaker,
    RetryPolicy,
    call_with_retries,
)
from tests.unit.resilience_fakes import (
    NOT_RETRYABLE,
    RETRYABLE,
    FakeClock,
    always,
    overloaded,
    tripped,
)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


# --- RetryPolicy --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempt", "window"),
    [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (6, 16.0), (7, 20.0), (30, 20.0)],
)
def test_full_jitter_spans_zero_to_the_exponential_window(attempt: int, window: float) -> None:
    low = RetryPolicy(rand=always(0.0), max_total_seconds=1e9)
    high = RetryPolicy(rand=always(1.0), max_total_seconds=1e9)
    mid = RetryPolicy(rand=always(0.25), max_total_seconds=1e9)
    assert low.delay(attempt, overloaded()) == 0.0
    assert high.delay(attempt, overloaded()) == pytest.approx(window)
    assert mid.delay(attempt, overloaded()) == pytest.approx(window / 4)


def test_retry_after_is_a_floor_not_a_ceiling() -> None:
    assert RetryPolicy(rand=always(0.0)).delay(1, overloaded(retry_after=7)) == 7
    assert RetryPolicy(rand=always(1.0)).delay(4, overloaded(retry_after=0.1)) == pytest.approx(4)
    # beyond max_delay: the provider's word wins
    assert RetryPolicy(rand=always(1.0)).delay(1, overloaded(retry_after=25)) == 25


def test_jitter_is_cut_to_the_time_left() -> None:
    policy = RetryPolicy(rand=always(1.0), max_total_seconds=60, max_delay=20)
    assert policy.delay(10, overloaded(), elapsed=55) == pytest.approx(5)
    assert policy.delay(10, overloaded(), elapsed=70) == 0


def test_retry_after_that_does_not_fit_stops_retrying() -> None:
    policy = RetryPolicy(max_total_seconds=60)
    assert policy.should_retry(1, overloaded(retry_after=30), elapsed=30)
    assert not policy.should_retry(1, overloaded(retry_after=30), elapsed=31)


@pytest.mark.parametrize("error", RETRYABLE, ids=lambda e: type(e).__name__)
def test_retryable_errors_retry_until_max_attempts(error: ProviderError) -> None:
    policy = RetryPolicy(max_attempts=3)
    assert policy.should_retry(1, error, 0) and policy.should_retry(2, error, 0)
    assert not policy.should_retry(3, error, 0)


@pytest.mark.parametrize("error", NOT_RETRYABLE, ids=lambda e: f"{type(e).__name__}-{e}")
def test_client_errors_never_retry(error: ProviderError) -> None:
    assert not RetryPolicy().should_retry(1, error, 0)


def test_out_of_time_stops_retrying() -> None:
    assert not RetryPolicy(max_total_seconds=60).should_retry(1, overloaded(), 60)


@pytest.mark.parametrize(
    "kwargs", [{"max_attempts": 0}, {"base_delay": -1}, {"max_total_seconds": -1}]
)
def test_policy_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


# --- call_with_retries --------------------------------------------------------------


class Script:
    """An attempt function that raises the given errors in turn, then returns 'ok'."""

    def __init__(self, clock: FakeClock, *errors: ProviderError, takes: float = 0.0) -> None:
        self.clock, self.errors, self.takes = clock, list(errors), takes
        self.attempts: list[int] = []

    async def __call__(self, attempt: int) -> str:
        self.attempts.append(attempt)
        self.clock.now += self.takes
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


async def run(
    script: Script,
    clock: FakeClock,
    policy: RetryPolicy | None = None,
    breaker: CircuitBreaker | None = None,
    **kw: object,
) -> str:
    return await call_with_retries(
        script,
        policy or RetryPolicy(rand=always(1.0)),
        breaker or CircuitBreaker(clock=clock, provider="p", model="m"),
        sleep=clock.sleep,
        clock=clock,
        **kw,  # type: ignore[arg-type]
    )


async def test_retries_until_success_with_backoff(clock: FakeClock) -> None:
    script = Script(clock, overloaded(), RateLimitError("429", retry_after=3))
    retries: list[tuple[int, str, float]] = []
    result = await run(script, clock, on_retry=lambda n, e, d: retries.append((n, e.kind, d)))
    assert result == "ok"
    assert script.attempts == [1, 2, 3]
    assert clock.sleeps == [0.5, 3]
    assert retries == [(1, "overloaded", 0.5), (2, "rate_limit", 3)]


async def test_max_attempts_bounds_the_loop(clock: FakeClock) -> None:
    script = Script(clock, *[overloaded() for _ in range(10)])
    with pytest.raises(OverloadedError):
        await run(script, clock, RetryPolicy(max_attempts=4, rand=always(0.5)))
    assert script.attempts == [1, 2, 3, 4]
    assert clock.sleeps == [0.25, 0.5, 1.0]


async def test_max_total_time_bounds_the_loop(clock: FakeClock) -> None:
    script = Script(clock, *[ProviderTimeoutError("slow") for _ in range(10)], takes=25)
    policy = RetryPolicy(max_attempts=10, max_total_seconds=60, rand=always(1.0))
    with pytest.raises(ProviderTimeoutError):
        await run(script, clock, policy)
    assert script.attempts == [1, 2, 3]  # 25 s, +0.5, 25 s, +1, 25 s: past 60 s
    assert clock.now - 1000 == pytest.approx(76.5)


@pytest.mark.parametrize("error", NOT_RETRYABLE, ids=lambda e: f"{type(e).__name__}-{e}")
async def test_client_errors_are_raised_at_once(clock: FakeClock, error: ProviderError) -> None:
    script = Script(clock, error)
    with pytest.raises(type(error)) as info:
        await run(script, clock)
    assert info.value is error
    assert script.attempts == [1] and clock.sleeps == []


async def test_on_attempt_end_once_per_attempt(clock: FakeClock) -> None:
    ends: list[AttemptInfo] = []
    script = Script(clock, overloaded(), overloaded(), takes=2)
    await run(script, clock, on_attempt_end=ends.append)
    assert [(a.attempt, a.ok, a.produced_output, a.elapsed) for a in ends] == [
        (1, False, False, 2),
        (2, False, False, 2),
        (3, True, True, 2),
    ]
    assert [a.retry_delay for a in ends] == [0.5, 1.0, None]


async def test_cancelled_attempt_frees_the_half_open_probe(clock: FakeClock) -> None:
    breaker = CircuitBreaker(failure_threshold=1, cooldown_seconds=5, clock=clock)
    breaker.record_failure(overloaded())
    clock.now += 5
    ends: list[AttemptInfo] = []

    async def hangs(attempt: int) -> str:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await call_with_retries(
            hangs,
            RetryPolicy(),
            breaker,
            sleep=clock.sleep,
            clock=clock,
            on_attempt_end=ends.append,
        )
    assert [a.cancelled for a in ends] == [True]
    assert breaker.allow()  # the probe slot is free again


# --- CircuitBreaker -----------------------------------------------------------------


def test_breaker_opens_after_threshold(clock: FakeClock) -> None:
    breaker = CircuitBreaker(failure_threshold=3, clock=clock)
    breaker.record_failure(overloaded())
    breaker.record_failure(ProviderTimeoutError("t"))
    assert breaker.state == "closed" and breaker.allow()
    breaker.record_failure(ConnectionFailedError("reset"))
    assert breaker.state == "open" and not breaker.allow()


def test_success_resets_the_failure_count(clock: FakeClock) -> None:
    breaker = CircuitBreaker(failure_threshold=2, clock=clock)
    breaker.record_failure(overloaded())
    breaker.record_success()
    breaker.record_failure(overloaded())
    assert breaker.state == "closed"


@pytest.mark.parametrize("error", NOT_RETRYABLE, ids=lambda e: f"{type(e).__name__}-{e}")
def test_client_errors_do_not_trip_the_breaker(clock: FakeClock, error: ProviderError) -> None:
    breaker = CircuitBreaker(failure_threshold=2, clock=clock)
    for _ in range(5):
        breaker.record_failure(error)
    assert breaker.state == "closed"


async def test_open_breaker_fails_fast(clock: FakeClock) -> None:
    breaker = tripped(clock)
    clock.now += 2.2
    script = Script(clock)
    with pytest.raises(CircuitOpenError) as info:
        await call_with_retries(
            script, RetryPolicy(), _named(breaker), sleep=clock.sleep, clock=clock
        )
    assert (
        str(info.value) == "openai/gpt-4.1 is failing; its circuit breaker is open for another 28 s"
    )
    assert (info.value.provider, info.value.model) == ("openai", "gpt-4.1")
    assert info.value.retry_after == pytest.approx(27.8)
    assert script.attempts == []


def _named(breaker: CircuitBreaker) -> CircuitBreaker:
    breaker.provider, breaker.model = "openai", "gpt-4.1"
    return breaker


def test_half_open_after_cooldown_lets_one_probe(clock: FakeClock) -> None:
    breaker = tripped(clock)
    clock.now += 29.9
    assert breaker.state == "open" and not breaker.allow()
    clock.now += 0.1
    assert breaker.state == "half_open"
    assert breaker.allow()
    assert not breaker.allow()  # a second caller while the probe is out
    breaker.record_success()
    assert breaker.state == "closed" and breaker.allow() and breaker.allow()


def test_failed_probe_reopens_for_a_fresh_cooldown(clock: FakeClock) -> None:
    breaker = tripped(clock)
    clock.now += 30
    assert breaker.allow()
    breaker.record_failure(overloaded())
    assert breaker.state == "open" and breaker.retry_in() == 30
    clock.now += 30
    assert breaker.allow()


def test_probe_rejected_as_bad_request_frees_the_slot(clock: FakeClock) -> None:
    breaker = tripped(clock)
    clock.now += 30
    assert breaker.allow()
    breaker.record_failure(BadRequestError("400"))
    assert breaker.state == "half_open" and breaker.allow()


async def test_breaker_opening_mid_loop_stops_retries(clock: FakeClock) -> None:
    breaker = CircuitBreaker(failure_threshold=2, clock=clock)
    script = Script(clock, *[overloaded() for _ in range(5)])
    with pytest.raises(CircuitOpenError) as info:
        await run(script, clock, RetryPolicy(max_attempts=5, rand=always(0.0)), breaker)
    assert script.attempts == [1, 2]
    assert isinstance(info.value.__cause__, OverloadedError)


def test_board_keeps_one_breaker_per_provider_model(clock: FakeClock) -> None:
    board = BreakerBoard(lambda p, m: CircuitBreaker(1, 10, clock, provider=p, model=m))
    a = board.get("openai", "gpt-4.1")
    assert board.get("openai", "gpt-4.1") is a
    assert board.get("openai", "gpt-4.1-mini") is not a
    board.get("anthropic", "claude")
    a.record_failure(overloaded())
    assert board.snapshot() == [
        ("anthropic", "claude", "closed"),
        ("openai", "gpt-4.1", "open"),
        ("openai", "gpt-4.1-mini", "closed"),
    ]
    assert (a.provider, a.model) == ("openai", "gpt-4.1")


def test_default_board_names_its_breakers() -> None:
    breaker = BreakerBoard().get("p", "m")
    assert (breaker.provider, breaker.model, breaker.failure_threshold) == ("p", "m", 5)
