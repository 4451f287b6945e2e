"""Anthropic's Messages API (``POST {base}/v1/messages``).

Anthropic's ``input_tokens`` excludes cache reads and writes, so the normalised
input is ``input + cache_creation + cache_read``; the one-hour part of the writes
(``cache_creation.ephemeral_1h_input_tokens``) is kept apart. In streams ``message_start``
carries the prompt usage and each ``message_delta`` a *cumulative* output count:
the last value wins, nothing is summed.

Tools are ``{name, description, input_schema}``; a tool call is a ``tool_use`` content
block whose ``input`` is an object (streamed as ``input_json_delta`` pieces of its JSON
text), and a tool result a ``tool_result`` block in a user turn. Images are ``image``
blocks with a base64 or URL source.
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import quote

from core.errors import (
    AuthenticationError,
    BadRequestError,
    ContentFilteredError,
    OverloadedError,
    ProviderContextLengthError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
)
from core.providers._http import HTTPProvider
from core.providers.parts import (
    ToolCallJoiner,
    arguments_object,
    arguments_text,
    image_base64,
    refuse,
    tool_call_reason,
)
from core.providers.wire import (
    CallContext,
    SSEParser,
    StreamOutcome,
    decode_json,
    get_int,
    get_list,
    get_map,
    get_str,
)
from core.types import (
    ImagePart,
    Message,
    ProviderRequest,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolChoice,
    Usage,
)

__all__ = [
    "PROVIDER",
    "AnthropicProvider",
    "AnthropicStreamDecoder",
    "anthropic_error_class",
    "anthropic_usage",
    "parse_anthropic_reply",
]

API_VERSION = "2023-06-01"

_STOP = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

_ERROR_CLASSES: dict[str, type[ProviderError]] = {
    "overloaded_error": OverloadedError,
    "api_error": OverloadedError,
    "rate_limit_error": RateLimitError,
    "timeout_error": ProviderTimeoutError,
    "authentication_error": AuthenticationError,
    "permission_error": AuthenticationError,
    "invalid_request_error": BadRequestError,
    "not_found_error": BadRequestError,
    "request_too_large": BadRequestError,
}


def anthropic_usage(fields: dict[str, int]) -> Usage:
    """Normalise Anthropic's usage numbers (cache reads/writes added back to input).

    ``cache_creation_input_tokens`` is every token written; ``cache_creation`` splits it
    by TTL, and its one-hour part is kept apart (it is priced higher)."""
    read = fields.get("cache_read_input_tokens", 0)
    split = fields.get("ephemeral_5m_input_tokens", 0) + fields.get("ephemeral_1h_input_tokens", 0)
    write = fields.get("cache_creation_input_tokens", split)
    return Usage(
        input_tokens=fields.get("input_tokens", 0) + read + write,
        output_tokens=fields.get("output_tokens", 0),
        cached_input_tokens=read,
        cache_write_tokens=write,
        cache_write_1h_tokens=min(fields.get("ephemeral_1h_input_tokens", 0), write),
    )


_USAGE_KEYS = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
)
#: The per-TTL split of the cache writes, in ``usage.cache_creation``.
_CACHE_CREATION_KEYS = ("ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens")


def _usage_fields(obj: Any, ctx: CallContext) -> dict[str, int]:
    """The usage numbers present in ``obj`` (absent or null ones are left out), the
    ``cache_creation`` split among them under its own keys."""
    found = {}
    for key in _USAGE_KEYS:
        value = get_int(obj, key, ctx)
        if value is not None:
            found[key] = value
    creation = get_map(obj, "cache_creation", ctx)
    for key in _CACHE_CREATION_KEYS:
        value = get_int(creation, key, ctx)
        if value is not None:
            found[key] = value
    return found


def anthropic_error_class(err: Any) -> type[ProviderError] | None:
    """The class an Anthropic error object names, if it names a known one."""
    if not isinstance(err, dict):
        return None
    kind = err.get("type")
    if kind == "invalid_request_error":
        message = err.get("message")
        if isinstance(message, str) and "too long" in message.lower():
            return ProviderContextLengthError
    return _ERROR_CLASSES.get(kind) if isinstance(kind, str) else None


def _raise_error(obj: Any, ctx: CallContext) -> None:
    err = obj.get("error") if isinstance(obj, dict) else None
    message = err.get("message") if isinstance(err, dict) else None
    kind = err.get("type") if isinstance(err, dict) else None
    text = message if isinstance(message, str) else "no message"
    cls = anthropic_error_class(err) or ProviderError
    raise ctx.error(cls, f"{ctx.provider} reported {kind or 'an error'}: {ctx.redact(text)}")


def _check_filtered(
    text: str, reason: str, ctx: CallContext, calls: tuple[ToolCall, ...] = ()
) -> None:
    if reason == "content_filter" and not text and not calls:
        raise ctx.error(ContentFilteredError, f"{ctx.provider} refused to answer this prompt")


def _tool_use_input(block: dict[str, Any], ctx: CallContext) -> str:
    """A ``tool_use`` block's ``input`` as JSON text ("" when it is empty or absent)."""
    value = block.get("input")
    if value is None or value == {}:
        return ""
    if not isinstance(value, dict):
        raise ctx.malformed(f"expected an object at 'input', got {type(value).__name__}")
    return arguments_text(value)


