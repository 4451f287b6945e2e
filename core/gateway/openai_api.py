"""The OpenAI Chat Completions wire format: parsing requests, shaping replies and errors.

Only what a chat request needs is read; fields Centwise cannot honour yet (tools,
``logit_bias``..., ``n`` > 1, non-text content) are refused with a 400 naming them
rather than silently dropped (:mod:`core.gateway.fields`).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from core.errors import (
    AuthenticationError,
    BadRequestError,
    BudgetError,
    BudgetExceededError,
    CentwiseError,
    CircuitOpenError,
    ConfigError,
    ConnectionFailedError,
    ContentFilteredError,
    InputError,
    InputTokenLimitError,
    MalformedResponseError,
    OverloadedError,
    ProviderTimeoutError,
    RateLimitError,
)
from core.gateway.fields import OPENAI_DEFAULTS, refuse_unhonoured
from core.types import (
    NO_SAMPLING,
    Message,
    RequestRecord,
    ResponseFormat,
    Sampling,
    SamplingValueError,
    parse_sampling,
)

__all__ = [
    "ChatRequest",
    "GatewayHTTPError",
    "completion_body",
    "error_body",
    "error_for",
    "parse_chat_request",
    "read_json_object",
    "sampling_from",
    "stream_chunk",
    "usage_body",
]

_ROLES = frozenset({"system", "developer", "user", "assistant"})
#: The fields a chat request is read for; any other is refused unless at its default
#: (:mod:`core.gateway.fields`).
_HONOURED = frozenset(
    {
        "model",
        "messages",
        "stream",
        "stream_options",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "n",
        "top_p",
        "stop",
        "seed",
        "response_format",
    }
)


class GatewayHTTPError(Exception):
    """An error the gateway answers with directly (status, OpenAI type and code)."""

    def __init__(
        self,
        status: int,
        message: str,
        type_: str = "invalid_request_error",
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.code = code


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """One chat completion request, reduced to what :meth:`Engine.ask` takes."""

    model: str
    prompt: str
    system: str | None
    history: tuple[Message, ...]
    stream: bool
    include_usage: bool
    max_tokens: int | None
    temperature: float | None
    sampling: Sampling = NO_SAMPLING
    response_format: ResponseFormat | None = None


def _response_format(raw: Any) -> ResponseFormat | None:
    """``response_format``: text (the default), a JSON object, or a JSON Schema."""
    if raw is None:
        return None
    kind = raw.get("type") if isinstance(raw, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return ResponseFormat()
    if kind != "json_schema":
        raise _bad(
            f"response_format.type must be text, json_object or json_schema, got {kind!r}",
            "response_format",
        )
    spec = raw.get("json_schema")
    schema = spec.get("schema") if isinstance(spec, dict) else None
    name = spec.get("name", "response") if isinstance(spec, dict) else None
    strict = spec.get("strict", False) if isinstance(spec, dict) else None
    if not isinstance(schema, dict) or not isinstance(name, str) or not isinstance(strict, bool):
        raise _bad(
            "response_format.json_schema needs a 'schema' object, a 'name' string and"
            " an optional 'strict' boolean",
            "response_format",
        )
    return ResponseFormat(schema=schema, name=name, strict=strict)


def sampling_from(
    top_p: Any, stop: Any, seed: Any, names: tuple[str, str, str], *, max_stops: int = 4
) -> Sampling:
    """Validated sampling settings; ``names`` are the fields as the client's API spells
    them (top_p, stop, seed), so a 400 names the field the client sent."""
    try:
        return parse_sampling(top_p, stop, seed, max_stops=max_stops)
    except SamplingValueError as e:
        field = names[("top_p", "stop", "seed").index(e.setting)]
        raise _bad(f"{field} {e.message}", field) from None


def _bad(message: str, param: str | None = None) -> GatewayHTTPError:
    return GatewayHTTPError(400, message, code=param and f"invalid_{param}")


def _text(content: Any, where: str) -> str:
    """A message's text: a string, or an array of ``{"type": "text"}`` parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text":
                kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                raise _bad(f"{where}: only text content is supported, got {kind!r}", "content")
            text = part.get("text")
            if not isinstance(text, str):
                raise _bad(f"{where}: a text part needs a string 'text'", "content")
            parts.append(text)
        return "".join(parts)
    raise _bad(f"{where}: content must be a string or an array of text parts", "content")


