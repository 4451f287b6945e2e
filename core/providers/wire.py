"""Wire-level helpers shared by the HTTP providers: pure functions over bytes and JSON.

Nothing here touches the network, so every decoder can be fuzzed without a server.
Every failure becomes a :class:`core.errors.ProviderError` subclass carrying the
provider, model and request id of the call (see :class:`CallContext`).
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

from core.errors import (
    AuthenticationError,
    BadRequestError,
    MalformedResponseError,
    OverloadedError,
    ProviderError,
    RateLimitError,
)
from core.types import (
    Message,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
)

__all__ = [
    "CallContext",
    "NDJSONReader",
    "SSEEvent",
    "SSEParser",
    "StreamDecoder",
    "StreamOutcome",
    "TokenCounterLike",
    "decode_json",
    "error_for_status",
    "estimate_tokens",
    "get_int",
    "get_list",
    "get_map",
    "get_str",
    "parse_retry_after",
    "unsafe_header",
]

_MAX_ECHO = 300


@dataclass(frozen=True, slots=True)
class CallContext:
    """Who is being called, so every error names it; ``secret`` is only for redaction."""

    provider: str
    model: str | None = None
    request_id: str | None = None
    secret: str | None = None
    key_env: str | None = None

    def redact(self, text: str) -> str:
        """``text`` with any occurrence of the API key replaced, cut to a readable length."""
        if self.secret:
            text = text.replace(self.secret, "***")
        return text if len(text) <= _MAX_ECHO else text[:_MAX_ECHO] + "…"

    def error(
        self,
        cls: type[ProviderError],
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> ProviderError:
        """Build ``cls`` with this call's context; the message is redacted first."""
        if self.secret:
            message = message.replace(self.secret, "***")
        return cls(
            message,
            status=status,
            retry_after=retry_after,
            provider=self.provider,
            model=self.model,
            request_id=self.request_id,
        )

    def malformed(self, what: str) -> ProviderError:
        where = f"{self.provider}/{self.model}" if self.model else self.provider
        return self.error(MalformedResponseError, f"malformed reply from {where}: {what}")


# --- JSON ---------------------------------------------------------------------------


def _stdlib_fast(data: str) -> Any:
    obj, end = _raw_decode(data)
    if end != len(data):
        raise ValueError("trailing data")
    return obj


_raw_decode = json.JSONDecoder().raw_decode
try:  # an optional accelerator: ~2-3x faster on stream chunks
    import msgspec

    _fast_decode: Any = msgspec.json.Decoder().decode
    _FAST_ERRORS: tuple[type[Exception], ...] = (msgspec.MsgspecError, ValueError, RecursionError)
except ImportError:  # pragma: no cover - depends on the environment
    _fast_decode = _stdlib_fast
    _FAST_ERRORS = (ValueError,)


def decode_json(data: bytes | str, ctx: CallContext) -> Any:
    """``json.loads`` that raises :class:`MalformedResponseError` naming the provider."""
    if isinstance(data, str):
        # The fast path only ever accepts; whatever it refuses, json.loads below settles
        # exactly as it always would (whitespace, NaN, errors and their messages).
        try:
            return _fast_decode(data)
        except _FAST_ERRORS:
            pass
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        # ValueError covers JSONDecodeError and UnicodeDecodeError of bytes input.
        shown = data if isinstance(data, str) else data.decode("utf-8", "replace")
        raise ctx.malformed(f"not valid JSON: {ctx.redact(shown)!r}") from None


def get_map(obj: Any, key: str, ctx: CallContext, *, required: bool = False) -> dict[str, Any]:
    """``obj[key]`` as a JSON object; missing/null gives ``{}`` unless ``required``."""
    value = obj.get(key) if isinstance(obj, dict) else None
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise ctx.malformed(f"expected an object at {key!r}, got {type(value).__name__}")
    return value


def get_list(obj: Any, key: str, ctx: CallContext, *, required: bool = False) -> list[Any]:
    """``obj[key]`` as a JSON array; missing/null gives ``[]`` unless ``required``."""
    value = obj.get(key) if isinstance(obj, dict) else None
    if value is None and not required:
        return []
    if not isinstance(value, list):
        raise ctx.malformed(f"expected an array at {key!r}, got {type(value).__name__}")
    return value


def get_str(obj: Any, key: str, ctx: CallContext) -> str | None:
    """``obj[key]`` as a string, or None when missing/null."""
    value = obj.get(key) if isinstance(obj, dict) else None
    if value is None or isinstance(value, str):
        return value
    raise ctx.malformed(f"expected a string at {key!r}, got {type(value).__name__}")


def get_int(obj: Any, key: str, ctx: CallContext) -> int | None:
    """``obj[key]`` as a non-negative token count, or None when missing/null."""
    value = obj.get(key) if isinstance(obj, dict) else None
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ctx.malformed(f"expected a token count at {key!r}, got {value!r}")
    return value


