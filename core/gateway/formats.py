"""The API formats the gateway speaks, as adapters for its one request path.

:mod:`core.gateway.app` authorizes, reads, asks the engine, streams or collects, logs
and records every request the same way; a :class:`WireFormat` supplies only what its
format does differently: the parser, the body of a plain reply, the error shape and,
per stream, the SSE frames (:class:`StreamFrames`). The wire details themselves live in
:mod:`core.gateway.openai_api` and :mod:`core.gateway.anthropic_api`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Protocol

from core.gateway.anthropic_api import (
    anthropic_error_body,
    error_event,
    message_body,
    message_events_end,
    message_events_start,
    parse_messages_request,
    text_delta_event,
)
from core.gateway.openai_api import (
    ChatRequest,
    ContentChunks,
    GatewayHTTPError,
    completion_body,
    error_body,
    finish_reason_of,
    now_s,
    parse_chat_request,
    stream_chunk,
    usage_body,
)
from core.types import RequestRecord

__all__ = [
    "ANTHROPIC",
    "OPENAI",
    "AnthropicFormat",
    "AnthropicFrames",
    "OpenAIFormat",
    "OpenAIFrames",
    "StreamFrames",
    "WireFormat",
]


class StreamFrames(Protocol):
    """The SSE bytes of one stream: its opening, one frame per text delta, its close
    (with the record and its ``centwise`` summary) or an error in its place."""

    @property
    def delta(self) -> Callable[[str], bytes]:
        """Frames one text delta. Read once per stream and called for every delta, so
        it is the encoder itself, not a method that forwards to it."""
        ...

    def start(self) -> bytes: ...

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

    def reply_body(self, rec: RequestRecord, centwise: dict[str, Any]) -> dict[str, Any]: ...

    def frames(self, request_id: str, model: str, req: ChatRequest) -> StreamFrames: ...


# -- OpenAI Chat Completions ------------------------------------------------------


class OpenAIFrames:
    """``chat.completion.chunk`` frames for one stream; deltas come from a
    :class:`ContentChunks` template (the gateway's hot path)."""

    __slots__ = ("_created", "_include_usage", "_model", "_request_id", "delta")

    delta: Callable[[str], bytes]

    def __init__(self, request_id: str, model: str, include_usage: bool) -> None:
        self._request_id = request_id
        self._model = model
        self._created = created = now_s()
        self._include_usage = include_usage
        self.delta = ContentChunks(request_id, model, created).content

    def start(self) -> bytes:
        delta = {"role": "assistant", "content": ""}
        return stream_chunk(self._request_id, self._model, self._created, delta=delta)

    def end(self, rec: RequestRecord, centwise: dict[str, Any]) -> bytes:
        # The final chunk, the usage chunk if asked for, the closing comment and [DONE]
        # are ready together, so they go out as one write.
        rid, model, created = self._request_id, self._model, self._created
        tail = [stream_chunk(rid, model, created, finish=finish_reason_of(rec), centwise=centwise)]
        if self._include_usage:
            tail.append(
                stream_chunk(rid, model, created, usage=usage_body(rec), empty_choices=True)
            )
        tail.append(b": centwise " + json.dumps(centwise).encode() + b"\n\ndata: [DONE]\n\n")
        return b"".join(tail)

    def error(self, err: GatewayHTTPError) -> bytes:
        return b"data: " + json.dumps(error_body(err)).encode() + b"\n\n"


class OpenAIFormat:
    """``POST /v1/chat/completions``."""

    __slots__ = ()

    x_api_key = False

    def parse(self, raw: bytes) -> ChatRequest:
        return parse_chat_request(raw)

    def error_body(self, err: GatewayHTTPError) -> dict[str, Any]:
        return error_body(err)

    def reply_body(self, rec: RequestRecord, centwise: dict[str, Any]) -> dict[str, Any]:
        return completion_body(rec, now_s(), centwise)

    def frames(self, request_id: str, model: str, req: ChatRequest) -> OpenAIFrames:
        return OpenAIFrames(request_id, model, req.include_usage)


# -- Anthropic Messages -----------------------------------------------------------


class AnthropicFrames:
    """Anthropic message-stream events for one stream."""

    __slots__ = ("_model", "_request_id")

    # A plain function, so the per-delta call goes straight to the encoder.
    delta = staticmethod(text_delta_event)

    def __init__(self, request_id: str, model: str) -> None:
        self._request_id = request_id
        self._model = model

    def start(self) -> bytes:
        return message_events_start(self._request_id, self._model)

    def end(self, rec: RequestRecord, centwise: dict[str, Any]) -> bytes:
        return message_events_end(rec, centwise)

    def error(self, err: GatewayHTTPError) -> bytes:
        return error_event(err)


class AnthropicFormat:
    """``POST /v1/messages`` (text only)."""

    __slots__ = ()

    # Anthropic clients send their key as x-api-key.
    x_api_key = True

    def parse(self, raw: bytes) -> ChatRequest:
        return parse_messages_request(raw)

    def error_body(self, err: GatewayHTTPError) -> dict[str, Any]:
        return anthropic_error_body(err)

    def reply_body(self, rec: RequestRecord, centwise: dict[str, Any]) -> dict[str, Any]:
        return message_body(rec, centwise)

    def frames(self, request_id: str, model: str, req: ChatRequest) -> AnthropicFrames:
        return AnthropicFrames(request_id, model)


#: The adapters (stateless), one per format.
OPENAI = OpenAIFormat()
ANTHROPIC = AnthropicFormat()
