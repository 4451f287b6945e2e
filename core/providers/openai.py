"""OpenAI's Chat Completions API (``POST {base}/chat/completions``).

Usage already has our meaning: ``prompt_tokens`` includes cached tokens
(``prompt_tokens_details.cached_tokens``, read from OpenAI's automatic prompt cache;
``prompt_cache_key`` is sent when the request has one) and ``completion_tokens``
includes reasoning tokens. Streams ask for
``stream_options.include_usage``, so usage arrives in a last chunk with no choices,
then ``data: [DONE]``.

Tool calls stream as ``delta.tool_calls`` pieces keyed by ``index``: the first piece of
a call has its id and name, the later ones fragments of its JSON arguments. Images go
in a user message's content array as ``image_url`` parts (a URL or a ``data:`` URL).
"""

from __future__ import annotations

from typing import Any, ClassVar

import msgspec

from core.errors import (
    ContentFilteredError,
    OverloadedError,
    ProviderContextLengthError,
    ProviderError,
    RateLimitError,
)
from core.providers._http import HTTPProvider
from core.providers.parts import (
    ToolCallJoiner,
    arguments_text,
    image_url,
    refuse,
    tool_call_reason,
)
from core.providers.wire import (
    CallContext,
    SSEEvent,
    SSEParser,
    StreamOutcome,
    decode_json,
    get_int,
    get_list,
    get_map,
    get_str,
)
from core.types import (
    Message,
    ProviderRequest,
    TextDelta,
    Tool,
    ToolCall,
    ToolCallDelta,
    ToolChoice,
    Usage,
)

__all__ = [
    "PROVIDER",
    "OpenAIProvider",
    "OpenAIStreamDecoder",
    "openai_error_class",
    "openai_tool",
    "openai_usage",
    "parse_openai_reply",
]

_FINISH = {
    "stop": "stop",
    "length": "length",
    "content_filter": "content_filter",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
}


def openai_usage(obj: Any, ctx: CallContext) -> Usage:
    """Normalise an OpenAI ``usage`` object (already inclusive, just validated)."""
    prompt = get_int(obj, "prompt_tokens", ctx) or 0
    completion = get_int(obj, "completion_tokens", ctx) or 0
    cached = get_int(get_map(obj, "prompt_tokens_details", ctx), "cached_tokens", ctx) or 0
    details = get_map(obj, "completion_tokens_details", ctx)
    reasoning = get_int(details, "reasoning_tokens", ctx) or 0
    return Usage(
        input_tokens=prompt,
        output_tokens=completion,
        cached_input_tokens=min(cached, prompt),
        reasoning_tokens=min(reasoning, completion),
    )


def openai_error_class(err: Any) -> type[ProviderError] | None:
    """The class an OpenAI error object asks for beyond its HTTP status, if any."""
    if not isinstance(err, dict):
        return None
    code, kind = err.get("code"), err.get("type")
    if code == "context_length_exceeded":
        return ProviderContextLengthError
    if code in ("rate_limit_exceeded",) or kind in ("rate_limit_error", "rate_limit_exceeded"):
        return RateLimitError
    if kind in ("server_error", "overloaded_error") or code in ("server_error", "overloaded"):
        return OverloadedError
    return None


def _raise_body_error(obj: dict[str, Any], ctx: CallContext) -> None:
    err = obj["error"]
    message = err.get("message") if isinstance(err, dict) else err
    text = message if isinstance(message, str) else repr(err)
    cls = openai_error_class(err) or ProviderError
    raise ctx.error(cls, f"{ctx.provider} reported an error: {ctx.redact(text)}")


def _finish_reason(raw: str | None) -> str | None:
    return None if raw is None else _FINISH.get(raw, raw)


def _check_filtered(
    text: str, reason: str, ctx: CallContext, calls: tuple[ToolCall, ...] = ()
) -> None:
    if reason == "content_filter" and not text and not calls:
        raise ctx.error(ContentFilteredError, f"{ctx.provider} filtered the reply to this prompt")


def _reply_tool_calls(message: dict[str, Any], ctx: CallContext) -> tuple[ToolCall, ...]:
    """``message.tool_calls`` of a whole reply; arguments kept as sent (a server that
    sends them as an object gets them written as JSON)."""
    joiner = ToolCallJoiner()
    for entry in get_list(message, "tool_calls", ctx):
        function = get_map(entry, "function", ctx, required=True)
        args = function.get("arguments")
        text = "" if args is None else arguments_text(args)
        joiner.whole(get_str(entry, "id", ctx), get_str(function, "name", ctx), text)
    return joiner.calls(ctx)


