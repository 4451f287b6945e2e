"""The Anthropic Messages wire format (``POST /v1/messages``).

Requests reduce to the same :class:`~core.gateway.request.ChatRequest` as the OpenAI
endpoints: ``text`` and ``image`` blocks (base64 or URL sources), assistant ``tool_use``
blocks and user ``tool_result`` blocks (each one a ``tool`` message), ``tools``,
``tool_choice`` (``disable_parallel_tool_use`` is the parallel-calls flag) and
``metadata.user_id`` (the end user, kept in the ledger). Replies, stream events and
errors take Anthropic's documented shapes.

Two choices where the formats do not line up:

* A ``tool_result`` with ``is_error: true`` reaches the model as its text prefixed
  with ``Error: `` (a message carries no error flag, and every provider understands
  the prefix).
* A tool call whose arguments are not a JSON object (a provider sent broken JSON) is
  answered with ``input`` as the raw argument text, a string, rather than ``{}``:
  nothing is lost, and a client that expects an object fails loudly instead of
  calling the tool with no arguments. Streamed, the same text is the
  ``input_json_delta``. The ledger's record keeps the engine's warning.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from core.content.images import b64decode, image_from_bytes, image_from_url
from core.content.tools import check_cache_control
from core.errors import InputError
from core.gateway.fields import ANTHROPIC_DEFAULTS, refuse_unhonoured
from core.gateway.request import (
    ChatRequest,
    GatewayHTTPError,
    bad_request,
    check_pairs,
    end_user_from,
    input_refused,
    read_json_object,
    sampling_from,
    split_turn,
    temperature_from,
    tools_from,
)
from core.types import Delta, ImagePart, Message, RequestRecord, ToolCall, ToolCallDelta

__all__ = [
    "ERROR_PREFIX",
    "AnthropicFrames",
    "anthropic_error_body",
    "error_event",
    "message_body",
    "message_id",
    "parse_messages_request",
    "tool_input",
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
        "tools",
        "tool_choice",
        "metadata",
    }
)
#: Prefix of a tool result the client marked ``is_error``.
ERROR_PREFIX = "Error: "


def _bad(message: str, param: str | None = None) -> GatewayHTTPError:
    return bad_request(message, param)


# -- requests -----------------------------------------------------------------------


def _text(content: Any, where: str) -> str:
    """Text given as a string or as text blocks (the system prompt, a tool result)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        out = []
        for j, block in enumerate(content):
            kind = block.get("type") if isinstance(block, dict) else None
            if kind != "text":
                at = f"{where}.{j}.type"
                raise _bad(f"{at}: only text blocks are supported here, got {kind!r}", at)
            text = block.get("text")
            if not isinstance(text, str):
                raise _bad(f"{where}.{j}.text: must be a string", f"{where}.{j}.text")
            out.append(text)
        return "".join(out)
    raise _bad(f"{where}: must be a string or an array of text blocks", where)


def _image(block: dict[str, Any], where: str) -> ImagePart:
    source = block.get("source")
    kind = source.get("type") if isinstance(source, dict) else None
    at = f"{where}.source"
    try:
        if kind == "base64":
            assert isinstance(source, dict)
            media = source.get("media_type")
            data = b64decode(source.get("data"), f"{at}.data")
            return image_from_bytes(data, at, media_type=media if isinstance(media, str) else None)
        if kind == "url":
            assert isinstance(source, dict)
            return image_from_url(source.get("url"), at)
    except InputError as e:
        raise input_refused(e) from None
    raise _bad(f"{at}.type: an image source must be base64 or url, got {kind!r}", f"{at}.type")


def _tool_use(block: dict[str, Any], where: str) -> ToolCall:
    cid, name, value = block.get("id"), block.get("name"), block.get("input", {})
    if not isinstance(cid, str) or not cid:
        raise _bad(f"{where}.id: must be a non-empty string", f"{where}.id")
    if not isinstance(name, str) or not name:
        raise _bad(f"{where}.name: must be a non-empty string", f"{where}.name")
    if not isinstance(value, dict):
        raise _bad(f"{where}.input: must be an object", f"{where}.input")
    return ToolCall(cid, name, json.dumps(value, ensure_ascii=False))


