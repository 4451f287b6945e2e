"""A local Ollama server (``POST {base}/api/chat``).

Streams are newline-delimited JSON: ``{"message": {"content": ...}, "done": false}``
lines, then one ``"done": true`` line with ``prompt_eval_count`` (input) and
``eval_count`` (output). Ollama omits ``prompt_eval_count`` when the whole prompt
came from its own cache, so a missing count is estimated and the usage marked so.

Tools take OpenAI's shape; tool calls come whole in ``message.tool_calls`` with their
arguments as an object, and usually without ids (``call_<n>`` is given). A tool result
is a ``tool`` message naming the tool. Images are base64 strings in ``images``.
Ollama has no ``tool_choice``: ``none`` sends no tools and a named tool is sent alone.
"""

from __future__ import annotations

from typing import Any, ClassVar

from core.errors import BadRequestError, ProviderError
from core.providers._http import HTTPProvider
from core.providers.openai import openai_tool
from core.providers.parts import (
    ToolCallJoiner,
    arguments_object,
    arguments_text,
    image_base64,
    refuse,
    tool_call_names,
    tool_call_reason,
)
from core.providers.wire import (
    CallContext,
    NDJSONReader,
    StreamOutcome,
    get_int,
    get_list,
    get_map,
    get_str,
)
from core.types import Message, ProviderRequest, TextDelta, ToolCallDelta, Usage

__all__ = ["PROVIDER", "OllamaProvider", "OllamaStreamDecoder", "parse_ollama_reply"]


def _raise_line_error(obj: dict[str, Any], ctx: CallContext) -> None:
    err = obj["error"]
    text = err if isinstance(err, str) else repr(err)
    cls = BadRequestError if "not found" in text else ProviderError
    raise ctx.error(cls, f"{ctx.provider} reported an error: {ctx.redact(text)}")


class _Fold:
    """Folds chat objects (one reply, or one per NDJSON line)."""

    __slots__ = ("ctx", "done", "input", "output", "parts", "reason", "tools")

    def __init__(self, ctx: CallContext) -> None:
        self.ctx = ctx
        self.parts: list[str] = []
        self.done = False
        self.reason = "stop"
        self.input: int | None = None
        self.output: int | None = None
        self.tools = ToolCallJoiner()

    def add(self, obj: Any) -> list[TextDelta | ToolCallDelta]:
        ctx = self.ctx
        if not isinstance(obj, dict):
            raise ctx.malformed("a reply line is not a JSON object")
        if obj.get("error") is not None:
            _raise_line_error(obj, ctx)
        message = get_map(obj, "message", ctx)
        text = get_str(message, "content", ctx) or ""
        out: list[TextDelta | ToolCallDelta] = []
        if text:
            self.parts.append(text)
            out.append(TextDelta(text))
        for call in get_list(message, "tool_calls", ctx):
            function = get_map(call, "function", ctx, required=True)
            args = function.get("arguments")
            args_text = arguments_text(args) if args else ""
            call_id = get_str(call, "id", ctx)
            out.append(self.tools.whole(call_id, get_str(function, "name", ctx), args_text))
        if obj.get("done") is True:
            self.done = True
            self.reason = get_str(obj, "done_reason", ctx) or "stop"
            self.input = get_int(obj, "prompt_eval_count", ctx)
            self.output = get_int(obj, "eval_count", ctx)
        return out

    def outcome(self) -> StreamOutcome:
        if not self.done:
            raise self.ctx.malformed("the reply ended before a line with done: true")
        text = "".join(self.parts)
        calls = self.tools.calls(self.ctx)
        reason = tool_call_reason(self.reason, calls)
        if self.input is not None and self.output is not None:
            usage = Usage(self.input, self.output)
            return StreamOutcome(text, usage, reason, tool_calls=calls)
        return StreamOutcome(text, None, reason, self.input, self.output, calls)


def parse_ollama_reply(obj: Any, ctx: CallContext) -> StreamOutcome:
    """Decode a non-streamed ``/api/chat`` reply."""
    fold = _Fold(ctx)
    fold.add(obj)
    return fold.outcome()