# --- SSE ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One dispatched server-sent event (``event`` defaults to ``message``)."""

    data: str
    event: str = "message"
    id: str | None = None


class SSEParser:
    """Incremental ``text/event-stream`` parser following the WHATWG algorithm.

    Feed it raw bytes as they arrive; it returns the events completed so far.
    :meth:`close` raises :class:`MalformedResponseError` when the stream stopped in
    the middle of an event (the last event was never terminated by a blank line).
    """

    __slots__ = ("_buf", "_ctx", "_data", "_event", "_id", "_skip_lf", "_started", "idle")

    def __init__(self, ctx: CallContext) -> None:
        self._ctx = ctx
        self._buf = b""
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None
        self._skip_lf = False
        self._started = False
        #: Started, and nothing pending: the next chunk starts afresh at an event boundary.
        self.idle = False

    def whole_events(self, chunk: bytes) -> tuple[list[bytes], bytes, int] | None:
        """The hot path: when what is pending (at most the start of an event) and ``chunk``
        together are whole one-line ``data: …`` events (default event name, no CR)
        followed by at most the start of another, ``(payloads, buf, end)``: the events'
        data as raw bytes, in order; the pending bytes and ``chunk`` together; and where
        the whole events end in it. Otherwise None, and the caller must use :meth:`feed`.

        Streams send whole events per read almost always, but a transport that reads a
        fixed size (aiohttp) cuts them anywhere; both take this path. Changes no state:
        the caller then calls :meth:`resume` with ``buf`` and the offset it got to, or
        :meth:`feed` with the same chunk.
        """
        if not self._started or self._data or self._event or self._skip_lf:
            return None
        buf = self._buf + chunk if self._buf else chunk
        end = buf.rfind(b"\n\n") + 2
        if end < 2 or 13 in buf:  # no whole event, or a CR somewhere (13: CR)
            return None
        if buf.find(10) == end - 2:  # one event, the common case (10: LF)
            return ([buf[6 : end - 2]], buf, end) if buf[:6] == b"data: " else None
        # Several: "data: …", "", "data: …", "", …, "", "" once split at each LF.
        lines = buf[:end].split(b"\n")
        if any(lines[1::2]):
            return None
        events = lines[0:-1:2]
        payloads = [line[6:] for line in events if line[:6] == b"data: "]
        return (payloads, buf, end) if len(payloads) == len(events) else None

    def resume(self, buf: bytes, offset: int) -> list[SSEEvent]:
        """After :meth:`whole_events`: the caller used the events in ``buf`` up to
        ``offset`` (an event boundary); parse the rest as :meth:`feed` would."""
        self._buf = b""
        self.idle = True
        return self.feed(buf[offset:]) if offset < len(buf) else []

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Parse ``chunk``; return the events it completed."""
        self.idle = False
        if self._skip_lf and chunk:
            # The previous chunk ended in CR: an LF now is the second half of a CRLF.
            self._skip_lf = False
            chunk = chunk.removeprefix(b"\n")
        buf = self._buf + chunk if self._buf else chunk
        if not self._started:
            if len(buf) < 3 and b"\xef\xbb\xbf".startswith(buf):
                self._buf = buf
                return []
            self._started = True
            buf = buf.removeprefix(b"\xef\xbb\xbf")
        if b"\r" in buf:
            self._skip_lf = buf.endswith(b"\r")
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = buf.split(b"\n")
        self._buf = lines.pop()
        events = self._lines_list(lines)
        self.idle = not (self._buf or self._data or self._event or self._skip_lf)
        return events

    def _lines_list(self, lines: list[bytes]) -> list[SSEEvent]:
        out: list[SSEEvent] = []
        data = self._data
        for line in lines:
            if line.startswith(b"data: "):  # the hot path: one data line per event
                data.append(line[6:].decode("utf-8", "replace"))
            elif not line:
                if data:
                    out.append(SSEEvent("\n".join(data), self._event or "message", self._id))
                    data.clear()
                self._event = ""
            else:
                self._field(line)
        return out

    def _field(self, line: bytes) -> None:
        if line.startswith(b":"):
            return  # a comment, used as keep-alive
        name, colon, value = line.partition(b":")
        if colon and value.startswith(b" "):
            value = value[1:]
        text = value.decode("utf-8", "replace")
        if name == b"data":
            self._data.append(text)
        elif name == b"event":
            self._event = text
        elif name == b"id" and "\0" not in text:
            self._id = text
        # "retry" and unknown fields are ignored, as the spec says.

    def close(self) -> None:
        """The stream ended: raise if an event or a line was left unfinished."""
        if (self._buf and not self._buf.startswith(b":")) or self._data:
            raise self._ctx.malformed("the event stream was cut off in the middle of an event")


# --- NDJSON ---------------------------------------------------------------------------


class NDJSONReader:
    """Incremental newline-delimited JSON: returns each complete, non-blank line."""

    __slots__ = ("_buf", "_ctx")

    def __init__(self, ctx: CallContext) -> None:
        self._ctx = ctx
        self._buf = b""

    def feed(self, chunk: bytes) -> list[Any]:
        buf = self._buf + chunk if self._buf else chunk
        lines = buf.split(b"\n")
        self._buf = lines.pop()
        return [decode_json(line, self._ctx) for line in lines if line.strip()]

    def close(self) -> list[Any]:
        """The stream ended: a last line without a newline is still parsed."""
        rest, self._buf = self._buf, b""
        return [decode_json(rest, self._ctx)] if rest.strip() else []


# --- stream decoding contract ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StreamOutcome:
    """What a finished reply amounted to. ``usage`` is None when the provider sent none;
    then ``input_tokens``/``output_tokens`` keep whichever count it did send."""

    text: str
    usage: Usage | None
    finish_reason: str
    input_tokens: int | None = None
    output_tokens: int | None = None
    #: The reply's tool calls, whole, in order (arguments as the provider sent them).
    tool_calls: tuple[ToolCall, ...] = ()


class StreamDecoder(Protocol):
    """A provider's pure stream decoder: bytes in, text and tool-call deltas out, the
    outcome (with the whole tool calls) at the end."""

    def feed(self, chunk: bytes) -> list[TextDelta | ToolCallDelta]: ...

    def close(self) -> StreamOutcome: ...


class _Count(Protocol):
    @property
    def tokens(self) -> int: ...


class TokenCounterLike(Protocol):
    """What the engine may inject as ``provider.token_counter`` (core.accounting.tokens.TokenCounter)."""

    def count_text(self, text: str, model: str) -> _Count: ...

    def count_messages(self, messages: Any, model: str) -> _Count: ...


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate: one token per four UTF-8 bytes, rounded up."""
    return math.ceil(len(text.encode("utf-8")) / 4)


