"""stream_with_retries: retried only until text reaches the caller, on a fake clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing

import pytest

from core.errors import (
    AuthenticationError,
    CircuitOpenError,
    ConnectionFailedError,
    ProviderError,
    RateLimitError,
)
from core.pipeline.resilience import AttemptInfo, CircuitBreaker, RetryPolicy, stream_with_retries
from core.types import Finish, ProviderEvent, TextDelta, Usage, UsageReport
from tests.unit.resilience_fakes import FakeClock, always, overloaded, tripped


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


USAGE = UsageReport(Usage(input_tokens=10, output_tokens=2))


class Streams:
    """``open_stream``: attempt n plays ``plans[n-1]``, a list of events and errors."""

    def __init__(self, *plans: list[ProviderEvent | ProviderError]) -> None:
        self.plans = list(plans)
        self.opened: list[int] = []
        self.closed: list[int] = []

    def __call__(self, attempt: int) -> AsyncIterator[ProviderEvent]:
        self.opened.append(attempt)
        return self._play(attempt, self.plans[attempt - 1])

    async def _play(
        self, attempt: int, plan: list[ProviderEvent | ProviderError]
    ) -> AsyncIterator[ProviderEvent]:
        try:
            for item in plan:
                if isinstance(item, ProviderError):
                    raise item
                yield item
        finally:
            self.closed.append(attempt)


async def collect(
    streams: Streams,
    clock: FakeClock,
    ends: list[AttemptInfo],
    policy: RetryPolicy | None = None,
    breaker: CircuitBreaker | None = None,
) -> list[ProviderEvent]:
    out = []
    gen = stream_with_retries(
        streams,
        policy or RetryPolicy(rand=always(1.0)),
        breaker or CircuitBreaker(clock=clock),
        sleep=clock.sleep,
        clock=clock,
        on_attempt_end=ends.append,
    )
    async with aclosing(gen):
        async for event in gen:
            out.append(event)
    return out


async def test_stream_failure_before_text_is_retried(clock: FakeClock) -> None:
    ends: list[AttemptInfo] = []
    streams = Streams(
        [USAGE, ConnectionFailedError("reset before text")],
        [TextDelta("hel"), TextDelta("lo"), USAGE, Finish("stop")],
    )
    events = await collect(streams, clock, ends)
    assert events == [USAGE, TextDelta("hel"), TextDelta("lo"), USAGE, Finish("stop")]
    assert streams.opened == [1, 2] and clock.sleeps == [0.5]
    assert [(a.attempt, a.error is None, a.produced_output, a.usage) for a in ends] == [
        (1, False, False, USAGE),
        (2, True, True, USAGE),
    ]
    assert ends[0].retry_delay == 0.5 and ends[1].retry_delay is None


async def test_stream_failure_after_text_is_not_retried(clock: FakeClock) -> None:
    ends: list[AttemptInfo] = []
    error = ConnectionFailedError("reset mid-stream")
    streams = Streams([TextDelta("partial"), error], [TextDelta("never")])
    seen: list[ProviderEvent] = []
    with pytest.raises(ConnectionFailedError) as info:
        gen = stream_with_retries(
            streams,
            RetryPolicy(),
            CircuitBreaker(clock=clock),
            sleep=clock.sleep,
            clock=clock,
            on_attempt_end=ends.append,
        )
        async with aclosing(gen):
            async for event in gen:
                seen.append(event)
    assert info.value is error
    assert seen == [TextDelta("partial")]
    assert streams.opened == [1] and clock.sleeps == []
    assert [(a.attempt, a.error, a.produced_output, a.retry_delay) for a in ends] == [
        (1, error, True, None)
    ]


async def test_empty_text_delta_does_not_block_retry(clock: FakeClock) -> None:
    ends: list[AttemptInfo] = []
    streams = Streams([TextDelta(""), overloaded()], [TextDelta("ok"), Finish("stop")])
    events = await collect(streams, clock, ends)
    assert events[-2:] == [TextDelta("ok"), Finish("stop")] and len(ends) == 2


async def test_stream_client_error_is_not_retried(clock: FakeClock) -> None:
    ends: list[AttemptInfo] = []
    streams = Streams([AuthenticationError("401", status=401)], [Finish("stop")])
    with pytest.raises(AuthenticationError):
        await collect(streams, clock, ends)
    assert streams.opened == [1] and len(ends) == 1


async def test_stream_reports_every_attempt_up_to_the_limit(clock: FakeClock) -> None:
    ends: list[AttemptInfo] = []
    streams = Streams(*[[RateLimitError("429")] for _ in range(5)])
    with pytest.raises(RateLimitError):
        await collect(streams, clock, ends, RetryPolicy(max_attempts=3, rand=always(0.0)))
    assert [a.attempt for a in ends] == [1, 2, 3] and streams.opened == [1, 2, 3]
    assert streams.closed == [1, 2, 3]


async def test_stream_fails_fast_when_breaker_open(clock: FakeClock) -> None:
    breaker = tripped(clock)
    streams = Streams([Finish("stop")])
    with pytest.raises(CircuitOpenError, match="open for another 30 s"):
        await collect(streams, clock, [], breaker=breaker)
    assert streams.opened == []


async def test_stream_abandoned_by_caller_is_closed_and_reported(clock: FakeClock) -> None:
    breaker = tripped(clock)
    clock.now += 30
    ends: list[AttemptInfo] = []
    streams = Streams([TextDelta("a"), TextDelta("b"), Finish("stop")])
    gen = stream_with_retries(
        streams, RetryPolicy(), breaker, sleep=clock.sleep, clock=clock, on_attempt_end=ends.append
    )
    async with aclosing(gen):
        async for _event in gen:
            break
    assert streams.closed == [1]
    assert [(a.cancelled, a.produced_output) for a in ends] == [(True, True)]
    assert breaker.state == "half_open" and breaker.allow()  # probe slot freed


async def test_stream_success_closes_half_open_breaker(clock: FakeClock) -> None:
    breaker = tripped(clock)
    clock.now += 30
    await collect(Streams([TextDelta("x"), Finish("stop")]), clock, [], breaker=breaker)
    assert breaker.state == "closed"