class OllamaStreamDecoder:
    """Decodes an ``/api/chat`` NDJSON stream; pure (bytes in, deltas out)."""

    __slots__ = ("_fold", "_reader")

    def __init__(self, ctx: CallContext) -> None:
        self._reader = NDJSONReader(ctx)
        self._fold = _Fold(ctx)

    def feed(self, chunk: bytes) -> list[TextDelta | ToolCallDelta]:
        out: list[TextDelta | ToolCallDelta] = []
        for obj in self._reader.feed(chunk):
            if not self._fold.done:
                out += self._fold.add(obj)
        return out

    def close(self) -> StreamOutcome:
        for obj in self._reader.close():
            if not self._fold.done:
                self._fold.add(obj)
        return self._fold.outcome()


def _message(
    m: Message, where: str, answers: str | None, provider: str, request: ProviderRequest
) -> dict[str, Any]:
    entry: dict[str, Any] = {"role": m.role, "content": m.content}
    if m.images:
        if m.role != "user":
            raise refuse(provider, request, f"{where}: images in a {m.role} message")
        images = [image_base64(image) for image in m.images]
        if None in images:
            raise refuse(provider, request, f"{where}: an image by URL (only inline bytes)")
        entry["images"] = images
    if m.tool_calls:
        entry["tool_calls"] = [
            {
                "function": {
                    "name": c.name,
                    "arguments": arguments_object(c, provider, request, where),
                }
            }
            for c in m.tool_calls
        ]
    if m.role == "tool":
        name = answers or m.name
        if name:
            entry["tool_name"] = name
    return entry


def _tools(request: ProviderRequest) -> list[dict[str, Any]]:
    """The tools to send, narrowed by ``tool_choice`` as far as Ollama can be."""
    choice = request.tool_choice
    if choice is not None and choice.mode == "none":
        return []
    tools = request.tools
    if choice is not None and choice.mode == "tool":
        tools = tuple(t for t in tools if t.name == choice.name)
    specs = [openai_tool(t) for t in tools]
    for spec in specs:
        spec["function"].pop("strict", None)
    return specs


class OllamaProvider(HTTPProvider):
    """An Ollama server; no key is needed."""

    kind: ClassVar[str] = "ollama"
    parallel_tool_calls_supported: ClassVar[bool] = False
    strict_tools_supported: ClassVar[bool] = False
    tool_choice_modes: ClassVar[frozenset[str]] = frozenset({"auto", "none", "tool"})
    default_base_url: ClassVar[str | None] = "http://localhost:11434"
    #: Images only as base64 in ``images``: Ollama fetches no URLs.
    image_urls_supported: ClassVar[bool] = False

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key.reveal()}"} if self.api_key else {}

    def _chat_call(self, request: ProviderRequest, stream: bool) -> tuple[str, dict[str, Any]]:
        options: dict[str, Any] = {"num_predict": request.max_tokens}
        if request.temperature is not None:
            options["temperature"] = request.temperature
        if request.sampling.top_p is not None:
            options["top_p"] = request.sampling.top_p
        if request.sampling.stop:
            options["stop"] = list(request.sampling.stop)
        if request.sampling.seed is not None:
            options["seed"] = request.sampling.seed
        names = tool_call_names(request.messages)
        messages = [
            _message(m, f"messages[{i}]", names[i], self.name, request)
            for i, m in enumerate(request.messages)
        ]
        body: dict[str, Any] = {
            "model": request.model,
            "messages": messages,
            "stream": stream,
            "options": options,
        }
        tools = _tools(request)
        if tools:
            body["tools"] = tools
        fmt = request.response_format
        if fmt is not None:
            body["format"] = "json" if fmt.schema is None else dict(fmt.schema)
        return f"{self.base_url}/api/chat", body

    def _stream_decoder(self, ctx: CallContext) -> OllamaStreamDecoder:
        return OllamaStreamDecoder(ctx)

    def _parse_reply(self, obj: Any, ctx: CallContext) -> StreamOutcome:
        return parse_ollama_reply(obj, ctx)

    async def list_models(self) -> list[str]:
        ctx = self._ctx()
        obj = await self._request_json("GET", f"{self.base_url}/api/tags", ctx)
        entries = get_list(obj, "models", ctx)
        names = {get_str(m, "name", ctx) or get_str(m, "model", ctx) for m in entries}
        return sorted(n for n in names if n)


PROVIDER = OllamaProvider
