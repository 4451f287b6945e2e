"""Checks every provider must pass, shared by the ``test_provider_<kind>.py`` files."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any

import httpx
import pytest

from core.errors import (
    AuthenticationError,
    BadRequestError,
    ConnectionFailedError,
    MalformedResponseError,
    OverloadedError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
)
from core.providers.base import Provider
from core.types import Finish, Message, ProviderRequest, TextDelta, Usage, UsageReport
from tests.integration.servers import Behaviour, LoopbackServer, make_provider
from tests.integration.servers.fixtures import TEST_KEY

__all__ = ["FAULTS", "Fault", "Reply", "check_fault", "check_rejected_key", "request", "run"]


def request(model: str = "m-1", max_tokens: int = 77, **kw: Any) -> ProviderRequest:
    messages = kw.pop("messages", (Message("system", "Be brief."), Message("user", "Say hello.")))
    return ProviderRequest("req-42", model, messages, max_tokens, **kw)


@dataclass
class Reply:
    text: str
    usage: Usage | None
    estimated: bool
    finish: str | None
    deltas: int


async def run(provider: Provider, req: ProviderRequest, stream: bool) -> Reply:
    """Call ``provider`` either way; for streams, also check the event order."""
    if not stream:
        c = await provider.complete(req)
        return Reply(c.text, c.usage, c.usage_estimated, c.finish_reason, 0)
    events = [e async for e in provider.stream(req)]
    assert isinstance(events[-1], Finish) and isinstance(events[-2], UsageReport), events
    assert all(isinstance(e, TextDelta) for e in events[:-2]), events
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    report = events[-2]
    return Reply(text, report.usage, report.estimated, events[-1].reason, len(events) - 2)


@dataclass(frozen=True)
class Fault:
    """A scripted failure, the error it must become and the retry_after it carries."""

    name: str
    make: Callable[[], Behaviour]
    error: type[ProviderError]
    retry_after: tuple[float, float] | None = None
    stream_only: bool = False


def _http_date(seconds_ahead: int) -> str:
    return formatdate(time.time() + seconds_ahead, usegmt=True)


FAULTS = [
    Fault(
        "429_seconds",
        lambda: Behaviour(status=429, headers={"Retry-After": "7"}),
        RateLimitError,
        (7, 7),
    ),
    Fault(
        "429_http_date",
        lambda: Behaviour(status=429, headers={"Retry-After": _http_date(30)}),
        RateLimitError,
        # The date is whole seconds, taken when the fault is queued: under a loaded CI
        # box seconds pass before the reply is parsed (one run read 26.94).
        (20, 30.5),
    ),
    Fault(
        "429_retry_after_ms",
        lambda: Behaviour(status=429, headers={"retry-after-ms": "1500", "Retry-After": "9"}),
        RateLimitError,
        (1.5, 1.5),
    ),
    Fault("500", lambda: Behaviour(status=500), OverloadedError),
    Fault(
        "503", lambda: Behaviour(status=503, headers={"Retry-After": "2"}), OverloadedError, (2, 2)
    ),
    Fault("529", lambda: Behaviour(status=529), OverloadedError),
    Fault("400", lambda: Behaviour(status=400, error="bad field"), BadRequestError),
    Fault("404", lambda: Behaviour(status=404, error="no such model"), BadRequestError),
    Fault("reset_mid_reply", lambda: Behaviour(reset_after=2), ConnectionFailedError),
    Fault("read_timeout", lambda: Behaviour(delay=1.5), ProviderTimeoutError),
    Fault(
        "stall_mid_stream",
        lambda: Behaviour(stall_after=2, stall=1.5),
        ProviderTimeoutError,
        stream_only=True,
    ),
    Fault("malformed_json", lambda: Behaviour(malformed=True), MalformedResponseError),
    Fault(
        "truncated_event",
        lambda: Behaviour(truncate_after=2),
        MalformedResponseError,
        stream_only=True,
    ),
    Fault(
        "non_json_error_body",
        lambda: Behaviour(status=502, body=b"<html>Bad gateway</html>"),
        OverloadedError,
    ),
]


def fault_params() -> list[Any]:
    """(fault, stream) pairs for ``pytest.mark.parametrize``."""
    out = []
    for fault in FAULTS:
        for stream in (True, False):
            if stream or not fault.stream_only:
                out.append(
                    pytest.param(
                        fault, stream, id=f"{fault.name}-{'stream' if stream else 'complete'}"
                    )
                )
    return out


__all__ += ["fault_params"]


async def check_fault(
    kind: str, server: LoopbackServer, client: httpx.AsyncClient, fault: Fault, stream: bool
) -> None:
    """The fault becomes exactly ``fault.error``, with context and retry_after."""
    behaviour = fault.make()
    behaviour.text = "one two three four five six seven"  # enough frames for mid-stream faults
    server.queue(behaviour)
    provider = make_provider(kind, server, client, timeout_seconds=0.4)
    with pytest.raises(ProviderError) as info:
        await run(provider, request(), stream)
    err = info.value
    assert type(err) is fault.error, repr(err)
    assert (err.provider, err.model, err.request_id) == (kind, "m-1", "req-42")
    assert TEST_KEY not in str(err)
    if fault.retry_after is None:
        assert err.retry_after is None
    else:
        low, high = fault.retry_after
        assert err.retry_after is not None and low <= err.retry_after <= high, err.retry_after


async def check_rejected_key(
    kind: str, server: LoopbackServer, client: httpx.AsyncClient, env_var: str | None, stream: bool
) -> None:
    """A 401 says the key was rejected and how to fix it, and never shows the key,
    even when the provider echoes it back."""
    server.queue(Behaviour(status=401, error=f"Incorrect API key provided: {TEST_KEY}"))
    provider = make_provider(kind, server, client)
    with pytest.raises(AuthenticationError) as info:
        await run(provider, request(), stream)
    message = str(info.value)
    assert f"the key was rejected by {kind}" in message
    assert f"centwise keys set {kind}" in message
    if env_var:
        assert env_var in message
    assert TEST_KEY not in message and TEST_KEY not in repr(info.value.args)
    assert info.value.status == 401
