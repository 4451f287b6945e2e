"""The Anthropic Messages wire format (``POST /v1/messages``), text only.

Requests reduce to the same :class:`~core.gateway.openai_api.ChatRequest` as the
OpenAI endpoint; replies, stream events and errors take Anthropic's documented shapes.
"""

from __future__ import annotations

import json
from typing import Any

from core.gateway.fields import ANTHROPIC_DEFAULTS, refuse_unhonoured
from core.gateway.openai_api import (
    ChatRequest,
    GatewayHTTPError,
    read_json_object,
    sampling_from,
)
from core.types import Message, RequestRecord, Sampling

__all__ = [
    "anthropic_error_body",
    "message_body",
    "message_events_end",
    "message_events_start",
    "parse_messages_request",
    "text_delta_event",
]


#: The fields a Messages request is read for; any other is refused unless at its default.
_HONOURED = frozenset(
    {
        "model",
        "max_tokens",
        "messages",
        "system",
        "temperature",
        "stream",
        "top_p",
        "stop_sequences",
    }
)


def _bad(message: str) -> GatewayHTTPError:
    return GatewayHTTPError(400, message)


def _text(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        out = []
        for block in content:
            if not isinstance(block, dict) or block.get("type") != "text":
                kind = block.get("type") if isinstance(block, dict) else type(block).__name__
                raise _bad(f"{where}: only text blocks are supported, got {kind!r}")
            text = block.get("text")
            if not isinstance(text, str):
                raise _bad(f"{where}: a text block needs a string 'text'")
            out.append(text)
        return "".join(out)
    raise _bad(f"{where}: content must be a string or an array of text blocks")


def parse_messages_request(raw: bytes) -> ChatRequest:
    """Validate a ``/v1/messages`` body; any problem is a 400 naming the field."""
    body = read_json_object(raw)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _bad("model: required (auto, a tier id or a model)")
    max_tokens = body.get("max_tokens")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens <= 0:
        raise _bad(f"max_tokens: a positive integer is required, got {max_tokens!r}")
    refuse_unhonoured(body, _HONOURED, ANTHROPIC_DEFAULTS, lambda message, _: _bad(message))
    raw_messages = body.get("messages")
    if not isinstance(raw_messages, list) or not raw_messages:
        raise _bad("messages: must be a non-empty array")
    turns = []
    for i, m in enumerate(raw_messages):
        role = m.get("role") if isinstance(m, dict) else None
        if role not in ("user", "assistant"):
            raise _bad(f"messages.{i}.role: must be user or assistant, got {role!r}")
        turns.append(Message(role, _text(m.get("content"), f"messages.{i}.content")))
    if turns[-1].role != "user":
        raise _bad("messages: the last message must be from the user")
    system = body.get("system")
    temperature = body.get("temperature")
    if temperature is not None and (
        isinstance(temperature, bool)
        or not isinstance(temperature, int | float)
        or not 0 <= temperature <= 1
    ):
        raise _bad(f"temperature: must be a number from 0 to 1, got {temperature!r}")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise _bad("stream: must be true or false")
    return ChatRequest(
        model=model,
        prompt=turns[-1].content,
        system=_text(system, "system") if system is not None else None,
        history=tuple(turns[:-1]),
        stream=stream,
        include_usage=True,
        max_tokens=max_tokens,
        temperature=None if temperature is None else float(temperature),
        sampling=_sampling(body),
    )


def _sampling(body: dict[str, Any]) -> Sampling:
    try:
        stops = body.get("stop_sequences")
        names = ("top_p", "stop_sequences", "")
        return sampling_from(body.get("top_p"), stops, None, names, max_stops=64)
    except GatewayHTTPError as e:
        raise _bad(f"{e.message}") from None


def _stop_reason(rec: RequestRecord) -> str:
    reason = (rec.finish_reason or "").lower()
    return "max_tokens" if reason in ("length", "max_tokens", "max_output_tokens") else "end_turn"


def message_id(request_id: str) -> str:
    return "msg_" + request_id.removeprefix("req_")


def message_body(rec: RequestRecord, centwise: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": message_id(rec.request_id),
        "type": "message",
        "role": "assistant",
        "model": rec.model or "",
        "content": [{"type": "text", "text": rec.response}],
        "stop_reason": _stop_reason(rec),
        "stop_sequence": None,
        "usage": {
            "input_tokens": rec.usage.input_tokens,
            "output_tokens": rec.usage.output_tokens,
            "cache_read_input_tokens": rec.usage.cached_input_tokens,
        },
        "centwise": centwise,
    }


def _event(name: str, data: dict[str, Any]) -> bytes:
    return (
        f"event: {name}\ndata: ".encode() + json.dumps(data, ensure_ascii=False).encode() + b"\n\n"
    )


def message_events_start(request_id: str, model: str) -> bytes:
    start: dict[str, Any] = {
        "id": message_id(request_id),
        "type": "message",
        "role": "assistant",
        "content": [],
        "model": model,
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 0, "output_tokens": 0},
    }
    block = {"type": "text", "text": ""}
    return _event("message_start", {"type": "message_start", "message": start}) + _event(
        "content_block_start", {"type": "content_block_start", "index": 0, "content_block": block}
    )


def text_delta_event(text: str) -> bytes:
    delta = {"type": "text_delta", "text": text}
    return _event(
        "content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}
    )


def message_events_end(rec: RequestRecord, centwise: dict[str, Any]) -> bytes:
    usage = {"input_tokens": rec.usage.input_tokens, "output_tokens": rec.usage.output_tokens}
    delta = {"stop_reason": _stop_reason(rec), "stop_sequence": None}
    return (
        _event("content_block_stop", {"type": "content_block_stop", "index": 0})
        + _event(
            "message_delta",
            {"type": "message_delta", "delta": delta, "usage": usage, "centwise": centwise},
        )
        + _event("message_stop", {"type": "message_stop"})
    )


_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
}


def anthropic_error_body(err: GatewayHTTPError) -> dict[str, Any]:
    """Anthropic's error shape; ``centwise_code`` keeps Centwise's own code."""
    kind = _TYPES.get(err.status, "api_error")
    return {
        "type": "error",
        "error": {"type": kind, "message": err.message, "centwise_code": err.code},
    }


def error_event(err: GatewayHTTPError) -> bytes:
    return _event("error", anthropic_error_body(err))


__all__ += ["error_event", "message_id"]
