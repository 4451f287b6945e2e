"""The HTTP plumbing every real provider shares: timeouts, status and transport errors.

A concrete provider supplies the URLs, headers, request bodies and the pure decoders
(see :mod:`core.providers.wire`); this base turns them into :class:`Provider`
methods and guarantees that only :class:`core.errors.ProviderError` escapes.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, ClassVar

import httpx

from core.errors import (
    ConnectionFailedError,
    MalformedResponseError,
    ProviderError,
    ProviderTimeoutError,
    UnsafeHeaderError,
)
from core.providers.base import Completion, Provider
from core.providers.wire import (
    CallContext,
    StreamDecoder,
    StreamOutcome,
    TokenCounterLike,
    decode_json,
    error_for_status,
    estimate_usage,
    unsafe_header,
)
from core.types import Finish, ProviderEvent, ProviderRequest, UsageReport

__all__ = ["HTTPProvider"]

_MAX_ERROR_BODY = 64 * 1024


def body_chunks(response: httpx.Response) -> AsyncIterator[bytes]:
    """The body of a streamed reply, piece by piece as it arrives (httpx's public API).

    With no ``Content-Encoding`` there is nothing to decode, so ``aiter_raw`` hands over
    the transport's pieces as they are; ``aiter_bytes`` would pass each through a decoder
    that does nothing. An encoded body (gzip, ...) takes ``aiter_bytes``, which decodes it.
    """
    if "content-encoding" in response.headers:
        return response.aiter_bytes()
    return response.aiter_raw()


def _unlink(response: httpx.Response) -> None:
    """Break the reference cycle a streamed response is left in once it is closed.

    The client binds the stream to its response (``response.stream._response`` is the
    response again), so a finished reply, with its request, headers, URL and the
    transport's streams, is garbage only the cyclic collector can free: in a gateway
    with 50 streams open, several thousand such objects built up between collections
    and made each one a pause of 5-50 ms. Swapping the (closed) stream for an empty
    one lets reference counting free it all at once.
    """
    if response.is_closed:
        response.stream = httpx.ByteStream(b"")


class HTTPProvider(Provider):
    """A provider spoken to over HTTP with the injected ``httpx.AsyncClient``."""

    #: The env var the key usually comes from, named in "key rejected" messages.
    default_key_env: ClassVar[str | None] = None
    #: Set by the engine; used to count replies that arrive without usage.
    token_counter: TokenCounterLike | None = None

    # --- what each provider supplies ------------------------------------------------

    @abc.abstractmethod
    def _headers(self) -> dict[str, str]:
        """Auth and version headers for every call."""

    @abc.abstractmethod
    def _chat_call(self, request: ProviderRequest, stream: bool) -> tuple[str, dict[str, Any]]:
        """The URL and JSON body of a chat call."""

    @abc.abstractmethod
    def _stream_decoder(self, ctx: CallContext) -> StreamDecoder:
        """A fresh pure decoder for one streamed reply."""

    @abc.abstractmethod
    def _parse_reply(self, obj: Any, ctx: CallContext) -> StreamOutcome:
        """Decode a non-streamed reply (already JSON-decoded)."""

    def _error_detail(self, obj: Any) -> tuple[str, type[ProviderError] | None]:
        """The message in an error body and, when the body says more than the status, a
        class to use instead. The default understands ``{"error": {"message": ...}}``."""
        err = obj.get("error") if isinstance(obj, dict) else None
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return err["message"], None
        if isinstance(err, str):
            return err, None
        return "", None

    # --- shared machinery -----------------------------------------------------------

    def _ctx(self, model: str | None = None, request_id: str | None = None) -> CallContext:
        secret = self.api_key.reveal() if self.api_key else None
        key_env = self.settings.api_key_env or self.default_key_env
        return CallContext(self.name, model, request_id, secret or None, key_env)

    def _timeout(self) -> httpx.Timeout:
        """The provider's read and connect timeouts; the wait for a free connection is
        the client's own (``[network] pool_timeout_seconds``)."""
        return httpx.Timeout(
            self.settings.timeout_seconds,
            connect=self.settings.connect_timeout_seconds,
            pool=self.client.timeout.pool,
        )

    def _safe_headers(self, ctx: CallContext) -> dict[str, str]:
        """:meth:`_headers`, refused before anything is sent when a value holds CR, LF or
        another control character (a key pasted with its newline would otherwise split
        the request). The error names the header, never its value."""
        headers = self._headers()
        name = unsafe_header(headers)
        if name is not None:
            raise ctx.error(
                UnsafeHeaderError,
                f"refusing to call {ctx.provider}: the {name} header holds a line break or "
                "another control character (check the API key; `centwise keys set "
                f"{ctx.provider}` replaces it); nothing was sent",
            )
        return headers

    def _transport_error(self, exc: Exception, ctx: CallContext) -> ProviderError:
        kind = type(exc).__name__
        if isinstance(exc, httpx.PoolTimeout):
            return ctx.error(
                ProviderTimeoutError,
                f"timed out waiting for a free connection to {ctx.provider} (all of "
                "[network] max_connections are in use)",
            )
        if isinstance(exc, httpx.TimeoutException):
            what = "connecting" if isinstance(exc, httpx.ConnectTimeout) else "waiting for"
            return ctx.error(
                ProviderTimeoutError, f"timed out {what} {ctx.provider} at {self.base_url} ({kind})"
            )
        if isinstance(exc, httpx.TransportError | httpx.InvalidURL):
            return ctx.error(
                ConnectionFailedError,
                f"lost the connection to {ctx.provider} at {self.base_url}: {kind}: {exc}",
            )
        return ctx.error(MalformedResponseError, f"bad reply from {ctx.provider}: {kind}: {exc}")

    def _status_error(
        self, response: httpx.Response, body: bytes, ctx: CallContext
    ) -> ProviderError:
        try:
            obj = decode_json(body, ctx) if body else None
        except ProviderError:
            obj = None
        detail, cls = self._error_detail(obj)
        if not detail and body:
            detail = body.decode("utf-8", "replace").strip()
        return error_for_status(response.status_code, response.headers, detail, ctx, cls)

    @asynccontextmanager
    async def _open(
        self, method: str, url: str, ctx: CallContext, body: dict[str, Any] | None = None
    ) -> AsyncIterator[httpx.Response]:
        """Send a request; yield the 2xx response unread, raise the mapped error otherwise."""
        headers = self._safe_headers(ctx)
        response: httpx.Response | None = None
        try:
            async with self.client.stream(
                method, url, json=body, headers=headers, timeout=self._timeout()
            ) as response:
                if response.status_code >= 300:
                    raw = b""
                    async for part in response.aiter_bytes():
                        raw += part
                        if len(raw) > _MAX_ERROR_BODY:
                            break
                    raise self._status_error(response, raw, ctx)
                yield response
        except ProviderError:
            raise
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise self._transport_error(exc, ctx) from None
        finally:
            if response is not None:
                _unlink(response)

    async def _request_json(
        self, method: str, url: str, ctx: CallContext, body: dict[str, Any] | None = None
    ) -> Any:
        async with self._open(method, url, ctx, body) as response:
            raw = await response.aread()
        return decode_json(raw, ctx)

    def _finish(self, request: ProviderRequest, outcome: StreamOutcome) -> tuple[UsageReport, str]:
        if outcome.usage is not None:
            return UsageReport(outcome.usage), outcome.finish_reason
        usage = estimate_usage(self.token_counter, request.messages, request.model, outcome)
        return UsageReport(usage, estimated=True), outcome.finish_reason

    # --- the Provider interface -----------------------------------------------------

    async def stream(self, request: ProviderRequest) -> AsyncIterator[ProviderEvent]:
        ctx = self._ctx(request.model, request.request_id)
        url, body = self._chat_call(request, stream=True)
        decoder = self._stream_decoder(ctx)
        feed = decoder.feed
        async with self._open("POST", url, ctx, body) as response:
            try:
                async for chunk in body_chunks(response):
                    for delta in feed(chunk):
                        yield delta
            except httpx.HTTPError as exc:
                raise self._transport_error(exc, ctx) from None
        outcome = decoder.close()
        report, reason = self._finish(request, outcome)
        yield report
        yield Finish(reason, outcome.tool_calls)

    async def complete(self, request: ProviderRequest) -> Completion:
        ctx = self._ctx(request.model, request.request_id)
        url, body = self._chat_call(request, stream=False)
        outcome = self._parse_reply(await self._request_json("POST", url, ctx, body), ctx)
        report, reason = self._finish(request, outcome)
        return Completion(outcome.text, report.usage, report.estimated, reason, outcome.tool_calls)
