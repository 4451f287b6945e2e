"""The OpenAI Responses wire format (``POST /v1/responses``): requests and replies.

``input`` is a string or a list of items: ``message`` items (``input_text`` and
``input_image`` parts; an assistant's ``output_text``), ``function_call`` items (the
model's earlier calls, joined to the assistant message before them) and
``function_call_output`` items (tool results). ``instructions`` is the system prompt;
``tools`` are function tools in the flat shape, ``text.format`` asks for JSON output,
``reasoning.effort`` is the reasoning effort, ``user``/``safety_identifier`` and
``metadata`` are kept in the ledger.

The gateway keeps no responses: ``previous_response_id``, ``conversation`` and
``store: true`` are refused by name, as are built-in tools (``web_search``...), so
the client sends the whole conversation each time. The stream's events are in
:mod:`core.gateway.responses_stream`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from core.content.images import image_from_url
from core.errors import InputError
from core.gateway.fields import RESPONSES_DEFAULTS, refuse_unhonoured
from core.gateway.request import (
    ChatRequest,
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
from core.types import ImagePart, Message, RequestRecord, ResponseFormat, Tool, ToolCall

__all__ = [
    "call_item",
    "message_item",
    "output_items",
    "parse_responses_request",
    "response_id",
    "response_object",
    "response_status",
]

#: The fields a Responses request is read for; any other is refused unless at its
#: default (:mod:`core.gateway.fields`).
_HONOURED = frozenset(
    {
        "model",
        "input",
        "instructions",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "max_output_tokens",
        "temperature",
        "top_p",
        "text",
        "reasoning",
        "user",
        "safety_identifier",
        "metadata",
        "prompt_cache_key",
        "stream",
        # Its one option, include_obfuscation, pads events against side channels on
        # the open internet; the gateway's loopback stream has none to pad.
        "stream_options",
    }
)
_SYSTEM_ROLES = ("system", "developer")


# -- requests -----------------------------------------------------------------------


def _parts(content: Any, role: str, where: str) -> tuple[str, tuple[ImagePart, ...]]:
    """A message item's text and images. Users send ``input_text`` and
    ``input_image``; an assistant message passed back carries ``output_text``."""
    if isinstance(content, str):
        return content, ()
    if not isinstance(content, list):
        at = f"{where}.content"
        raise bad_request(f"{at} must be a string or an array of content parts", at)
    allowed = ("input_text", "input_image") if role == "user" else ("input_text",)
    if role == "assistant":
        allowed = ("output_text", "input_text")
    texts: list[str] = []
    images: list[ImagePart] = []
    for j, part in enumerate(content):
        at = f"{where}.content[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind not in allowed or not isinstance(part, dict):
            raise bad_request(
                f"{at}.type: {kind!r} parts are not supported in a {role} message"
                f" (send {' or '.join(allowed)})",
                f"{at}.type",
            )
        if kind == "input_image":
            images.append(_image(part, at))
            continue
        text = part.get("text")
        if not isinstance(text, str):
            raise bad_request(f"{at}.text must be a string", f"{at}.text")
        texts.append(text)
    return "".join(texts), tuple(images)


def _image(part: dict[str, Any], where: str) -> ImagePart:
    if part.get("file_id") is not None:
        at = f"{where}.file_id"
        raise bad_request(f"{at}: images by file id are not supported; send image_url", at)
    try:
        return image_from_url(part.get("image_url"), where, detail=part.get("detail"))
    except InputError as e:
        raise input_refused(e) from None


def _string(item: dict[str, Any], name: str, where: str) -> str:
    value = item.get(name)
    if not isinstance(value, str) or not value:
        raise bad_request(f"{where}.{name} must be a non-empty string", f"{where}.{name}")
    return value


def _output_text(output: Any, where: str) -> str:
    """A ``function_call_output``'s output: a string or ``input_text`` parts."""
    if isinstance(output, str):
        return output
    text, _ = _parts(output, "tool", where.removesuffix(".output"))
    return text