def _int_field(body: dict[str, Any], *names: str) -> int | None:
    for name in names:
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise _bad(f"{name} must be a positive integer, got {value!r}", name)
        return value
    return None


def _temperature(body: dict[str, Any]) -> float | None:
    value = body.get("temperature")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 2:
        raise _bad(f"temperature must be a number from 0 to 2, got {value!r}", "temperature")
    return float(value)


def _messages(raw: Any) -> tuple[str | None, list[Message]]:
    if not isinstance(raw, list) or not raw:
        raise _bad("messages must be a non-empty array", "messages")
    systems: list[str] = []
    turns: list[Message] = []
    for i, m in enumerate(raw):
        if not isinstance(m, dict):
            raise _bad(f"messages[{i}] must be an object", "messages")
        role = m.get("role")
        if role not in _ROLES:
            raise _bad(f"messages[{i}].role {role!r} is not supported", "messages")
        text = _text(m.get("content"), f"messages[{i}]")
        if role in ("system", "developer"):
            systems.append(text)
        else:
            turns.append(Message(role, text))
    return ("\n\n".join(systems) if systems else None), turns


def read_json_object(raw: bytes) -> dict[str, Any]:
    """A request body as a JSON object, or a 400 that says what is wrong with it."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise _bad("the request body is not valid JSON") from None
    except RecursionError:
        raise _bad("the request body is nested too deeply to be a chat request") from None
    if not isinstance(body, dict):
        raise _bad("the request body must be a JSON object")
    return body


def parse_chat_request(raw: bytes) -> ChatRequest:
    """Validate a ``/v1/chat/completions`` body; any problem is a 400 naming the field."""
    body = read_json_object(raw)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _bad("model is required: auto, a tier id or a model", "model")
    refuse_unhonoured(body, _HONOURED, OPENAI_DEFAULTS, _bad)
    if body.get("n") not in (None, 1):
        raise _bad("only n=1 is supported", "n")
    system, turns = _messages(body.get("messages"))
    if not turns or turns[-1].role != "user":
        raise _bad("the last message must be from the user", "messages")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise _bad("stream must be true or false", "stream")
    options = body.get("stream_options") or {}
    if not isinstance(options, dict):
        raise _bad("stream_options must be an object", "stream_options")
    return ChatRequest(
        model=model,
        prompt=turns[-1].content,
        system=system,
        history=tuple(turns[:-1]),
        stream=stream,
        include_usage=bool(options.get("include_usage", False)),
        max_tokens=_int_field(body, "max_completion_tokens", "max_tokens"),
        temperature=_temperature(body),
        sampling=sampling_from(
            body.get("top_p"), body.get("stop"), body.get("seed"), ("top_p", "stop", "seed")
        ),
        response_format=_response_format(body.get("response_format")),
    )


def _finish_reason(rec: RequestRecord) -> str:
    reason = (rec.finish_reason or "stop").lower()
    if reason in ("length", "max_tokens", "max_output_tokens"):
        return "length"
    if reason in ("content_filter", "safety"):
        return "content_filter"
    return "stop"


def usage_body(rec: RequestRecord) -> dict[str, Any]:
    u = rec.usage
    return {
        "prompt_tokens": u.input_tokens,
        "completion_tokens": u.output_tokens,
        "total_tokens": u.input_tokens + u.output_tokens,
        "prompt_tokens_details": {"cached_tokens": u.cached_input_tokens},
        "completion_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
    }


def completion_id(request_id: str) -> str:
    return "chatcmpl-" + request_id.removeprefix("req_")


def completion_body(rec: RequestRecord, created: int, centwise: dict[str, Any]) -> dict[str, Any]:
    """A non-streaming ``chat.completion`` object; ``centwise`` carries tier/cache/cost."""
    return {
        "id": completion_id(rec.request_id),
        "object": "chat.completion",
        "created": created,
        "model": rec.model or "",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": rec.response, "refusal": None},
                "logprobs": None,
                "finish_reason": _finish_reason(rec),
            }
        ],
        "usage": usage_body(rec),
        "centwise": centwise,
    }


def stream_chunk(
    request_id: str,
    model: str,
    created: int,
    *,
    delta: dict[str, Any] | None = None,
    finish: str | None = None,
    usage: dict[str, Any] | None = None,
    centwise: dict[str, Any] | None = None,
    empty_choices: bool = False,
) -> bytes:
    """One ``chat.completion.chunk`` SSE frame."""
    obj: dict[str, Any] = {
        "id": completion_id(request_id),
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": []
        if empty_choices
        else [{"index": 0, "delta": delta or {}, "logprobs": None, "finish_reason": finish}],
    }
    if usage is not None or empty_choices:
        obj["usage"] = usage
    if centwise is not None:
        obj["centwise"] = centwise
    return b"data: " + json.dumps(obj, ensure_ascii=False).encode() + b"\n\n"


class ContentChunks:
    """Content-delta frames for one stream, from a template made once: only the text
    is JSON-encoded per delta (the same bytes as :func:`stream_chunk` would give)."""

    def __init__(self, request_id: str, model: str, created: int) -> None:
        head = stream_chunk(request_id, model, created, delta={"content": ""})
        marker = b'"content": ""'
        at = head.index(marker)
        self._prefix = head[: at + len(b'"content": ')]
        self._suffix = head[at + len(marker) :]

    def content(self, text: str) -> bytes:
        return self._prefix + json.dumps(text, ensure_ascii=False).encode() + self._suffix


def finish_reason_of(rec: RequestRecord) -> str:
    return _finish_reason(rec)


def now_s() -> int:
    return int(time.time())


# -- errors ---------------------------------------------------------------------

#: (status, OpenAI error type) per Centwise error class, most specific first.
_ERROR_MAP: tuple[tuple[type[CentwiseError], int, str], ...] = (
    (BudgetExceededError, 429, "insufficient_quota"),
    (InputTokenLimitError, 400, "invalid_request_error"),
    (BudgetError, 429, "insufficient_quota"),
    (InputError, 400, "invalid_request_error"),
    (ConfigError, 500, "server_error"),
    (RateLimitError, 429, "rate_limit_error"),
    (CircuitOpenError, 503, "server_error"),
    (OverloadedError, 503, "server_error"),
    (ProviderTimeoutError, 504, "server_error"),
    (AuthenticationError, 502, "upstream_error"),
    (ConnectionFailedError, 502, "upstream_error"),
    (MalformedResponseError, 502, "upstream_error"),
    (ContentFilteredError, 400, "invalid_request_error"),
    (BadRequestError, 400, "invalid_request_error"),
)


def error_for(err: CentwiseError) -> GatewayHTTPError:
    """The HTTP answer for an engine error; a budget refusal is a 429 that says why."""
    for cls, status, type_ in _ERROR_MAP:
        if isinstance(err, cls):
            return GatewayHTTPError(status, str(err), type_, err.kind)
    return GatewayHTTPError(502, str(err), "upstream_error", err.kind)


def error_body(err: GatewayHTTPError) -> dict[str, Any]:
    return {"error": {"message": err.message, "type": err.type, "param": None, "code": err.code}}


__all__ += ["ContentChunks", "completion_id", "finish_reason_of", "now_s"]