def parse_openai_reply(obj: Any, ctx: CallContext) -> StreamOutcome:
    """Decode a non-streamed ``chat.completion`` object."""
    if not isinstance(obj, dict):
        raise ctx.malformed("the reply is not a JSON object")
    if obj.get("error") is not None:
        _raise_body_error(obj, ctx)
    choices = get_list(obj, "choices", ctx, required=True)
    if not choices:
        raise ctx.malformed("the reply has no choices")
    message = get_map(choices[0], "message", ctx)
    text = get_str(message, "content", ctx) or ""
    calls = _reply_tool_calls(message, ctx)
    reason = _finish_reason(get_str(choices[0], "finish_reason", ctx)) or "stop"
    reason = tool_call_reason(reason, calls)
    usage_obj = obj.get("usage")
    usage = None if usage_obj is None else openai_usage(get_map(obj, "usage", ctx), ctx)
    _check_filtered(text, reason, ctx, calls)
    return StreamOutcome(text, usage, reason, tool_calls=calls)


class _Function(msgspec.Struct, gc=False):
    name: str | None = None
    #: Text only: arguments sent as an object take the checked path.
    arguments: str | None = None


class _ToolPiece(msgspec.Struct, gc=False):
    #: A piece without an index takes the checked path (it decides by id).
    index: int | None = None
    id: str | None = None
    function: _Function | None = None


class _Delta(msgspec.Struct, gc=False):
    content: str | None = None
    tool_calls: list[_ToolPiece] | None = None


class _Choice(msgspec.Struct, gc=False):
    delta: _Delta | None = None
    finish_reason: str | None = None


class _Chunk(msgspec.Struct, gc=False):
    """The part of a ``chat.completion.chunk`` a content delta needs; other keys are
    skipped (still checked to be JSON). ``usage``/``error`` only send the chunk to the
    checked path."""

    choices: list[_Choice] | None = None
    usage: Any = None
    error: Any = None


_decode_chunk = msgspec.json.Decoder(_Chunk).decode
_NO_FUNCTION = _Function()
# Whatever the typed decoder refuses (not JSON, another shape, bad UTF-8, ...) goes to
# the generic path, which settles it exactly as before: a text or a project error.
_TYPED_ERRORS = (msgspec.MsgspecError, ValueError, RecursionError)


def _plain_texts(
    payloads: list[bytes], texts: list[str], pieces: list[_ToolPiece] | None = None
) -> int:
    """Decode the leading plain delta events, appending their non-empty texts to
    ``texts`` and their tool-call pieces to ``pieces``; return how many were handled. It
    stops at the first event that is anything else (finish reason, usage, error,
    ``[DONE]``, a tool-call piece without an index or with arguments that are not text,
    not JSON, another shape; any tool-call piece when ``pieces`` is None): that one and
    the rest are left to the generic path.

    Where this answers, it is what the generic path would give: the typed decoder only
    accepts valid JSON objects whose ``choices``/``delta``/``content``/``finish_reason``
    have the shapes the generic fast path accepts, and duplicate keys keep the last value.
    """
    handled = 0
    for payload in payloads:
        try:
            chunk = _decode_chunk(payload)
        except _TYPED_ERRORS:
            return handled
        if chunk.usage is not None or chunk.error is not None:
            return handled
        choices = chunk.choices
        if choices:
            choice = choices[0]
            if choice.finish_reason is not None:
                return handled
            delta = choice.delta
            if delta is not None:
                calls = delta.tool_calls
                if calls is not None:
                    if pieces is None or any(c.index is None for c in calls):
                        return handled
                    pieces += calls
                if delta.content:
                    texts.append(delta.content)
        handled += 1
    return handled


def _event_bytes(payloads: list[bytes]) -> int:
    """How many bytes these plain one-line events took: ``data: `` + payload + LF LF."""
    return sum(map(len, payloads)) + 8 * len(payloads)