class _Conversation:
    """Input items as messages, each remembering the item it came from."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.at: list[str] = []
        self.systems: list[str] = []

    def add(self, message: Message, where: str) -> None:
        self.messages.append(message)
        self.at.append(where)

    def call(self, call: ToolCall, where: str) -> None:
        # Calls right after an assistant message (or each other) are that message's.
        last = self.messages[-1] if self.messages else None
        if last is not None and last.role == "assistant":
            self.messages[-1] = replace(last, tool_calls=(*last.tool_calls, call))
        else:
            self.add(Message("assistant", "", tool_calls=(call,)), where)


def _item(conv: _Conversation, item: Any, where: str) -> None:
    if not isinstance(item, dict):
        raise bad_request(f"{where} must be an object", where)
    kind = item.get("type", "message")
    if kind == "message":
        role = item.get("role")
        if role not in ("user", "assistant", *_SYSTEM_ROLES):
            at = f"{where}.role"
            raise bad_request(f"{at} must be user, assistant, system or developer", at)
        text, images = _parts(item.get("content"), role, where)
        if role in _SYSTEM_ROLES:
            conv.systems.append(text)
        else:
            conv.add(Message(role, text, images=images), where)
    elif kind == "function_call":
        arguments = item.get("arguments", "")
        if not isinstance(arguments, str):
            raise bad_request(f"{where}.arguments must be a string of JSON", f"{where}.arguments")
        call_id, name = _string(item, "call_id", where), _string(item, "name", where)
        conv.call(ToolCall(call_id, name, arguments), where)
    elif kind == "function_call_output":
        call_id = _string(item, "call_id", where)
        text = _output_text(item.get("output"), f"{where}.output")
        conv.add(Message("tool", text, tool_call_id=call_id), where)
    else:
        at = f"{where}.type"
        raise bad_request(
            f"{at}: {kind!r} items are not supported (send message, function_call or"
            " function_call_output items)",
            at,
        )


def _input(raw: Any, instructions: Any) -> tuple[str | None, list[Message]]:
    if instructions is not None and not isinstance(instructions, str):
        raise bad_request("instructions must be a string", "instructions")
    conv = _Conversation()
    if instructions:
        conv.systems.append(instructions)
    if isinstance(raw, str):
        conv.add(Message("user", raw), "input")
    elif isinstance(raw, list) and raw:
        for i, item in enumerate(raw):
            _item(conv, item, f"input[{i}]")
    else:
        raise bad_request("input must be a string or a non-empty array of items", "input")
    check_pairs(conv.messages, lambda k: conv.at[k])
    return ("\n\n".join(conv.systems) if conv.systems else None), conv.messages


def _text_format(text: Any) -> tuple[ResponseFormat | None, dict[str, Any]]:
    """``text.format`` as JSON output, and the ``text`` to echo."""
    if text is None:
        return None, {"format": {"type": "text"}}
    if not isinstance(text, dict):
        raise bad_request("text must be an object", "text")
    for key, value in text.items():
        if key != "format" and value is not None:
            where = f"text.{key}"
            raise bad_request(f"{where} is not supported by the Centwise gateway", where)
    fmt = text.get("format") or {"type": "text"}
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "text":
        return None, {"format": fmt}
    if kind == "json_object":
        return ResponseFormat(), {"format": fmt}
    if kind == "json_schema":
        assert isinstance(fmt, dict)
        spec = json_output(fmt.get("schema"), fmt.get("name"), fmt.get("strict"), "text.format")
        return spec, {"format": fmt}
    raise bad_request(
        f"text.format.type must be text, json_object or json_schema, got {kind!r}",
        "text.format.type",
    )


def _reasoning(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise bad_request("reasoning must be an object", "reasoning")
    for key, item in value.items():
        if key != "effort" and item is not None:
            where = f"reasoning.{key}"
            raise bad_request(f"{where} is not supported by the Centwise gateway", where)
    return reasoning_effort_from(value.get("effort"), "reasoning.effort")


def _tool_echo(tool: Tool) -> dict[str, Any]:
    return {
        "type": "function",
        "name": tool.name,
        "description": tool.description or None,
        "parameters": dict(tool.parameters),
        "strict": tool.strict,
    }


def parse_responses_request(raw: bytes) -> ChatRequest:
    """Validate a ``/v1/responses`` body; any problem is a 400 naming the field."""
    body = read_json_object(raw)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise bad_request("model is required: auto, a tier id or a model", "model")
    refuse_unhonoured(body, _HONOURED, RESPONSES_DEFAULTS, bad_request)
    system, messages = _input(body.get("input"), body.get("instructions"))
    prompt, history, turn, images = split_turn(messages, "input")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise bad_request("stream must be true or false", "stream")
    tools, choice, parallel = tools_from(
        body.get("tools"), body.get("tool_choice"), body.get("parallel_tool_calls")
    )
    response_format, text = _text_format(body.get("text"))
    effort = _reasoning(body.get("reasoning"))
    user = end_user_from(body.get("user"), "user")
    safety = end_user_from(body.get("safety_identifier"), "safety_identifier")
    metadata = metadata_from(body.get("metadata"))
    max_tokens = positive_int(body, "max_output_tokens")
    temperature = temperature_from(body.get("temperature"))
    sampling = sampling_from(body.get("top_p"), None, None, ("top_p", "", ""))
    echo = {
        "instructions": body.get("instructions"),
        "max_output_tokens": max_tokens,
        "parallel_tool_calls": True if parallel is None else parallel,
        "reasoning": {"effort": effort, "summary": None},
        "temperature": temperature,
        "text": text,
        "tool_choice": body.get("tool_choice") or "auto",
        "tools": [_tool_echo(t) for t in tools],
        "top_p": sampling.top_p,
        "user": user,
        "safety_identifier": safety,
        "metadata": metadata or {},
    }
    return ChatRequest(
        model=model,
        prompt=prompt,
        system=system,
        history=history,
        stream=stream,
        include_usage=True,
        max_tokens=max_tokens,
        temperature=temperature,
        sampling=sampling,
        response_format=response_format,
        images=images,
        turn=turn,
        tools=tools,
        tool_choice=choice,
        parallel_tool_calls=parallel,
        reasoning_effort=effort,
        end_user=user or safety,
        metadata=metadata,
        prompt_cache_key=prompt_cache_key_from(body.get("prompt_cache_key")),
        echo=echo,
    )


# -- replies ------------------------------------------------------------------------


def response_id(request_id: str) -> str:
    return "resp_" + request_id.removeprefix("req_")


def message_item(item_id: str, text: str, status: str = "completed") -> dict[str, Any]:
    content = [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]
    return {
        "type": "message",
        "id": item_id,
        "status": status,
        "role": "assistant",
        "content": content if status == "completed" else [],
    }


def call_item(item_id: str, call: ToolCall, status: str = "completed") -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": item_id,
        "call_id": call.id,
        "name": call.name,
        "arguments": call.arguments if status == "completed" else "",
        "status": status,
    }


def output_items(rec: RequestRecord) -> list[dict[str, Any]]:
    """A reply's output: its text as one message, then one item per tool call."""
    rid = rec.request_id.removeprefix("req_")
    out = []
    if rec.response or not rec.tool_calls:
        out.append(message_item(f"msg_{rid}", rec.response))
    out.extend(call_item(f"fc_{rid}_{k}", call) for k, call in enumerate(rec.tool_calls))
    return out


