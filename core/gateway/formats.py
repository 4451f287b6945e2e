"""The API formats the gateway speaks, as adapters for its one request path.

:mod:`core.gateway.app` authorizes, reads, asks the engine, streams or collects, logs
and records every request the same way; a :class:`WireFormat` supplies only what its
format does differently: the parser, the body of a plain reply, the error shape and,
per stream, the SSE frames (:class:`StreamFrames`). The wire details themselves live in
:mod:`core.gateway.openai_api`, :mod:`core.gateway.anthropic_api` and
:mod:`core.gateway.responses_api`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from core.gateway.anthropic_api import (
    AnthropicFrames,
    anthropic_error_body,
    message_body,
    parse_messages_request,
)
from core.gateway.openai_api import (
    OpenAIFrames,
    completion_body,
    error_body,
    now_s,
    parse_chat_request,
)
from core.gateway.request import ChatRequest, GatewayHTTPError
from core.gateway.responses_api import output_items, parse_responses_request, response_object
from core.gateway.responses_stream import ResponsesFrames
from core.types import Delta, RequestRecord, ToolCallDelta

__all__ = [
    "ANTHROPIC",
    "OPENAI",
    "RESPONSES",
    "AnthropicFormat",
    "OpenAIFormat",
    "ResponsesFormat",
    "StreamFrames",
    "WireFormat",
]


class StreamFrames(Protocol):
    """The SSE bytes of one stream: its opening (with the first piece of the reply),
    one frame per text delta or tool-call piece, its close (with the record and its
    ``centwise`` summary) or an error in its place."""

    @property
    def delta(self) -> Callable[[str], bytes]:
        """Frames one text delta. Read once per stream and called for every delta, so
        it is the encoder itself, not a method that forwards to it."""
        ...

    def start(self, first: Delta | None) -> bytes: ...

    def tool(self, piece: ToolCallDelta) -> bytes: ...

    def end(self, rec: RequestRecord, centwise: dict[str, Any]) -> bytes: ...

    def error(self, err: GatewayHTTPError) -> bytes: ...


class WireFormat(Protocol):
    """One API format: what the gateway's shared request path asks of it."""

    @property
    def x_api_key(self) -> bool:
        """Whether the gateway token may also come as ``x-api-key``."""
        ...

    def parse(self, raw: bytes) -> ChatRequest: ...

    def error_body(self, err: GatewayHTTPError) -> dict[str, Any]: ...

    def reply_body(
        self, rec: RequestRecord, centwise: dict[str, Any], req: ChatRequest
    ) -> dict[str, Any]: ...

    def frames(self, request_id: str, model: str, req: ChatRequest) -> StreamFrames: ...


class OpenAIFormat:
    """``POST /v1/chat/completions``."""

    __slots__ = ()

    x_api_key = False

    def parse(self, raw: bytes) -> ChatRequest:
        return parse_chat_request(raw)

    def error_body(self, err: GatewayHTTPError) -> dict[str, Any]:
        return error_body(err)

    def reply_body(
        self, rec: RequestRecord, centwise: dict[str, Any], req: ChatRequest
    ) -> dict[str, Any]:
        return completion_body(rec, now_s(), centwise)

    def frames(self, request_id: str, model: str, req: ChatRequest) -> OpenAIFrames:
        return OpenAIFrames(request_id, model, req.include_usage)


class AnthropicFormat:
    """``POST /v1/messages``."""

    __slots__ = ()

    # Anthropic clients send their key as x-api-key.
    x_api_key = True

    def parse(self, raw: bytes) -> ChatRequest:
        return parse_messages_request(raw)

    def error_body(self, err: GatewayHTTPError) -> dict[str, Any]:
        return anthropic_error_body(err)

    def reply_body(
        self, rec: RequestRecord, centwise: dict[str, Any], req: ChatRequest
    ) -> dict[str, Any]:
        return message_body(rec, centwise)

    def frames(self, request_id: str, model: str, req: ChatRequest) -> AnthropicFrames:
        return AnthropicFrames(request_id, model)


class ResponsesFormat:
    """``POST /v1/responses`` (OpenAI's Responses API, without stored responses)."""

    __slots__ = ()

    x_api_key = False

    def parse(self, raw: bytes) -> ChatRequest:
        return parse_responses_request(raw)

    def error_body(self, err: GatewayHTTPError) -> dict[str, Any]:
        return error_body(err)

    def reply_body(
        self, rec: RequestRecord, centwise: dict[str, Any], req: ChatRequest
    ) -> dict[str, Any]:
        return response_object(
            rec.request_id,
            rec.model or req.model,
            rec.started_at,
            dict(req.echo),
            output_items(rec),
            rec,
            centwise,
        )

    def frames(self, request_id: str, model: str, req: ChatRequest) -> ResponsesFrames:
        return ResponsesFrames(request_id, model, req)


#: The adapters (stateless), one per format.
OPENAI = OpenAIFormat()
ANTHROPIC = AnthropicFormat()
RESPONSES = ResponsesFormat()