def parse_anthropic_reply(obj: Any, ctx: CallContext) -> StreamOutcome:
    """Decode a non-streamed ``message`` object."""
    if not isinstance(obj, dict):
        raise ctx.malformed("the reply is not a JSON object")
    if obj.get("type") == "error":
        _raise_error(obj, ctx)
    parts = []
    tools = ToolCallJoiner()
    for block in get_list(obj, "content", ctx, required=True):
        kind = get_str(block, "type", ctx)
        if kind == "text":
            parts.append(get_str(block, "text", ctx) or "")
        elif kind == "tool_use":
            name = get_str(block, "name", ctx)
            tools.whole(get_str(block, "id", ctx), name, _tool_use_input(block, ctx))
    text = "".join(parts)
    calls = tools.calls(ctx)
    raw = get_str(obj, "stop_reason", ctx)
    reason = tool_call_reason(_STOP.get(raw, raw) if raw else "stop", calls)
    fields = _usage_fields(get_map(obj, "usage", ctx), ctx)
    usage = anthropic_usage(fields) if fields else None
    _check_filtered(text, reason, ctx, calls)
    return StreamOutcome(text, usage, reason, tool_calls=calls)


def _block_index(obj: dict[str, Any], ctx: CallContext) -> int:
    index = obj.get("index")
    if type(index) is not int:
        raise ctx.malformed(f"expected a content block index, got {index!r}"[:120])
    return index


class AnthropicStreamDecoder:
    """Decodes a Messages SSE stream; pure (bytes in, deltas out)."""

    __slots__ = ("_ctx", "_done", "_parser", "_parts", "_reason", "_tools", "_usage")

    def __init__(self, ctx: CallContext) -> None:
        self._ctx = ctx
        self._parser = SSEParser(ctx)
        self._parts: list[str] = []
        self._reason: str | None = None
        self._usage: dict[str, int] | None = None
        #: tool_use blocks, keyed by their content block index.
        self._tools = ToolCallJoiner()
        self._done = False

    def feed(self, chunk: bytes) -> list[TextDelta | ToolCallDelta]:
        out: list[TextDelta | ToolCallDelta] = []
        for event in self._parser.feed(chunk):
            if self._done:
                continue
            got = self._event(event.event, decode_json(event.data, self._ctx))
            if isinstance(got, str):
                if got:
                    self._parts.append(got)
                    out.append(TextDelta(got))
            elif got is not None:
                out.append(got)
        return out

    def _event(self, name: str, obj: Any) -> str | ToolCallDelta | None:
        ctx = self._ctx
        if not isinstance(obj, dict):
            raise ctx.malformed(f"the {name!r} event is not a JSON object")
        kind = get_str(obj, "type", ctx) or name
        if kind == "content_block_delta":
            return self._block_delta(obj)
        if kind == "content_block_start":
            block = get_map(obj, "content_block", ctx)
            if block.get("type") == "tool_use":
                key = _block_index(obj, ctx)
                call_id, tool = get_str(block, "id", ctx), get_str(block, "name", ctx)
                return self._tools.piece(key, call_id, tool, _tool_use_input(block, ctx))
            return get_str(block, "text", ctx) if block.get("type") == "text" else None
        if kind == "message_start":
            self._merge_usage(get_map(get_map(obj, "message", ctx), "usage", ctx))
        elif kind == "message_delta":
            raw = get_str(get_map(obj, "delta", ctx), "stop_reason", ctx)
            if raw:
                self._reason = _STOP.get(raw, raw)
            self._merge_usage(get_map(obj, "usage", ctx))
        elif kind == "content_block_stop":
            stopped: object = obj.get("index")
            if type(stopped) is int and stopped in self._tools:
                return self._tools.close_call(stopped)
        elif kind == "message_stop":
            self._done = True
        elif kind == "error":
            _raise_error(obj, ctx)
        return None  # ping, content_block_stop and future event types

    def _block_delta(self, obj: dict[str, Any]) -> str | ToolCallDelta | None:
        ctx = self._ctx
        delta = get_map(obj, "delta", ctx)
        kind = delta.get("type")
        if kind == "text_delta":
            return get_str(delta, "text", ctx)
        if kind == "input_json_delta":
            key = _block_index(obj, ctx)
            if key not in self._tools:
                raise ctx.malformed("an input_json_delta for a block that is not a tool_use")
            return self._tools.piece(key, None, None, get_str(delta, "partial_json", ctx) or "")
        return None

    def _merge_usage(self, usage: dict[str, Any]) -> None:
        # Counts are cumulative: the latest value of each field replaces the earlier one.
        fields = _usage_fields(usage, self._ctx)
        if fields:
            self._usage = {**(self._usage or {}), **fields}

    def close(self) -> StreamOutcome:
        """End of the byte stream: a complete reply ends with ``message_stop``."""
        if not self._done:
            self._parser.close()
            raise self._ctx.malformed("the stream ended before message_stop")
        text = "".join(self._parts)
        calls = self._tools.calls(self._ctx)
        reason = tool_call_reason(self._reason or "stop", calls)
        _check_filtered(text, reason, self._ctx, calls)
        usage = None if self._usage is None else anthropic_usage(self._usage)
        return StreamOutcome(text, usage, reason, tool_calls=calls)