def response_status(rec: RequestRecord) -> tuple[str, dict[str, str] | None]:
    """``completed``, or ``incomplete`` with why (the token limit, a content filter)."""
    reason = (rec.finish_reason or "").lower()
    if reason in ("length", "max_tokens", "max_output_tokens"):
        return "incomplete", {"reason": "max_output_tokens"}
    if reason in ("content_filter", "safety"):
        return "incomplete", {"reason": "content_filter"}
    return "completed", None


def _usage(rec: RequestRecord) -> dict[str, Any]:
    u = rec.usage
    return {
        "input_tokens": u.input_tokens,
        "input_tokens_details": {
            "cached_tokens": u.cached_input_tokens,
            "cache_write_tokens": u.cache_write_tokens,
        },
        "output_tokens": u.output_tokens,
        "output_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
        "total_tokens": u.input_tokens + u.output_tokens,
    }


def response_object(
    request_id: str,
    model: str,
    created_at: float,
    echo: dict[str, Any],
    output: list[dict[str, Any]],
    rec: RequestRecord | None = None,
    centwise: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A ``response`` object: in progress until ``rec`` (the finished request) is given."""
    status, incomplete = response_status(rec) if rec is not None else ("in_progress", None)
    body: dict[str, Any] = {
        "id": response_id(request_id),
        "object": "response",
        "created_at": created_at,
        "status": status,
        "error": None,
        "incomplete_details": incomplete,
        "model": model,
        "output": output,
        "previous_response_id": None,
        "store": False,
        "truncation": "disabled",
        "usage": _usage(rec) if rec is not None else None,
        **echo,
    }
    if rec is not None and status == "completed":
        body["completed_at"] = rec.finished_at
    if centwise is not None:
        body["centwise"] = centwise
    return body
