"""Message parts on the wire: tool calls and images, as every provider module writes
and reads them. Pure functions and one joiner, no network (see :mod:`core.providers.wire`
for the stream and HTTP helpers).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from core.errors import UnsupportedParameterError
from core.providers.wire import CallContext
from core.types import ImagePart, Message, ProviderRequest, ToolCall, ToolCallDelta

__all__ = [
    "ToolCallJoiner",
    "arguments_object",
    "arguments_text",
    "image_base64",
    "image_url",
    "refuse",
    "tool_call_names",
    "tool_call_reason",
]


def refuse(provider: str, request: ProviderRequest, what: str) -> UnsupportedParameterError:
    """A request this wire format cannot carry (``what`` names the part), refused before
    anything is sent."""
    return UnsupportedParameterError(
        f"{what}: not supported by provider {provider!r} ({request.model}); nothing was sent",
        provider=provider,
        model=request.model,
        request_id=request.request_id,
    )


def image_base64(image: ImagePart) -> str | None:
    """The image's bytes in base64; None for an image known only by URL."""
    return None if image.data is None else base64.b64encode(image.data).decode("ascii")


def image_url(image: ImagePart) -> str:
    """The image as a URL: its own, or a ``data:`` URL of its bytes."""
    if image.data is None:
        return image.url or ""
    media = image.media_type or "application/octet-stream"
    return f"data:{media};base64,{image_base64(image)}"


def arguments_object(
    call: ToolCall, provider: str, request: ProviderRequest, where: str
) -> dict[str, Any]:
    """A tool call's arguments as the JSON object that formats with structured arguments
    (Anthropic, Gemini, Ollama) send back; arguments that are not one are refused."""
    try:
        value = json.loads(call.arguments or "{}")
    except (ValueError, RecursionError):
        value = None
    if not isinstance(value, dict):
        what = f"{where}: tool call {call.id!r} whose arguments are not a JSON object"
        raise refuse(provider, request, what)
    return value


def arguments_text(value: Any) -> str:
    """Structured arguments as JSON text; a string is taken as already JSON text."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def tool_call_names(messages: tuple[Message, ...]) -> list[str | None]:
    """For each message, the name of the tool whose call it answers (None: not a tool
    result, or its call is not in the history), for formats whose results name the
    tool rather than the call. A result answers the latest call with its id: made-up
    ids (``call_0``) repeat from one reply to the next."""
    latest: dict[str, str] = {}
    names: list[str | None] = []
    for m in messages:
        latest.update((call.id, call.name) for call in m.tool_calls)
        names.append(latest.get(m.tool_call_id) if m.tool_call_id else None)
    return names


class ToolCallJoiner:
    """Joins the pieces of streamed tool calls into whole ones, in order.

    ``key`` is the provider's handle for a call (an index, a content block); calls are
    numbered in the order they first appear. A call without an id gets ``call_<n>``.
    """

    __slots__ = ("_calls", "_order")

    def __init__(self) -> None:
        self._order: dict[object, int] = {}
        self._calls: list[tuple[str, list[str], list[str]]] = []  # id, [name], argument parts

    def __len__(self) -> int:
        return len(self._calls)

    def __contains__(self, key: object) -> bool:
        return key in self._order

    def piece(self, key: object, call_id: str | None, name: str | None, args: str) -> ToolCallDelta:
        """Fold in one piece; return the delta to stream (id and name on a call's first)."""
        index = self._order.get(key)
        if index is None:
            index = self._order[key] = len(self._calls)
            call_id = call_id or f"call_{index}"
            self._calls.append((call_id, [name or ""], [args] if args else []))
            return ToolCallDelta(index, call_id, name, args)
        _, names, parts = self._calls[index]
        if args:
            parts.append(args)
        if name and not names[0]:
            names[0] = name
            return ToolCallDelta(index, None, name, args)
        return ToolCallDelta(index, None, None, args)

    def whole(self, call_id: str | None, name: str | None, args: str) -> ToolCallDelta:
        """A call that arrives in one piece (no arguments: ``{}``, as its record says)."""
        return self.piece(("whole", len(self._calls)), call_id, name, args or "{}")

    def close_call(self, key: object) -> ToolCallDelta | None:
        """The call ``key`` is complete: when no arguments came, the ``{}`` piece that
        makes what was streamed join up to the recorded call; else None."""
        index = self._order.get(key)
        if index is None or self._calls[index][2]:
            return None
        self._calls[index][2].append("{}")
        return ToolCallDelta(index, None, None, "{}")

    def calls(self, ctx: CallContext) -> tuple[ToolCall, ...]:
        """The whole calls; arguments as sent, ``{}`` when none came."""
        out = []
        for call_id, names, parts in self._calls:
            if not names[0]:
                raise ctx.malformed(f"the tool call {call_id!r} has no name")
            out.append(ToolCall(call_id, names[0], "".join(parts) or "{}"))
        return tuple(out)


def tool_call_reason(reason: str, calls: tuple[ToolCall, ...]) -> str:
    """A reply that ends in tool calls ends for them, whatever "stop" the format says."""
    return "tool_calls" if calls and reason == "stop" else reason