def _image(image: ImagePart) -> dict[str, Any]:
    if image.data is None:
        return {"type": "image", "source": {"type": "url", "url": image.url}}
    source = {"type": "base64", "media_type": image.media_type, "data": image_base64(image)}
    return {"type": "image", "source": source}


def _blocks(
    m: Message, where: str, provider: str, request: ProviderRequest
) -> list[dict[str, Any]]:
    """One message as content blocks (a tool message: its ``tool_result``)."""
    if m.role == "tool":
        if not m.tool_call_id:
            raise refuse(provider, request, f"{where}: a tool result without tool_call_id")
        result: dict[str, Any] = {"type": "tool_result", "tool_use_id": m.tool_call_id}
        if m.content:
            result["content"] = m.content
        return _marked([result], m)
    # Images before the text, the order Anthropic finds works best.
    blocks: list[dict[str, Any]] = [_image(image) for image in m.images]
    if m.content or not (blocks or m.tool_calls):
        blocks.append({"type": "text", "text": m.content})
    for call in m.tool_calls:
        args = arguments_object(call, provider, request, where)
        blocks.append({"type": "tool_use", "id": call.id, "name": call.name, "input": args})
    return _marked(blocks, m)


def _marked(blocks: list[dict[str, Any]], m: Message) -> list[dict[str, Any]]:
    """The client's cache mark on the message's last block, as given."""
    if m.cache_control is not None and blocks:
        blocks[-1]["cache_control"] = dict(m.cache_control)
    return blocks


def _turn(role: str, blocks: list[dict[str, Any]]) -> dict[str, Any]:
    """A turn's content: plain text when it is only text (merged turns joined by a
    blank line), else its blocks with any tool results first, as the API requires."""
    if all(b["type"] == "text" and "cache_control" not in b for b in blocks):
        return {"role": role, "content": "\n\n".join(b["text"] for b in blocks)}
    results = [b for b in blocks if b["type"] == "tool_result"]
    rest = [b for b in blocks if b["type"] != "tool_result" and b.get("text") != ""]
    return {"role": role, "content": results + rest}


def _messages(
    provider: str, request: ProviderRequest
) -> tuple[str | list[dict[str, Any]], list[dict[str, Any]]]:
    """System text apart; consecutive same-role turns merged, as the API requires (so
    the results of parallel tool calls share one user turn)."""
    systems = [m for m in request.messages if m.role == "system"]
    system: str | list[dict[str, Any]] = "\n\n".join(m.content for m in systems)
    if any(m.cache_control is not None for m in systems):  # blocks, the mark where given
        system = [_marked([{"type": "text", "text": m.content}], m)[0] for m in systems]
    turns: list[tuple[str, list[dict[str, Any]]]] = []
    for i, m in enumerate(request.messages):
        if m.images and m.role != "user":
            raise refuse(provider, request, f"messages[{i}]: images in a {m.role} message")
        if m.role == "system":
            continue
        role = "assistant" if m.role == "assistant" else "user"
        blocks = _blocks(m, f"messages[{i}]", provider, request)
        if turns and turns[-1][0] == role:
            turns[-1][1].extend(blocks)
        else:
            turns.append((role, blocks))
    return system, [_turn(role, blocks) for role, blocks in turns]