class OpenAIStreamDecoder:
    """Decodes a Chat Completions SSE stream; pure (bytes in, deltas out).

    The text of all the events in one chunk comes out as one :class:`TextDelta`, then
    the tool-call pieces those events carried. :meth:`feed` reads a chunk of whole
    plain content-delta events itself (the commonest chunk by far) and leaves
    everything else to the SSE parser and the checked path; ``parser``, ``parts`` (the
    text so far) and ``done`` (``[DONE]`` seen) are public so that a reference decoder
    can take the plain path only.
    """

    __slots__ = (
        "_ctx",
        "_last_key",
        "_pending",
        "_reason",
        "_tools",
        "_usage",
        "done",
        "parser",
        "parts",
    )

    def __init__(self, ctx: CallContext) -> None:
        self._ctx = ctx
        self.parser = SSEParser(ctx)
        self.parts: list[str] = []
        self._reason: str | None = None
        self._usage: Usage | None = None
        self._tools = ToolCallJoiner()
        #: Tool-call pieces read by the checked path, not yet handed out.
        self._pending: list[ToolCallDelta] = []
        self._last_key: object = None
        self.done = False

    def feed(self, chunk: bytes) -> list[TextDelta | ToolCallDelta]:
        texts: list[str] = []
        events: list[SSEEvent] | None = None
        if not self.done:
            whole = self.parser.whole_events(chunk)
            if whole is not None:
                payloads, buf, end = whole
                pieces: list[_ToolPiece] = []
                handled = _plain_texts(payloads, texts, pieces)
                for piece in pieces:  # the typed pieces, as _tool_piece would take them
                    function = piece.function or _NO_FUNCTION
                    self._last_key = piece.index
                    self._pending.append(
                        self._tools.piece(
                            piece.index, piece.id, function.name, function.arguments or ""
                        )
                    )
                if handled == len(payloads):
                    self.parser.resume(buf, end)  # keeps the start of the next event
                    if pieces:
                        return self._delta(texts)
                    if not texts:
                        return []
                    text = texts[0] if len(texts) == 1 else "".join(texts)
                    self.parts.append(text)
                    return [TextDelta(text)]
                # The rest starts at an event boundary: the parser takes it from there.
                events = self.parser.resume(buf, _event_bytes(payloads[:handled]))
        for event in self.parser.feed(chunk) if events is None else events:
            if self.done:
                continue
            if event.data == "[DONE]":
                self.done = True
                continue
            got = self._chunk(decode_json(event.data, self._ctx))
            if got:
                texts.append(got)
        return self._delta(texts)

    def _delta(self, texts: list[str]) -> list[TextDelta | ToolCallDelta]:
        out: list[TextDelta | ToolCallDelta] = []
        if texts:
            text = texts[0] if len(texts) == 1 else "".join(texts)
            self.parts.append(text)
            out.append(TextDelta(text))
        if self._pending:
            out += self._pending
            self._pending = []
        return out

    def _chunk(self, obj: Any) -> str | None:
        # Fast path for the common content delta; anything unusual takes the checked path.
        if type(obj) is dict and obj.get("usage") is None and obj.get("error") is None:
            choices = obj.get("choices")
            if type(choices) is list and choices and type(choices[0]) is dict:
                choice = choices[0]
                delta = choice.get("delta")
                if (
                    choice.get("finish_reason") is None
                    and type(delta) is dict
                    and delta.get("tool_calls") is None
                ):
                    content = delta.get("content")
                    if content is None or type(content) is str:
                        return content
        return self._checked_chunk(obj)

    def _checked_chunk(self, obj: Any) -> str | None:
        ctx = self._ctx
        if not isinstance(obj, dict):
            raise ctx.malformed("a stream chunk is not a JSON object")
        if obj.get("error") is not None:
            _raise_body_error(obj, ctx)
        if obj.get("usage") is not None:
            self._usage = openai_usage(get_map(obj, "usage", ctx), ctx)
        choices = get_list(obj, "choices", ctx)
        if not choices:
            return None
        choice = choices[0]
        reason = get_str(choice, "finish_reason", ctx)
        if reason is not None:
            self._reason = _finish_reason(reason)
        delta = get_map(choice, "delta", ctx)
        for piece in get_list(delta, "tool_calls", ctx):
            self._pending.append(self._tool_piece(piece))
        return get_str(delta, "content", ctx)

    def _tool_piece(self, piece: Any) -> ToolCallDelta:
        ctx = self._ctx
        function = get_map(piece, "function", ctx)
        call_id = get_str(piece, "id", ctx)
        index = piece.get("index") if isinstance(piece, dict) else None
        if type(index) is int:
            key: object = index
        else:  # a server that leaves out the index: an id starts a call, none continues one
            key = ("id", call_id) if call_id or self._last_key is None else self._last_key
        self._last_key = key
        args = function.get("arguments")
        text = "" if args is None else arguments_text(args)
        return self._tools.piece(key, call_id, get_str(function, "name", ctx), text)

    def close(self) -> StreamOutcome:
        """End of the byte stream: a reply needs ``[DONE]`` or a finish reason."""
        if not self.done:
            self.parser.close()
            if self._reason is None:
                raise self._ctx.malformed("the stream ended before [DONE]")
        text = "".join(self.parts)
        calls = self._tools.calls(self._ctx)
        reason = tool_call_reason(self._reason or "stop", calls)
        _check_filtered(text, reason, self._ctx, calls)
        return StreamOutcome(text, self._usage, reason, tool_calls=calls)


def openai_tool(tool: Tool) -> dict[str, Any]:
    """A tool definition in the ``{"type": "function", "function": {...}}`` shape."""
    function: dict[str, Any] = {"name": tool.name}
    if tool.description:
        function["description"] = tool.description
    if tool.parameters:
        function["parameters"] = dict(tool.parameters)
    if tool.strict:
        function["strict"] = True
    return {"type": "function", "function": function}


