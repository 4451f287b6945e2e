"""A local Ollama server (``POST {base}/api/chat``).

Streams are newline-delimited JSON: ``{"message": {"content": ...}, "done": false}``
lines, then one ``"done": true`` line with ``prompt_eval_count`` (input) and
``eval_count`` (output). Ollama omits ``prompt_eval_count`` when the whole prompt
came from its own cache, so a missing count is estimated and the usage marked so.
"""

from __future__ import annotations

from typing import Any, ClassVar

from core.errors import BadRequestError, ProviderError
from core.providers._http import HTTPProvider
from core.providers.wire import (
    CallContext,
    NDJSONReader,
    StreamOutcome,
    get_int,
    get_list,
    get_map,
    get_str,
)
from core.types import ProviderRequest, TextDelta, Usage

__all__ = ["PROVIDER", "OllamaProvider", "OllamaStreamDecoder", "parse_ollama_reply"]


def _raise_line_error(obj: dict[str, Any], ctx: CallContext) -> None:
    err = obj["error"]
    text = err if isinstance(err, str) else repr(err)
    cls = BadRequestError if "not found" in text else ProviderError
    raise ctx.error(cls, f"{ctx.provider} reported an error: {ctx.redact(text)}")


class _Fold:
    """Folds chat objects (one reply, or one per NDJSON line)."""

    __slots__ = ("ctx", "done", "input", "output", "parts", "reason")

    def __init__(self, ctx: CallContext) -> None:
        self.ctx = ctx
        self.parts: list[str] = []
        self.done = False
        self.reason = "stop"
        self.input: int | None = None
        self.output: int | None = None

    def add(self, obj: Any) -> str:
        ctx = self.ctx
        if not isinstance(obj, dict):
            raise ctx.malformed("a reply line is not a JSON object")
        if obj.get("error") is not None:
            _raise_line_error(obj, ctx)
        text = get_str(get_map(obj, "message", ctx), "content", ctx) or ""
        if text:
            self.parts.append(text)
        if obj.get("done") is True:
            self.done = True
            self.reason = get_str(obj, "done_reason", ctx) or "stop"
            self.input = get_int(obj, "prompt_eval_count", ctx)
            self.output = get_int(obj, "eval_count", ctx)
        return text

    def outcome(self) -> StreamOutcome:
        if not self.done:
            raise self.ctx.malformed("the reply ended before a line with done: true")
        text = "".join(self.parts)
        if self.input is not None and self.output is not None:
            return StreamOutcome(text, Usage(self.input, self.output), self.reason)
        return StreamOutcome(text, None, self.reason, self.input, self.output)


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

    def feed(self, chunk: bytes) -> list[TextDelta]:
        texts = [self._fold.add(obj) for obj in self._reader.feed(chunk) if not self._fold.done]
        return [TextDelta(t) for t in texts if t]

    def close(self) -> StreamOutcome:
        for obj in self._reader.close():
            if not self._fold.done:
                self._fold.add(obj)
        return self._fold.outcome()


class OllamaProvider(HTTPProvider):
    """An Ollama server; no key is needed."""

    kind: ClassVar[str] = "ollama"
    default_base_url: ClassVar[str | None] = "http://localhost:11434"

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
        body: dict[str, Any] = {
            "model": request.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "stream": stream,
            "options": options,
        }
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