def _tool_result(block: dict[str, Any], where: str) -> Message:
    call_id = block.get("tool_use_id")
    if not isinstance(call_id, str) or not call_id:
        raise _bad(f"{where}.tool_use_id: must be a non-empty string", f"{where}.tool_use_id")
    content = block.get("content", "")
    text = _text(content, f"{where}.content")
    is_error = block.get("is_error", False)
    if not isinstance(is_error, bool):
        raise _bad(f"{where}.is_error: must be true or false", f"{where}.is_error")
    return Message("tool", ERROR_PREFIX + text if is_error else text, tool_call_id=call_id)


def _blocks(role: str, content: Any, where: str) -> list[tuple[Message, str]]:
    """One message's blocks as messages, each with where the client put it: a user
    message's tool results come first, one ``tool`` message each, then its text and
    images as one user message."""
    if isinstance(content, str):
        return [(Message(role, content), where)]
    if not isinstance(content, list):
        raise _bad(f"{where}.content: must be a string or an array of blocks", f"{where}.content")
    allowed = ("text", "image", "tool_result") if role == "user" else ("text", "tool_use")
    texts: list[str] = []
    images: list[ImagePart] = []
    calls: list[ToolCall] = []
    results: list[tuple[Message, str]] = []
    mark: dict[str, object] | None = None
    for j, block in enumerate(content):
        at = f"{where}.content.{j}"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind not in allowed or not isinstance(block, dict):
            raise _bad(
                f"{at}.type: {kind!r} blocks are not supported in a {role} message"
                f" (send {', '.join(allowed)})",
                f"{at}.type",
            )
        if block.get("cache_control") is not None:
            mark = _cache_mark(block, at, last=j == len(content) - 1)
        if kind == "text":
            text = block.get("text")
            if not isinstance(text, str):
                raise _bad(f"{at}.text: must be a string", f"{at}.text")
            texts.append(text)
        elif kind == "image":
            images.append(_image(block, at))
        elif kind == "tool_use":
            calls.append(_tool_use(block, at))
        else:
            results.append((_tool_result(block, at), at))
    if texts or images or calls or not results:
        message = Message(role, "".join(texts), images=tuple(images), tool_calls=tuple(calls))
        if mark is not None and block.get("type") == "tool_result":
            at = f"{where}.content.{len(content) - 1}.cache_control"
            raise _bad(f"{at}: {_ONE_MARK} (a tool result goes before the message's text)", at)
        results.append((message, where))
    if mark is not None:
        last, placed = results[-1]
        results[-1] = (replace(last, cache_control=mark), placed)
    return results


_ONE_MARK = "only the last block of a message can carry a cache mark through Centwise"


def _cache_mark(block: dict[str, Any], at: str, *, last: bool) -> dict[str, object]:
    """A block's ``cache_control``, kept as given: on the last block of a message (or
    of the system prompt), where the message's own mark goes."""
    where = f"{at}.cache_control"
    if not last:
        raise _bad(f"{where}: {_ONE_MARK}", where)
    try:
        mark = check_cache_control(block.get("cache_control"), where)
    except InputError as e:
        raise _bad(str(e), where) from None
    assert mark is not None
    return dict(mark)


def _system(content: Any) -> tuple[str, dict[str, object] | None]:
    """The system prompt's text and its cache mark (on its last block), if any."""
    text = _text(content, "system")
    mark = None
    if isinstance(content, list):
        for j, block in enumerate(content):
            if isinstance(block, dict) and block.get("cache_control") is not None:
                mark = _cache_mark(block, f"system.{j}", last=j == len(content) - 1)
    return text, mark


