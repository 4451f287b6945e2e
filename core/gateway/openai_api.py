"""The OpenAI Chat Completions wire format: parsing requests, shaping replies and errors.

Carried: the conversation (text, ``image_url`` parts, assistant ``tool_calls``, ``tool``
results), ``tools``/``tool_choice``/``parallel_tool_calls``, sampling, JSON output,
``reasoning_effort``, and ``user``/``safety_identifier``/``metadata`` (kept in the
ledger). What Centwise cannot honour (``n`` > 1, ``logit_bias``, the legacy
``functions``, audio...) is refused with a 400 naming it rather than silently dropped
(:mod:`core.gateway.fields`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from core.content.images import image_from_url
from core.errors import InputError
from core.gateway.fields import OPENAI_DEFAULTS, refuse_unhonoured
from core.gateway.request import (
    ChatRequest,
    GatewayHTTPError,
    bad_request,
    check_pairs,
    end_user_from,
    input_refused,
    json_output,
    metadata_from,
    positive_int,
    prompt_cache_key_from,
    read_json_object,
    reasoning_effort_from,
    sampling_from,
    split_turn,
    temperature_from,
    tools_from,
)
from core.types import (
    Delta,
    ImagePart,
    Message,
    RequestRecord,
    ResponseFormat,
    ToolCall,
    ToolCallDelta,
)

__all__ = [
    "ContentChunks",
    "OpenAIFrames",
    "completion_body",
    "completion_id",
    "error_body",
    "finish_reason_of",
    "now_s",
    "parse_chat_request",
    "stream_chunk",
    "usage_body",
]

_ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})
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
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "reasoning_effort",
        "user",
        "safety_identifier",
        "metadata",
        "prompt_cache_key",
    }
)
#: Message fields that are refused when set: each would change the conversation.
_MESSAGE_REFUSED = {
    "function_call": "the legacy function_call is not carried: send tool_calls",
    "audio": "audio is not carried",
    "refusal": "a refusal is not carried: send it as content",
}


# -- requests -----------------------------------------------------------------------


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
        raise bad_request(
            f"response_format.type must be text, json_object or json_schema, got {kind!r}",
            "response_format",
        )
    spec = raw.get("json_schema")
    if not isinstance(spec, dict):
        spec = {"schema": None}
    return json_output(
        spec.get("schema"), spec.get("name"), spec.get("strict"), "response_format.json_schema"
    )


def _parts(
    content: Any, where: str, *, images: bool, optional: bool = False
) -> tuple[str, tuple[ImagePart, ...]]:
    """A message's text and images: a string, or an array of ``text`` (and, in a user
    message, ``image_url``) parts; any other part is refused by name."""
    if content is None and optional:
        return "", ()
    if isinstance(content, str):
        return content, ()
    if not isinstance(content, list):
        raise bad_request(f"{where}.content must be a string or an array of content parts", where)
    texts: list[str] = []
    found: list[ImagePart] = []
    for j, part in enumerate(content):
        at = f"{where}.content[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if not isinstance(part, dict):
            raise bad_request(f"{at} must be an object with a type", at)
        if kind == "text":
            text = part.get("text")
            if not isinstance(text, str):
                raise bad_request(f"{at}.text must be a string", f"{at}.text")
            texts.append(text)
        elif kind == "image_url" and images:
            found.append(_image(part.get("image_url"), f"{at}.image_url"))
        else:
            allowed = "text or image_url" if images else "text"
            raise bad_request(
                f"{at}.type: {kind!r} parts are not supported here (send {allowed})",
                f"{at}.type",
            )
    return "".join(texts), tuple(found)


def _image(spec: Any, where: str) -> ImagePart:
    if isinstance(spec, str):  # some clients send the URL bare
        spec = {"url": spec}
    if not isinstance(spec, dict):
        raise bad_request(f"{where} must be an object with a url", where)
    try:
        return image_from_url(spec.get("url"), where, detail=spec.get("detail"))
    except InputError as e:
        raise input_refused(e) from None


def _tool_calls(raw: Any, where: str) -> tuple[ToolCall, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise bad_request(f"{where}.tool_calls must be an array", f"{where}.tool_calls")
    calls = []
    for k, call in enumerate(raw):
        at = f"{where}.tool_calls[{k}]"
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(call, dict) or call.get("type", "function") != "function":
            raise bad_request(f"{at} must be a function call", at)
        cid = call.get("id")
        if not isinstance(cid, str) or not cid:
            raise bad_request(f"{at}.id must be a non-empty string", f"{at}.id")
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise bad_request(f"{at}.function needs a name", f"{at}.function")
        arguments = function.get("arguments", "")
        if not isinstance(arguments, str):
            raise bad_request(
                f"{at}.function.arguments must be a string of JSON", f"{at}.function.arguments"
            )
        calls.append(ToolCall(cid, function["name"], arguments))
    return tuple(calls)


def _message(m: Any, where: str) -> Message:
    if not isinstance(m, dict):
        raise bad_request(f"{where} must be an object", where)
    role = m.get("role")
    if role not in _ROLES:
        hint = " (the legacy function messages are not carried: send tool messages)"
        raise bad_request(
            f"{where}.role {role!r} is not supported{hint if role == 'function' else ''}",
            f"{where}.role",
        )
    for key, why in _MESSAGE_REFUSED.items():
        if m.get(key) is not None:
            raise bad_request(f"{where}.{key}: {why}", f"{where}.{key}")
    name = m.get("name")
    if name is not None and not isinstance(name, str):
        raise bad_request(f"{where}.name must be a string", f"{where}.name")
    if role == "assistant":
        calls = _tool_calls(m.get("tool_calls"), where)
        text, _ = _parts(m.get("content"), where, images=False, optional=bool(calls))
        return Message("assistant", text, name, tool_calls=calls)
    if role == "tool":
        call_id = m.get("tool_call_id")
        if not isinstance(call_id, str) or not call_id:
            raise bad_request(f"{where}.tool_call_id is required", f"{where}.tool_call_id")
        text, _ = _parts(m.get("content"), where, images=False)
        return Message("tool", text, tool_call_id=call_id)
    text, images = _parts(m.get("content"), where, images=role == "user")
    return Message(role, text, name, images=images)


def _messages(raw: Any) -> tuple[str | None, list[Message]]:
    """The system prompt and the conversation; the conversation's tool results are
    checked against its calls (naming ``messages[i]`` as the client numbered it)."""
    if not isinstance(raw, list) or not raw:
        raise bad_request("messages must be a non-empty array", "messages")
    systems: list[str] = []
    turns: list[Message] = []
    at: list[int] = []
    for i, m in enumerate(raw):
        message = _message(m, f"messages[{i}]")
        if message.role in ("system", "developer"):
            systems.append(message.content)
        else:
            turns.append(message)
            at.append(i)
    check_pairs(turns, lambda k: f"messages[{at[k]}]")
    return ("\n\n".join(systems) if systems else None), turns


def _end_user(body: dict[str, Any]) -> str | None:
    user = end_user_from(body.get("user"), "user")
    safety = end_user_from(body.get("safety_identifier"), "safety_identifier")
    if user is not None and safety is not None and user != safety:
        raise bad_request(
            "user and safety_identifier name different end users: send one", "safety_identifier"
        )
    return user or safety


def parse_chat_request(raw: bytes) -> ChatRequest:
    """Validate a ``/v1/chat/completions`` body; any problem is a 400 naming the field."""
    body = read_json_object(raw)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise bad_request("model is required: auto, a tier id or a model", "model")
    refuse_unhonoured(body, _HONOURED, OPENAI_DEFAULTS, bad_request)
    if body.get("n") not in (None, 1):
        raise bad_request(
            f"n: only n=1 is supported (one answer per request), got {body.get('n')!r}", "n"
        )
    system, turns = _messages(body.get("messages"))
    prompt, history, turn, images = split_turn(turns)
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise bad_request("stream must be true or false", "stream")
    options = body.get("stream_options") or {}
    if not isinstance(options, dict):
        raise bad_request("stream_options must be an object", "stream_options")
    tools, choice, parallel = tools_from(
        body.get("tools"), body.get("tool_choice"), body.get("parallel_tool_calls")
    )
    return ChatRequest(
        model=model,
        prompt=prompt,
        system=system,
        history=history,
        stream=stream,
        include_usage=bool(options.get("include_usage", False)),
        max_tokens=positive_int(body, "max_completion_tokens", "max_tokens"),
        temperature=temperature_from(body.get("temperature")),
        sampling=sampling_from(
            body.get("top_p"), body.get("stop"), body.get("seed"), ("top_p", "stop", "seed")
        ),
        response_format=_response_format(body.get("response_format")),
        images=images,
        turn=turn,
        tools=tools,
        tool_choice=choice,
        parallel_tool_calls=parallel,
        reasoning_effort=reasoning_effort_from(body.get("reasoning_effort"), "reasoning_effort"),
        end_user=_end_user(body),
        metadata=metadata_from(body.get("metadata")),
        prompt_cache_key=prompt_cache_key_from(body.get("prompt_cache_key")),
    )


# -- replies ------------------------------------------------------------------------


def finish_reason_of(rec: RequestRecord) -> str:
    reason = (rec.finish_reason or "stop").lower()
    if reason in ("length", "max_tokens", "max_output_tokens"):
        return "length"
    if reason in ("content_filter", "safety"):
        return "content_filter"
    if rec.tool_calls or reason in ("tool_calls", "tool_use"):
        return "tool_calls"
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


def _call_body(call: ToolCall) -> dict[str, Any]:
    function = {"name": call.name, "arguments": call.arguments}
    return {"id": call.id, "type": "function", "function": function}


def completion_body(rec: RequestRecord, created: int, centwise: dict[str, Any]) -> dict[str, Any]:
    """A non-streaming ``chat.completion`` object; ``centwise`` carries tier/cache/cost.
    A reply of tool calls alone has ``content`` null, as OpenAI's has."""
    message: dict[str, Any] = {
        "role": "assistant",
        "content": rec.response if rec.response or not rec.tool_calls else None,
        "refusal": None,
    }
    if rec.tool_calls:
        message["tool_calls"] = [_call_body(c) for c in rec.tool_calls]
    return {
        "id": completion_id(rec.request_id),
        "object": "chat.completion",
        "created": created,
        "model": rec.model or "",
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": finish_reason_of(rec),
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


class ArgumentChunks:
    """Tool-call argument frames (a piece with no id or name) from one template per
    call index, made once: only the arguments are JSON-encoded per piece (the same
    bytes as :func:`stream_chunk` would give)."""

    __slots__ = ("_head", "_templates")

    _MARKER = b'"arguments": ""'

    def __init__(self, request_id: str, model: str, created: int) -> None:
        self._head = (request_id, model, created)
        self._templates: dict[int, tuple[bytes, bytes]] = {}

    def piece(self, index: int, arguments: str) -> bytes:
        template = self._templates.get(index)
        if template is None:
            call = {"index": index, "function": {"arguments": ""}}
            head = stream_chunk(*self._head, delta={"tool_calls": [call]})
            at = head.index(self._MARKER)
            cut = at + len(self._MARKER) - 2
            template = self._templates[index] = (head[:cut], head[at + len(self._MARKER) :])
        prefix, suffix = template
        return prefix + json.dumps(arguments, ensure_ascii=False).encode() + suffix


class OpenAIFrames:
    """``chat.completion.chunk`` frames for one stream. Text deltas come from a
    :class:`ContentChunks` template (the gateway's hot path); tool-call pieces become
    ``delta.tool_calls`` entries, the first of a call with its id, type and name."""

    __slots__ = (
        "_arguments",
        "_created",
        "_include_usage",
        "_model",
        "_request_id",
        "_streamed",
        "delta",
    )

    delta: Callable[[str], bytes]

    def __init__(self, request_id: str, model: str, include_usage: bool) -> None:
        self._request_id = request_id
        self._model = model
        self._created = created = now_s()
        self._include_usage = include_usage
        self._streamed: set[str] = set()
        self.delta = ContentChunks(request_id, model, created).content
        self._arguments = ArgumentChunks(request_id, model, created)

    def _chunk(self, **kw: Any) -> bytes:
        return stream_chunk(self._request_id, self._model, self._created, **kw)

    def start(self, first: Delta | None) -> bytes:
        if isinstance(first, ToolCallDelta):
            return self._chunk(delta={"role": "assistant", "content": None}) + self.tool(first)
        head = self._chunk(delta={"role": "assistant", "content": ""})
        return head if first is None else head + self.delta(first)

    def tool(self, piece: ToolCallDelta) -> bytes:
        if piece.id is None and piece.name is None:  # the common piece: more arguments
            return self._arguments.piece(piece.index, piece.arguments)
        call: dict[str, Any] = {"index": piece.index}
        if piece.id is not None:
            self._streamed.add(piece.id)
            call["id"] = piece.id
            call["type"] = "function"
            call["function"] = {"name": piece.name or "", "arguments": piece.arguments}
        else:
            call["function"] = {"arguments": piece.arguments}
        return self._chunk(delta={"tool_calls": [call]})

    def end(self, rec: RequestRecord, centwise: dict[str, Any]) -> bytes:
        # Calls the provider gave only whole at the end, then the final chunk, the usage
        # chunk if asked for, the closing comment and [DONE], as one write.
        tail = [
            self._chunk(delta={"tool_calls": [{"index": k, **_call_body(call)}]})
            for k, call in enumerate(rec.tool_calls)
            if call.id not in self._streamed
        ]
        tail.append(self._chunk(finish=finish_reason_of(rec), centwise=centwise))
        if self._include_usage:
            tail.append(self._chunk(usage=usage_body(rec), empty_choices=True))
        tail.append(b": centwise " + json.dumps(centwise).encode() + b"\n\ndata: [DONE]\n\n")
        return b"".join(tail)

    def error(self, err: GatewayHTTPError) -> bytes:
        return b"data: " + json.dumps(error_body(err)).encode() + b"\n\n"


def now_s() -> int:
    return int(time.time())


def error_body(err: GatewayHTTPError) -> dict[str, Any]:
    return {
        "error": {"message": err.message, "type": err.type, "param": err.param, "code": err.code}
    }
