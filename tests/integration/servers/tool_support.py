"""A conversation with tools, tool calls, tool results and images, and a runner that
collects what a provider streams or returns for it (shared by the
``test_provider_tools_<kind>.py`` files and the wire unit tests)."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from typing import Any

from PIL import Image

from core.providers.base import Provider
from core.types import (
    Finish,
    ImagePart,
    Message,
    ProviderRequest,
    TextDelta,
    Tool,
    ToolCall,
    ToolCallDelta,
    ToolChoice,
    UsageReport,
)

__all__ = [
    "JPEG",
    "PNG",
    "TOOLS",
    "ToolReply",
    "collect",
    "conversation",
    "image",
    "joined",
    "tool_request",
]


def _encode(fmt: str, color: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (3, 2), color).save(out, fmt)
    return out.getvalue()


PNG = _encode("PNG", (200, 30, 30))
JPEG = _encode("JPEG", (30, 200, 30))


def image(data: bytes | None = None, url: str | None = None, detail: str = "auto") -> ImagePart:
    """An image as the content layer builds it: bytes with their type, or a URL."""
    if data is not None:
        media = "image/png" if data.startswith(b"\x89PNG") else "image/jpeg"
        digest = hashlib.sha256(data).hexdigest()
        return ImagePart(digest, media, data, None, 3, 2, detail)
    assert url is not None
    return ImagePart(hashlib.sha256(url.encode()).hexdigest(), None, None, url, None, None, detail)


WEATHER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "unit": {"enum": ["C", "F"]}},
    "required": ["city"],
    "additionalProperties": False,
}
TOOLS = (
    Tool("get_weather", "The weather in a city, now.", WEATHER_SCHEMA, strict=True),
    Tool("get_time", "", {"type": "object", "properties": {"zone": {"type": "string"}}}),
)
PARIS = ToolCall("call_paris", "get_weather", '{"city": "Paris"}')
ROME = ToolCall("call_rome", "get_weather", '{"city": "Rome", "unit": "C"}')


def conversation(*, url_image: bool = True) -> tuple[Message, ...]:
    """A user turn with images, an assistant turn of two parallel calls, their two
    results (one plain text, one a JSON object) and a follow-up question."""
    images = [image(PNG, detail="low"), image(JPEG, detail="high")]
    if url_image:
        images.append(image(url="https://example.com/cloud.png"))
    return (
        Message("system", "Be brief."),
        Message("user", "Weather in Paris and Rome?", images=tuple(images)),
        Message("assistant", "", tool_calls=(PARIS, ROME)),
        Message("tool", "18C and sunny", tool_call_id="call_paris"),
        Message("tool", '{"temp": 21, "sky": "clear"}', tool_call_id="call_rome"),
        Message("user", "Thanks. And Oslo?"),
    )


def tool_request(**kw: Any) -> ProviderRequest:
    """A request carrying :data:`TOOLS` and :func:`conversation` unless overridden."""
    kw.setdefault("messages", conversation())
    kw.setdefault("tools", TOOLS)
    kw.setdefault("tool_choice", ToolChoice("auto"))
    return ProviderRequest("req-tools", kw.pop("model", "m-1"), max_tokens=64, **kw)


@dataclass
class ToolReply:
    text: str
    calls: tuple[ToolCall, ...]
    finish: str | None
    #: Streamed only: the tool-call pieces, in order.
    deltas: list[ToolCallDelta]


async def collect(provider: Provider, request: ProviderRequest, stream: bool) -> ToolReply:
    """Call ``provider`` either way; for streams, check the event order and that the
    pieces join up to the calls the stream ends with."""
    if not stream:
        done = await provider.complete(request)
        return ToolReply(done.text, done.tool_calls, done.finish_reason, [])
    events = [e async for e in provider.stream(request)]
    assert isinstance(events[-1], Finish) and isinstance(events[-2], UsageReport), events
    assert all(isinstance(e, TextDelta | ToolCallDelta) for e in events[:-2]), events
    deltas = [e for e in events if isinstance(e, ToolCallDelta)]
    finish = events[-1]
    assert joined(deltas) == [(c.id, c.name, c.arguments) for c in finish.tool_calls]
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    return ToolReply(text, finish.tool_calls, finish.reason, deltas)


def joined(deltas: list[ToolCallDelta]) -> list[tuple[str, str, str]]:
    """The calls the pieces make: the first piece of each index names it, the rest only
    add arguments (``{}`` when none came, as the decoders give)."""
    calls: dict[int, list[Any]] = {}
    for d in deltas:
        if d.index not in calls:
            assert d.id and d.name, f"the first piece of call {d.index} has no id or name"
            assert d.index == len(calls), "calls are numbered in order"
            calls[d.index] = [d.id, d.name, d.arguments]
        else:
            assert d.id is None
            calls[d.index][2] += d.arguments
    return [(i, n, a or "{}") for i, n, a in calls.values()]
