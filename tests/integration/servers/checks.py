"""What each provider refuses in a chat body: tools, tool calls, tool results, images.

Each ``*_refusal`` returns the reason the real API would answer the body with a 400
(as its docs state the rule), or None when it would take it. A body without tools or
images always passes, so the plain-text tests see no difference.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

__all__ = [
    "MAX_CACHE_MARKS",
    "anthropic_refusal",
    "gemini_refusal",
    "image_type",
    "ollama_refusal",
    "openai_refusal",
]

_MAGIC = {
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
}


def image_type(data: object) -> str | None:
    """The media type of base64 ``data`` by its magic bytes; None when it is not
    base64 of a PNG, JPEG, GIF or WebP image."""
    if not isinstance(data, str):
        return None
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None
    if raw[:4] == b"RIFF" and raw[8:12] == b"WEBP":
        return "image/webp"
    return next((kind for magic, kind in _MAGIC.items() if raw.startswith(magic)), None)


def _data_url(url: object) -> str | None:
    """Why a ``data:`` or http(s) image URL is refused, or None."""
    if not isinstance(url, str):
        return "image_url.url must be a string"
    if url.startswith(("http://", "https://")):
        return None
    head, _, payload = url.partition(",")
    if not (head.startswith("data:image/") and head.endswith(";base64")):
        return f"invalid image URL {url[:40]!r}"
    if image_type(payload) != head[5:-7]:
        return f"the data URL says {head[5:-7]} but holds {image_type(payload)}"
    return None


def _function_names(tools: Any, key: str) -> set[str] | str:
    """The names of OpenAI-shaped tools, or why they are refused."""
    if not isinstance(tools, list) or not tools:
        return f"{key} must be a non-empty array"
    names = set()
    for n, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) else None
        if tool.get("type") != "function" or not isinstance(function, dict):
            return f"{key}[{n}] must be {{'type': 'function', 'function': {{...}}}}"
        if not isinstance(function.get("name"), str):
            return f"{key}[{n}].function.name must be a string"
        if not isinstance(function.get("parameters", {}), dict):
            return f"{key}[{n}].function.parameters must be an object"
        names.add(function["name"])
    return names


# --- OpenAI Chat Completions ---------------------------------------------------------


def openai_refusal(body: Any) -> str | None:
    if not isinstance(body, dict):
        return None
    names: set[str] = set()
    if "tools" in body:
        found = _function_names(body["tools"], "tools")
        if isinstance(found, str):
            return found
        names = found
    for key in ("tool_choice", "parallel_tool_calls"):
        if key in body and not names:
            return f"{key} is only allowed when 'tools' are specified"
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("function", {}).get("name") not in names:
        return f"tool_choice names no tool: {choice!r}"
    if choice is not None and not isinstance(choice, dict | str):
        return f"invalid tool_choice {choice!r}"
    if isinstance(choice, str) and choice not in ("auto", "none", "required"):
        return f"invalid tool_choice {choice!r}"
    return _openai_messages(body.get("messages"))


def _openai_messages(messages: Any) -> str | None:
    pending: list[str] = []  # calls of the last assistant message still without a result
    for i, m in enumerate(messages if isinstance(messages, list) else []):
        role = m.get("role")
        if pending and role != "tool":
            return (
                "An assistant message with 'tool_calls' must be followed by tool messages "
                f"responding to each 'tool_call_id' (messages[{i}]; missing {pending})"
            )
        if role == "tool":
            if m.get("tool_call_id") not in pending:
                return f"messages[{i}]: a tool message answers no preceding tool call"
            pending.remove(m["tool_call_id"])
        elif role == "assistant" and m.get("tool_calls"):
            for call in m["tool_calls"]:
                function = call.get("function", {})
                if call.get("type") != "function" or not isinstance(call.get("id"), str):
                    return f"messages[{i}].tool_calls: each needs an id and type function"
                if not isinstance(function.get("arguments"), str):
                    return f"messages[{i}].tool_calls: arguments must be a JSON string"
                pending.append(call["id"])
        problem = _openai_content(m.get("content"), role)
        if problem:
            return f"messages[{i}]: {problem}"
    return f"tool calls without results: {pending}" if pending else None


def _openai_content(content: Any, role: Any) -> str | None:
    if not isinstance(content, list):
        return None
    for part in content:
        if part.get("type") == "text" and isinstance(part.get("text"), str):
            continue
        if part.get("type") != "image_url" or role != "user":
            return f"invalid content part {part.get('type')!r} in a {role} message"
        image = part.get("image_url", {})
        if image.get("detail", "auto") not in ("auto", "low", "high"):
            return f"invalid detail {image.get('detail')!r}"
        problem = _data_url(image.get("url"))
        if problem:
            return problem
    return None


# --- Anthropic Messages ----------------------------------------------------------------


#: Anthropic's limit on ``cache_control`` marks in one request.
MAX_CACHE_MARKS = 4


def anthropic_refusal(body: Any) -> str | None:
    if not isinstance(body, dict):
        return None
    marks = _anthropic_marks(body)
    if marks > MAX_CACHE_MARKS:
        return (
            f"A maximum of {MAX_CACHE_MARKS} blocks with cache_control may be provided. "
            f"Found {marks}."
        )
    names: set[str] = set()
    for n, tool in enumerate(body.get("tools") or []):
        schema = tool.get("input_schema")
        if not isinstance(tool.get("name"), str) or not isinstance(schema, dict):
            return f"tools.{n}: a tool needs a name and an input_schema"
        if schema.get("type") != "object":
            return f"tools.{n}.input_schema.type: Input should be 'object'"
        names.add(tool["name"])
    choice = body.get("tool_choice")
    if choice is not None:
        if not names:
            return "tool_choice may only be specified while providing tools"
        if choice.get("type") not in ("auto", "any", "tool", "none"):
            return f"tool_choice.type: invalid {choice.get('type')!r}"
        if choice.get("type") == "tool" and choice.get("name") not in names:
            return f"tool_choice.name: no tool named {choice.get('name')!r}"
    return _anthropic_messages(body.get("messages"), bool(names))


def _anthropic_marks(body: dict[str, Any]) -> int:
    """How many blocks (tools, system blocks, message blocks) carry ``cache_control``."""
    system, messages = body.get("system"), body.get("messages")
    blocks = list(body.get("tools") or []) + (system if isinstance(system, list) else [])
    for m in messages if isinstance(messages, list) else []:
        content = m.get("content") if isinstance(m, dict) else None
        blocks += content if isinstance(content, list) else []
    return sum(1 for b in blocks if isinstance(b, dict) and b.get("cache_control") is not None)


def _anthropic_messages(messages: Any, has_tools: bool) -> str | None:
    calls: list[str] = []  # tool_use ids of the previous assistant turn
    for i, m in enumerate(messages if isinstance(messages, list) else []):
        content = m.get("content")
        blocks = content if isinstance(content, list) else []
        if blocks and not has_tools and any("tool" in str(b.get("type")) for b in blocks):
            return "Requests which include `tool_use` or `tool_result` blocks must define tools."
        results = [b.get("tool_use_id") for b in blocks if b.get("type") == "tool_result"]
        if calls and (m.get("role") != "user" or sorted(results) != sorted(calls)):
            return (
                f"messages.{i - 1}: `tool_use` ids were found without `tool_result` blocks "
                f"immediately after: {calls}"
            )
        if results and not calls:
            return f"messages.{i}: unexpected `tool_use_id` found in `tool_result` blocks"
        if results and any(b.get("type") != "tool_result" for b in blocks[: len(results)]):
            return f"messages.{i}: tool_result blocks must come first in the content"
        calls = []
        for n, block in enumerate(blocks):
            problem = _anthropic_block(block, m.get("role"))
            if problem:
                return f"messages.{i}.content.{n}: {problem}"
            if block.get("type") == "tool_use":
                calls.append(block["id"])
    return f"tool_use ids without tool_result: {calls}" if calls else None


def _anthropic_block(block: dict[str, Any], role: Any) -> str | None:
    kind = block.get("type")
    if kind == "text":
        return None if block.get("text") else "text content blocks must be non-empty"
    if kind == "tool_use":
        named = isinstance(block.get("id"), str) and isinstance(block.get("name"), str)
        if named and isinstance(block.get("input"), dict) and role == "assistant":
            return None
        return "a tool_use block needs an id, a name and an object input, in an assistant turn"
    if kind == "tool_result":
        content = block.get("content", "")
        return None if isinstance(content, str | list) and role == "user" else "bad tool_result"
    if kind == "image":
        source = block.get("source", {})
        if source.get("type") == "url":
            return None if str(source.get("url")).startswith("https://") else "image url"
        if source.get("type") != "base64":
            return f"image source type {source.get('type')!r}"
        found = image_type(source.get("data"))
        if found is None or found != source.get("media_type"):
            return f"Image was specified using {source.get('media_type')} but appears to be {found}"
        return None
    return f"unknown block type {kind!r}"


# --- Gemini ------------------------------------------------------------------------------


def gemini_refusal(body: Any) -> str | None:
    if not isinstance(body, dict):
        return None
    names: set[str] = set()
    for tool in body.get("tools") or []:
        for declaration in tool.get("functionDeclarations", []):
            if not isinstance(declaration.get("name"), str):
                return "function_declarations: a name is required"
            if "parameters" in declaration and "parametersJsonSchema" in declaration:
                return "parameters and parameters_json_schema are mutually exclusive"
            names.add(declaration["name"])
    config = (body.get("toolConfig") or {}).get("functionCallingConfig")
    if config is not None:
        if config.get("mode") not in ("AUTO", "ANY", "NONE", "VALIDATED"):
            return f"function_calling_config.mode: invalid {config.get('mode')!r}"
        allowed = config.get("allowedFunctionNames")
        if allowed is not None and (config["mode"] != "ANY" or not set(allowed) <= names):
            return "allowed_function_names needs mode ANY and declared functions"
    return _gemini_contents(body.get("contents"))


def _gemini_contents(contents: Any) -> str | None:
    called: list[str] = []  # names called by the previous model turn
    for i, content in enumerate(contents if isinstance(contents, list) else []):
        parts = content.get("parts")
        if not parts:
            return f"contents[{i}].parts must not be empty"
        answered = [p["functionResponse"].get("name") for p in parts if "functionResponse" in p]
        if answered and sorted(answered) != sorted(called):
            return (
                "Please ensure that the number of function response parts is equal to the "
                f"number of function call parts of the function call turn (contents[{i}])"
            )
        called = []
        for n, part in enumerate(parts):
            problem = _gemini_part(part, content.get("role"), first_call=not called)
            if problem:
                return f"contents[{i}].parts[{n}]: {problem}"
            if "functionCall" in part:
                called.append(part["functionCall"]["name"])
    return None


def _gemini_part(part: dict[str, Any], role: Any, first_call: bool) -> str | None:
    data = [
        k
        for k in ("text", "inlineData", "fileData", "functionCall", "functionResponse")
        if k in part
    ]
    if len(data) != 1:
        return f"a part holds exactly one kind of data, got {data}"
    if "inlineData" in part:
        blob = part["inlineData"]
        found = image_type(blob.get("data"))
        return None if found and found == blob.get("mimeType") else "bad inline_data"
    if "functionCall" in part:
        call = part["functionCall"]
        if "id" in call:
            return "Unknown name \"id\" at 'function_call': Cannot find field."
        if role != "model" or not isinstance(call.get("args", {}), dict):
            return "a function call is a model part with object args"
        if first_call and not part.get("thoughtSignature"):
            return "Function call is missing a thought_signature in functionCall parts."
    if "functionResponse" in part:
        response = part["functionResponse"]
        if "id" in response:
            return "Unknown name \"id\" at 'function_response': Cannot find field."
        if role != "user" or not isinstance(response.get("response"), dict):
            return "a function response is a user part with an object response"
    return None


# --- Ollama ------------------------------------------------------------------------------


def ollama_refusal(body: Any) -> str | None:
    if not isinstance(body, dict):
        return None
    if "tools" in body:
        found = _function_names(body["tools"], "tools")
        if isinstance(found, str):
            return found
    called: list[str] = []
    for i, m in enumerate(body.get("messages") or []):
        for image in m.get("images") or []:
            if image_type(image) is None:
                return f"messages[{i}]: illegal base64 data in images"
        if (
            m.get("role") == "tool"
            and m.get("tool_name", called[0] if called else None) not in called
        ):
            return f"messages[{i}]: a tool result names no tool called just before"
        if m.get("role") != "tool":
            called = []
        for call in m.get("tool_calls") or []:
            function = call.get("function", {})
            if not isinstance(function.get("arguments"), dict):
                return f"messages[{i}]: tool call arguments must be an object"
            called.append(function.get("name"))
    return None