def _tool_choice(choice: ToolChoice | None, parallel: bool | None) -> dict[str, Any] | None:
    """``tool_choice``; the parallel switch lives in it, so asking only for that sends
    the default ``auto``."""
    if choice is None and parallel is not False:
        return None
    mode = "auto" if choice is None else choice.mode
    out: dict[str, Any] = {"type": {"required": "any"}.get(mode, mode)}
    if mode == "tool" and choice is not None:
        out["name"] = choice.name
    if parallel is False and mode != "none":
        out["disable_parallel_tool_use"] = True
    return out


def _tools(request: ProviderRequest) -> dict[str, Any]:
    if not request.tools:
        return {}
    tools = []
    for tool in request.tools:
        spec: dict[str, Any] = {"name": tool.name}
        if tool.description:
            spec["description"] = tool.description
        spec["input_schema"] = dict(tool.parameters) or {"type": "object", "properties": {}}
        if tool.cache_control is not None:
            spec["cache_control"] = dict(tool.cache_control)
        tools.append(spec)
    out: dict[str, Any] = {"tools": tools}
    choice = _tool_choice(request.tool_choice, request.parallel_tool_calls)
    if choice is not None:
        out["tool_choice"] = choice
    return out


class AnthropicProvider(HTTPProvider):
    """api.anthropic.com, Messages API version 2023-06-01."""

    kind: ClassVar[str] = "anthropic"
    cache_marks_supported: ClassVar[bool] = True
    strict_tools_supported: ClassVar[bool] = False
    default_base_url: ClassVar[str | None] = "https://api.anthropic.com"
    default_key_env: ClassVar[str | None] = "ANTHROPIC_API_KEY"
    #: The Messages API has top_p and stop_sequences, and no seed.
    sampling_supported: ClassVar[frozenset[str]] = frozenset({"top_p", "stop"})
    #: The Messages API has no JSON output mode (only tool use): a request for JSON is
    #: refused rather than answered in free text.
    json_output_supported: ClassVar[bool] = False
    #: Images up to 5 MB each, inline (base64) or by URL (a ``url`` source).
    max_image_bytes: ClassVar[int | None] = 5 * 1024 * 1024

    def _headers(self) -> dict[str, str]:
        headers = {"anthropic-version": API_VERSION}
        if self.api_key:
            headers["x-api-key"] = self.api_key.reveal()
        return headers

    def _chat_call(self, request: ProviderRequest, stream: bool) -> tuple[str, dict[str, Any]]:
        system, turns = _messages(self.name, request)
        body: dict[str, Any] = {
            "model": request.model,
            "max_tokens": request.max_tokens,
            "messages": turns,
            **_tools(request),
        }
        if system:
            body["system"] = system
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.sampling.top_p is not None:
            body["top_p"] = request.sampling.top_p
        if request.sampling.stop:
            body["stop_sequences"] = list(request.sampling.stop)
        if stream:
            body["stream"] = True
        return f"{self.base_url}/v1/messages", body

    def _stream_decoder(self, ctx: CallContext) -> AnthropicStreamDecoder:
        return AnthropicStreamDecoder(ctx)

    def _parse_reply(self, obj: Any, ctx: CallContext) -> StreamOutcome:
        return parse_anthropic_reply(obj, ctx)

    def _error_detail(self, obj: Any) -> tuple[str, type[ProviderError] | None]:
        message, _ = super()._error_detail(obj)
        err = obj.get("error") if isinstance(obj, dict) else None
        cls = anthropic_error_class(err)
        # The status already says auth/bad request; the body only refines the rest.
        if cls in (AuthenticationError, BadRequestError):
            cls = None
        return message, cls

    async def list_models(self) -> list[str]:
        ctx = self._ctx()
        models: list[str] = []
        after: str | None = None
        for _ in range(100):  # a bound, in case a server pages forever
            url = f"{self.base_url}/v1/models?limit=1000"
            if after:
                url += "&after_id=" + quote(after, safe="")
            obj = await self._request_json("GET", url, ctx)
            models += [m for m in (get_str(x, "id", ctx) for x in get_list(obj, "data", ctx)) if m]
            after = get_str(obj, "last_id", ctx)
            if not (isinstance(obj, dict) and obj.get("has_more") is True and after):
                break
        return sorted(set(models))


PROVIDER = AnthropicProvider
