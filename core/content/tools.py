"""Tool definitions, tool choice and tool-call/result pairing, checked by name.

A tool's ``parameters`` must be a JSON Schema object (checked against the JSON Schema
meta-schema by ``jsonschema``); tool results must answer a call made earlier in the
conversation. Every error names where the problem is (``tools[2].parameters``,
``messages[4]``) so a gateway client or a CLI user can find it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import jsonschema
import jsonschema.exceptions

from core.errors import InputError
from core.types import Message, Tool, ToolCall, ToolChoice

__all__ = [
    "ToolDefinitionError",
    "ToolResultError",
    "check_cache_control",
    "check_json_schema",
    "check_tool_pairs",
    "make_tool",
    "parse_tool_choice",
    "parse_tools",
    "tool_calls_from_json",
    "tool_calls_json",
    "tools_key",
]

_MAX_NAME = 64


class ToolDefinitionError(InputError):
    """A malformed tool definition or tool choice; ``where`` names the field."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where = where


class ToolResultError(InputError):
    """A tool result that answers no earlier call, or a call left without a result."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where = where


#: Schemas already found valid, by their canonical JSON text: an application sends the
#: same tools with every request, and checking against the meta-schema costs about a
#: millisecond each time.
_VALID: dict[str, None] = {}
_VALID_LIMIT = 1024


def check_json_schema(schema: object, where: str) -> Mapping[str, object]:
    """``schema`` when it is a valid JSON Schema object, else :class:`ToolDefinitionError`."""
    if not isinstance(schema, Mapping):
        raise ToolDefinitionError(where, f"must be a JSON Schema object, got {_kind(schema)}")
    try:
        key = json.dumps(schema, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):  # not plain JSON: let the checker say what is wrong
        key = None
    if key is not None and key in _VALID:
        return schema
    try:
        validator = jsonschema.validators.validator_for(schema, jsonschema.Draft202012Validator)
        validator.check_schema(schema)
    except jsonschema.exceptions.SchemaError as e:
        path = "".join(f"[{p!r}]" for p in e.path)
        raise ToolDefinitionError(where + path, f"not a valid JSON Schema: {e.message}") from None
    if key is not None:
        if len(_VALID) >= _VALID_LIMIT:
            _VALID.clear()
        _VALID[key] = None
    return schema


def check_cache_control(value: object, where: str) -> Mapping[str, object] | None:
    """A client's prompt-cache mark: ``{"type": "ephemeral"}``, optionally with a
    ``ttl`` of ``5m`` or ``1h`` (Anthropic's); None when there is none."""
    if value is None:
        return None
    if (
        isinstance(value, Mapping)
        and value.get("type") == "ephemeral"
        and not set(value) - {"type", "ttl"}
        and value.get("ttl", "5m") in ("5m", "1h")
    ):
        return {str(k): v for k, v in value.items()}
    shown = repr(value)[:120]
    raise ToolDefinitionError(
        where, f'must be {{"type": "ephemeral"}} with an optional ttl of 5m or 1h, got {shown}'
    )


def make_tool(
    name: object,
    description: object,
    parameters: object,
    where: str,
    schema_field: str = "parameters",
) -> Tool:
    """One checked tool: a name of letters, digits, ``_`` or ``-`` (at most 64), an
    optional description and a JSON Schema object (``type: object``) for its arguments
    (named ``schema_field`` in errors: ``parameters``, or Anthropic's ``input_schema``)."""
    if not isinstance(name, str) or not name:
        raise ToolDefinitionError(f"{where}.name", "a tool needs a name (a non-empty string)")
    if len(name) > _MAX_NAME or not all(c.isascii() and (c.isalnum() or c in "_-") for c in name):
        raise ToolDefinitionError(
            f"{where}.name",
            f"{name[:80]!r} must be 1-{_MAX_NAME} letters, digits, underscores or dashes",
        )
    if description is not None and not isinstance(description, str):
        raise ToolDefinitionError(
            f"{where}.description", f"must be a string, got {_kind(description)}"
        )
    schema = {"type": "object", "properties": {}} if parameters is None else parameters
    checked = check_json_schema(schema, f"{where}.{schema_field}")
    kind = checked.get("type")
    if kind is not None and kind != "object":
        raise ToolDefinitionError(
            f"{where}.{schema_field}", f"the arguments' type must be 'object', got {kind!r}"
        )
    return Tool(name=name, description=description or "", parameters=checked)


def parse_tools(items: object, where: str = "tools") -> tuple[Tool, ...]:
    """Tools given in OpenAI's shape (``{"type": "function", "function": {...}}``), its
    flat Responses shape (``{"type": "function", "name": ...}``) or Anthropic's
    (``{"name", "description", "input_schema"}``); names must be unique."""
    if items is None:
        return ()
    if not isinstance(items, list):
        raise ToolDefinitionError(where, f"must be a list of tools, got {_kind(items)}")
    tools: list[Tool] = []
    for i, item in enumerate(items):
        at = f"{where}[{i}]"
        if not isinstance(item, Mapping):
            raise ToolDefinitionError(at, f"must be an object, got {_kind(item)}")
        kind = item.get("type", "function")
        strict: object
        field = "parameters"
        if "input_schema" in item or ("type" not in item and "function" not in item):
            spec, params, strict, field = item, item.get("input_schema"), False, "input_schema"
        elif kind != "function":
            raise ToolDefinitionError(
                f"{at}.type", f"{kind!r} tools are not supported; only function tools are"
            )
        elif "function" in item:
            spec = item["function"]
            if not isinstance(spec, Mapping):
                raise ToolDefinitionError(f"{at}.function", f"must be an object, got {_kind(spec)}")
            params, strict, at = spec.get("parameters"), spec.get("strict"), f"{at}.function"
        else:
            spec, params, strict = item, item.get("parameters"), item.get("strict")
        tool = make_tool(spec.get("name"), spec.get("description"), params, at, field)
        if strict is not None and not isinstance(strict, bool):
            raise ToolDefinitionError(f"{at}.strict", f"must be true or false, got {strict!r}")
        mark = check_cache_control(item.get("cache_control"), f"{at}.cache_control")
        tools.append(Tool(tool.name, tool.description, tool.parameters, bool(strict), mark))
    seen: set[str] = set()
    for i, tool in enumerate(tools):
        if tool.name in seen:
            raise ToolDefinitionError(f"{where}[{i}].name", f"{tool.name!r} is defined twice")
        seen.add(tool.name)
    return tuple(tools)


def parse_tool_choice(
    value: object, tools: Sequence[Tool], where: str = "tool_choice"
) -> ToolChoice | None:
    """OpenAI's (``"auto"``, ``"none"``, ``"required"``, ``{"type": "function",
    "function": {"name"}}``) or Anthropic's (``{"type": "auto"|"any"|"tool"|"none",
    "name"}``) tool choice; a named tool must be one of ``tools``."""
    if value is None:
        return None
    if isinstance(value, str):
        if value not in ("auto", "none", "required"):
            raise ToolDefinitionError(
                where, f"must be auto, none, required or a tool, got {value!r}"
            )
        choice = ToolChoice(value)  # type: ignore[arg-type]
    elif isinstance(value, Mapping):
        kind = value.get("type")
        name = value.get("name")
        function = value.get("function")
        if isinstance(function, Mapping):
            name = function.get("name")
        if kind in ("function", "tool"):
            if not isinstance(name, str) or not name:
                raise ToolDefinitionError(where, "a forced tool choice needs the tool's name")
            choice = ToolChoice("tool", name)
        elif kind in ("auto", "none"):
            choice = ToolChoice(kind)
        elif kind == "any":
            choice = ToolChoice("required")
        else:
            raise ToolDefinitionError(f"{where}.type", f"unknown tool choice {kind!r}")
    else:
        raise ToolDefinitionError(where, f"must be a string or an object, got {_kind(value)}")
    if choice.mode in ("required", "tool") and not tools:
        raise ToolDefinitionError(where, f"{choice.key()!r} needs tools, and the request has none")
    if choice.name is not None and choice.name not in {t.name for t in tools}:
        raise ToolDefinitionError(
            where, f"names {choice.name!r}, which is not one of the request's tools"
        )
    return choice


def check_tool_pairs(messages: Sequence[Message], offset: int = 0) -> None:
    """Every tool result answers a call made by an earlier assistant message, and no
    call is answered twice. ``offset`` shifts the indices named in errors (a system
    prompt the client gave apart). Tool output with no call id (kept as notes in an
    imported conversation) answers nothing and is left to ``strip_metadata``."""
    open_calls: dict[str, int] = {}
    answered: set[str] = set()
    for i, m in enumerate(messages):
        for call in m.tool_calls:
            if call.id in open_calls or call.id in answered:
                raise ToolResultError(
                    f"messages[{i + offset}]", f"tool call id {call.id!r} is used twice"
                )
            open_calls[call.id] = i
        if m.role == "tool" and m.tool_call_id is not None:
            if m.tool_call_id not in open_calls:
                why = (
                    "was answered already"
                    if m.tool_call_id in answered
                    else "matches no earlier tool call"
                )
                raise ToolResultError(
                    f"messages[{i + offset}]", f"the tool result for {m.tool_call_id!r} {why}"
                )
            del open_calls[m.tool_call_id]
            answered.add(m.tool_call_id)


def tools_key(tools: Sequence[Tool], choice: ToolChoice | None, parallel: bool | None) -> str:
    """A stable text for cache keys: the whole definitions, the choice and the flag."""
    if not tools and choice is None and parallel is None:
        return ""
    body = {
        "tools": [t.as_dict() for t in tools],
        "choice": None if choice is None else choice.key(),
        "parallel": parallel,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), default=_plain)


def tool_calls_json(calls: Sequence[ToolCall]) -> list[dict[str, str]]:
    return [c.as_dict() for c in calls]


def tool_calls_from_json(items: Any) -> tuple[ToolCall, ...]:
    """Tool calls back from :func:`tool_calls_json` (a stored record or cache entry)."""
    if not isinstance(items, list):
        return ()
    return tuple(
        ToolCall(str(c.get("id", "")), str(c.get("name", "")), str(c.get("arguments", "")))
        for c in items
        if isinstance(c, Mapping)
    )


def _plain(value: object) -> object:
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(type(value).__name__)


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__