def _tool_choice(choice: ToolChoice) -> Any:
    if choice.mode == "tool":
        return {"type": "function", "function": {"name": choice.name}}
    return choice.mode


def _user_content(m: Message) -> str | list[dict[str, Any]]:
    """A user message's text, or a content array when it has images."""
    if not m.images:
        return m.content
    parts: list[dict[str, Any]] = [{"type": "text", "text": m.content}] if m.content else []
    for image in m.images:
        parts.append(
            {"type": "image_url", "image_url": {"url": image_url(image), "detail": image.detail}}
        )
    return parts


def _message(m: Message, where: str, provider: str, request: ProviderRequest) -> dict[str, Any]:
    if m.images and m.role != "user":
        raise refuse(provider, request, f"{where}: images in a {m.role} message")
    if m.role == "tool":
        if not m.tool_call_id:
            raise refuse(provider, request, f"{where}: a tool result without tool_call_id")
        return {"role": "tool", "tool_call_id": m.tool_call_id, "content": m.content}
    entry: dict[str, Any] = {"role": m.role, "content": _user_content(m)}
    if m.name:
        entry["name"] = m.name
    if m.tool_calls:
        entry["content"] = m.content or None
        entry["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in m.tool_calls
        ]
    return entry


class OpenAIProvider(HTTPProvider):
    """api.openai.com, or anything speaking exactly its Chat Completions dialect."""

    kind: ClassVar[str] = "openai"
    default_base_url: ClassVar[str | None] = "https://api.openai.com/v1"
    default_key_env: ClassVar[str | None] = "OPENAI_API_KEY"
    #: The body field carrying the output cap (compatible servers want ``max_tokens``).
    max_tokens_field: ClassVar[str] = "max_completion_tokens"
    #: Chat Completions' ``reasoning_effort`` (reasoning models).
    reasoning_effort_supported: ClassVar[bool] = True

    def _headers(self) -> dict[str, str]:
        if self.api_key:
            return {"Authorization": f"Bearer {self.api_key.reveal()}"}
        return {}

    def _chat_call(self, request: ProviderRequest, stream: bool) -> tuple[str, dict[str, Any]]:
        messages = [
            _message(m, f"messages[{i}]", self.name, request)
            for i, m in enumerate(request.messages)
        ]
        body: dict[str, Any] = {
            "model": request.model,
            "messages": messages,
            self.max_tokens_field: request.max_tokens,
        }
        if request.temperature is not None:
            body["temperature"] = request.temperature
        sampling = request.sampling
        if sampling.top_p is not None:
            body["top_p"] = sampling.top_p
        if sampling.stop:
            body["stop"] = list(sampling.stop)
        if sampling.seed is not None:
            body["seed"] = sampling.seed
        fmt = request.response_format
        if fmt is not None and fmt.schema is None:
            body["response_format"] = {"type": "json_object"}
        elif fmt is not None:
            spec = {"name": fmt.name, "schema": dict(fmt.schema or {}), "strict": fmt.strict}
            body["response_format"] = {"type": "json_schema", "json_schema": spec}
        if request.tools:
            # tool_choice and parallel_tool_calls are refused without tools.
            body["tools"] = [openai_tool(t) for t in request.tools]
            if request.tool_choice is not None:
                body["tool_choice"] = _tool_choice(request.tool_choice)
            if request.parallel_tool_calls is not None:
                body["parallel_tool_calls"] = request.parallel_tool_calls
        if request.reasoning_effort is not None:
            body["reasoning_effort"] = request.reasoning_effort
        if request.prompt_cache_key is not None:
            # Requests sharing a key are routed to the same prompt cache.
            body["prompt_cache_key"] = request.prompt_cache_key
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return f"{self.base_url}/chat/completions", body

    def _stream_decoder(self, ctx: CallContext) -> OpenAIStreamDecoder:
        return OpenAIStreamDecoder(ctx)

    def _parse_reply(self, obj: Any, ctx: CallContext) -> StreamOutcome:
        return parse_openai_reply(obj, ctx)

    def _error_detail(self, obj: Any) -> tuple[str, type[ProviderError] | None]:
        message, _ = super()._error_detail(obj)
        err = obj.get("error") if isinstance(obj, dict) else None
        return message, openai_error_class(err)

    async def list_models(self) -> list[str]:
        ctx = self._ctx()
        obj = await self._request_json("GET", f"{self.base_url}/models", ctx)
        models = [get_str(m, "id", ctx) for m in get_list(obj, "data", ctx, required=True)]
        return sorted(m for m in models if m)


PROVIDER = OpenAIProvider
