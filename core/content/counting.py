"""Token counts of what a request carries beyond text: tool definitions, tool calls
and results, images. Each function takes the model's text counter (``count``), so the
accounting layer, the Simulator and the app count the same way.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence

from core.content.images import image_tokens
from core.content.prompt_cache import vendor_of
from core.types import Message, ResponseFormat, Tool, ToolChoice

__all__ = ["content_tokens", "schema_tokens", "tool_definition_tokens"]

_TOKENS_PER_TOOL_CALL = 3


def content_tokens(m: Message, count: Callable[[str], int], model: str) -> int:
    """A message's tokens beyond role, content and name: its tool calls (name and
    arguments, 3 tokens of framing each), the id of the call a tool result answers,
    and its images by the provider's rule (the model's name decides which)."""
    n = 0
    for call in m.tool_calls:
        n += _TOKENS_PER_TOOL_CALL + count(call.name) + count(call.arguments)
    if m.tool_call_id:
        n += count(m.tool_call_id)
    for image in m.images:
        n += image_tokens(image, vendor_of(model), model)
    return n


#: Anthropic's tool-use system prompt, added when a request has tools (Claude 4 and
#: 3.7/3.5 Sonnet, as published): with tool_choice auto or none, and any or a tool.
_ANTHROPIC_TOOL_PROMPT = (346, 313)
#: OpenAI's cookbook constants for function definitions (num_tokens_for_tools).
_FUNC_INIT, _PROP_INIT, _PROP_KEY, _ENUM_INIT, _ENUM_ITEM, _FUNC_END = 7, 3, 3, -3, 3, 12


def tool_definition_tokens(
    count: Callable[[str], int],
    tools: Sequence[Tool],
    choice: ToolChoice | None,
    model: str,
    provider_kind: str,
) -> int:
    """Prompt tokens the tool definitions add, each provider's way.

    OpenAI (and compatible servers, Ollama, the Simulator): the cookbook's count per
    function, property and enum value. Anthropic: the definitions as JSON plus its
    published tool-use system prompt. Gemini: the declarations as JSON.
    """
    if not tools:
        return 0
    kind = provider_kind if provider_kind in ("anthropic", "gemini") else vendor_of(model)
    if kind in ("anthropic", "gemini"):
        shape = "input_schema" if kind == "anthropic" else "parameters"
        body = [
            {"name": t.name, "description": t.description, shape: dict(t.parameters)} for t in tools
        ]
        n = count(json.dumps(body, separators=(",", ":"), default=dict))
        if kind == "anthropic":
            forced = choice is not None and choice.mode in ("required", "tool")
            n += _ANTHROPIC_TOOL_PROMPT[1 if forced else 0]
        return n
    total = 0
    for tool in tools:
        total += _FUNC_INIT + count(f"{tool.name}:{tool.description.rstrip('.')}")
        props = tool.parameters.get("properties")
        if isinstance(props, Mapping) and props:
            total += _PROP_INIT
            for key, spec in props.items():
                spec = spec if isinstance(spec, Mapping) else {}
                total += _PROP_KEY
                enum = spec.get("enum")
                if isinstance(enum, list):
                    total += _ENUM_INIT + sum(_ENUM_ITEM + count(str(v)) for v in enum)
                kind_name = spec.get("type", "")
                desc = str(spec.get("description", "")).rstrip(".")
                total += count(f"{key}:{kind_name}:{desc}")
                nested = {k: v for k, v in spec.items() if k not in ("type", "description", "enum")}
                if nested:  # nested objects and arrays: their schema as JSON
                    total += count(json.dumps(nested, separators=(",", ":"), default=dict))
    return total + _FUNC_END


def schema_tokens(count: Callable[[str], int], response_format: ResponseFormat | None) -> int:
    """Prompt tokens a JSON Schema for the reply adds (providers put it in the prompt);
    a plain JSON-object request adds none worth counting."""
    if response_format is None or response_format.schema is None:
        return 0
    return count(json.dumps(dict(response_format.schema), separators=(",", ":"), default=dict))