def _conversation(raw: Any) -> list[Message]:
    if not isinstance(raw, list) or not raw:
        raise _bad("messages: must be a non-empty array", "messages")
    placed: list[tuple[Message, str]] = []
    for i, m in enumerate(raw):
        role = m.get("role") if isinstance(m, dict) else None
        if role not in ("user", "assistant"):
            where = f"messages.{i}.role"
            raise _bad(f"{where}: must be user or assistant, got {role!r}", where)
        assert isinstance(m, dict)
        placed.extend(_blocks(role, m.get("content"), f"messages.{i}"))
    turns = [message for message, _ in placed]
    check_pairs(turns, lambda k: placed[k][1])
    return turns


def _metadata(value: Any) -> str | None:
    """``metadata``: only ``user_id`` (the end user) is defined."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _bad("metadata: must be an object", "metadata")
    for key in value:
        if key != "user_id":
            where = f"metadata.{key}"
            raise _bad(f"{where}: unknown field (only user_id is defined)", where)
    return end_user_from(value.get("user_id"), "metadata.user_id")


def _tools(body: dict[str, Any]) -> tuple[Any, ...]:
    choice = body.get("tool_choice")
    parallel = None
    if isinstance(choice, dict) and choice.get("disable_parallel_tool_use") is not None:
        disable = choice["disable_parallel_tool_use"]
        if not isinstance(disable, bool):
            where = "tool_choice.disable_parallel_tool_use"
            raise _bad(f"{where}: must be true or false", where)
        parallel = not disable
    return tools_from(body.get("tools"), choice, parallel)


def parse_messages_request(raw: bytes) -> ChatRequest:
    """Validate a ``/v1/messages`` body; any problem is a 400 naming the field."""
    body = read_json_object(raw)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _bad("model: required (auto, a tier id or a model)", "model")
    max_tokens = body.get("max_tokens")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens <= 0:
        raise _bad(f"max_tokens: a positive integer is required, got {max_tokens!r}", "max_tokens")
    refuse_unhonoured(body, _HONOURED, ANTHROPIC_DEFAULTS, _bad)
    prompt, history, turn, images = split_turn(_conversation(body.get("messages")))
    system = body.get("system")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise _bad("stream: must be true or false", "stream")
    tools, choice, parallel = _tools(body)
    system_text, system_mark = _system(system) if system is not None else (None, None)
    return ChatRequest(
        model=model,
        prompt=prompt,
        system=system_text,
        system_cache_control=system_mark,
        history=history,
        stream=stream,
        include_usage=True,
        max_tokens=max_tokens,
        temperature=temperature_from(body.get("temperature"), high=1),
        sampling=sampling_from(
            body.get("top_p"), body.get("stop_sequences"), None, ("top_p", "stop_sequences", "")
        ),
        images=images,
        turn=turn,
        tools=tools,
        tool_choice=choice,
        parallel_tool_calls=parallel,
        end_user=_metadata(body.get("metadata")),
    )


# -- replies ------------------------------------------------------------------------


def _stop_reason(rec: RequestRecord) -> str:
    reason = (rec.finish_reason or "").lower()
    if reason in ("length", "max_tokens", "max_output_tokens"):
        return "max_tokens"
    return "tool_use" if rec.tool_calls else "end_turn"


def message_id(request_id: str) -> str:
    return "msg_" + request_id.removeprefix("req_")


def tool_input(call: ToolCall) -> object:
    """A call's arguments as ``input``: the JSON object, or (not an object, or not
    JSON at all) the raw text, so nothing the provider sent is lost."""
    try:
        value = call.parsed()
    except ValueError:
        return call.arguments
    return value if isinstance(value, dict) else call.arguments


def _tool_block(call: ToolCall, value: object) -> dict[str, Any]:
    return {"type": "tool_use", "id": call.id, "name": call.name, "input": value}


def message_body(rec: RequestRecord, centwise: dict[str, Any]) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if rec.response or not rec.tool_calls:
        content.append({"type": "text", "text": rec.response})
    content.extend(_tool_block(call, tool_input(call)) for call in rec.tool_calls)
    return {
        "id": message_id(rec.request_id),
        "type": "message",
        "role": "assistant",
        "model": rec.model or "",
        "content": content,
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


def _block_start(index: int, block: dict[str, Any]) -> bytes:
    data = {"type": "content_block_start", "index": index, "content_block": block}
    return _event("content_block_start", data)


def _block_delta(index: int, delta: dict[str, Any]) -> bytes:
    data = {"type": "content_block_delta", "index": index, "delta": delta}
    return _event("content_block_delta", data)


class AnthropicFrames:
    """Anthropic message-stream events for one stream: content blocks numbered in the
    order they open, a text block for text and a ``tool_use`` block per call (its
    arguments as ``input_json_delta``), each closed when the next opens."""

    __slots__ = ("_calls", "_model", "_next", "_open", "_request_id", "_streamed", "_text_at")

    def __init__(self, request_id: str, model: str) -> None:
        self._request_id = request_id
        self._model = model
        self._next = 0  # the index the next block gets
        self._open: int | None = None  # the open block
        self._text_at: int | None = None  # the open block, when it is text
        self._calls: dict[int, int] = {}  # a call's index in the reply -> its block
        self._streamed: set[str] = set()

    def _close(self) -> bytes:
        if self._open is None:
            return b""
        index, self._open, self._text_at = self._open, None, None
        return _event("content_block_stop", {"type": "content_block_stop", "index": index})

    def _begin(self, block: dict[str, Any]) -> tuple[int, bytes]:
        out = self._close()
        index = self._open = self._next
        self._next += 1
        return index, out + _block_start(index, block)

    def start(self, first: Delta | None) -> bytes:
        message: dict[str, Any] = {
            "id": message_id(self._request_id),
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": self._model,
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        out = _event("message_start", {"type": "message_start", "message": message})
        if first is None:
            return out
        return out + (self.delta(first) if isinstance(first, str) else self.tool(first))

    def delta(self, text: str) -> bytes:
        at = self._text_at
        if at is not None:
            return _block_delta(at, {"type": "text_delta", "text": text})
        at, out = self._begin({"type": "text", "text": ""})
        self._text_at = at
        return out + _block_delta(at, {"type": "text_delta", "text": text})

    def tool(self, piece: ToolCallDelta) -> bytes:
        if piece.id is not None:
            self._streamed.add(piece.id)
            block = {"type": "tool_use", "id": piece.id, "name": piece.name or "", "input": {}}
            index, out = self._begin(block)
            self._calls[piece.index] = index
        else:
            found = self._calls.get(piece.index)
            if found is None:  # a piece of a call that never began: nowhere to put it
                return b""
            index, out = found, b""
        if piece.arguments:
            out += _block_delta(
                index, {"type": "input_json_delta", "partial_json": piece.arguments}
            )
        return out

    def end(self, rec: RequestRecord, centwise: dict[str, Any]) -> bytes:
        out = b""
        for call in rec.tool_calls:  # calls the provider gave only whole, at the end
            if call.id not in self._streamed:
                index, begun = self._begin(_tool_block(call, {}))
                out += begun + _block_delta(
                    index, {"type": "input_json_delta", "partial_json": call.arguments}
                )
        if self._next == 0:  # an empty reply is one empty text block
            out += self._begin({"type": "text", "text": ""})[1]
        usage = {"input_tokens": rec.usage.input_tokens, "output_tokens": rec.usage.output_tokens}
        delta = {"stop_reason": _stop_reason(rec), "stop_sequence": None}
        return (
            out
            + self._close()
            + _event(
                "message_delta",
                {"type": "message_delta", "delta": delta, "usage": usage, "centwise": centwise},
            )
            + _event("message_stop", {"type": "message_stop"})
        )

    def error(self, err: GatewayHTTPError) -> bytes:
        return error_event(err)


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