def estimate_usage(
    counter: TokenCounterLike | None,
    messages: tuple[Message, ...],
    model: str,
    outcome: StreamOutcome,
) -> Usage:
    """Count a reply that came without (full) usage, with ``counter`` when there is one.

    Counts the provider did report (``outcome.input_tokens``/``output_tokens``) are kept.
    """
    given_in, given_out = outcome.input_tokens, outcome.output_tokens
    if given_in is None:
        if counter is not None:
            given_in = counter.count_messages(messages, model).tokens
        else:
            given_in = sum(estimate_tokens(m.content) for m in messages)
    if given_out is None:
        if counter is not None:
            given_out = counter.count_text(outcome.text, model).tokens
        else:
            given_out = estimate_tokens(outcome.text)
    return Usage(input_tokens=given_in, output_tokens=given_out)


__all__ += ["estimate_usage"]


# --- HTTP status and headers ----------------------------------------------------------

#: What a header value may not hold (RFC 9110 field values): control characters other
#: than horizontal tab, CR and LF above all (they would end the header or the request).
_UNSAFE_IN_HEADER = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def unsafe_header(headers: Mapping[str, str]) -> str | None:
    """The name of the first header whose value holds a control character, or None."""
    for name, value in headers.items():
        if _UNSAFE_IN_HEADER.search(value):
            return name
    return None


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or HTTP-date)."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        try:
            ms = float(raw_ms)
        except ValueError:
            ms = math.nan
        if math.isfinite(ms) and ms >= 0:
            return ms / 1000
    raw = headers.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    return max(0.0, seconds) if math.isfinite(seconds) else None


def error_for_status(
    status: int,
    headers: Mapping[str, str],
    detail: str,
    ctx: CallContext,
    cls: type[ProviderError] | None = None,
) -> ProviderError:
    """Map an HTTP error status (and the provider's own ``detail``) to an error.

    ``cls`` overrides the status-based class when the body said more (e.g. an
    Anthropic ``overloaded_error`` or an OpenAI ``context_length_exceeded``).
    """
    retry_after = parse_retry_after(headers)
    if (status in (401, 403) and cls is None) or cls is AuthenticationError:
        env = f" or the env var {ctx.key_env}" if ctx.key_env else ""
        message = (
            f"the key was rejected by {ctx.provider} (HTTP {status}); set it with "
            f"`centwise keys set {ctx.provider}`{env}"
        )
        return ctx.error(AuthenticationError, message, status=status)
    if cls is None:
        if status == 429:
            cls = RateLimitError
        elif status in (408, 409) or status >= 500:
            cls = OverloadedError
        elif 400 <= status < 500:
            cls = BadRequestError
        else:
            cls = ProviderError
    what = f": {ctx.redact(detail)}" if detail else ""
    message = f"{ctx.provider} answered HTTP {status}{what}"
    return ctx.error(cls, message, status=status, retry_after=retry_after)
