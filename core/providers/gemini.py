"""Google's Gemini API (``{base}/models/{model}:generateContent``).

``promptTokenCount`` already includes ``cachedContentTokenCount``, but
``thoughtsTokenCount`` is billed as output and *not* part of
``candidatesTokenCount``, so output is ``candidates + thoughts``. In streams each
chunk may repeat ``usageMetadata``; the last one is the total.
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import quote

from core.errors import (
    AuthenticationError,
    ContentFilteredError,
    OverloadedError,
    ProviderContextLengthError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
)
from core.providers._http import HTTPProvider
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
from core.types import ProviderRequest, TextDelta, Usage

__all__ = [
    "PROVIDER",
    "GeminiProvider",
    "GeminiStreamDecoder",
    "gemini_error_class",
    "gemini_usage",
    "parse_gemini_reply",
]

_FILTERED = {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"}
_FINISH = {"STOP": "stop", "MAX_TOKENS": "length", **dict.fromkeys(_FILTERED, "content_filter")}

_STATUS_CLASSES: dict[str, type[ProviderError]] = {
    "RESOURCE_EXHAUSTED": RateLimitError,
    "UNAVAILABLE": OverloadedError,
    "INTERNAL": OverloadedError,
    "DEADLINE_EXCEEDED": ProviderTimeoutError,
    "UNAUTHENTICATED": AuthenticationError,
    "PERMISSION_DENIED": AuthenticationError,
}


def gemini_usage(meta: Any, ctx: CallContext) -> Usage:
    """Normalise ``usageMetadata`` (thoughts added to output and counted as reasoning)."""
    prompt = get_int(meta, "promptTokenCount", ctx) or 0
    candidates = get_int(meta, "candidatesTokenCount", ctx) or 0
    cached = get_int(meta, "cachedContentTokenCount", ctx) or 0
    thoughts = get_int(meta, "thoughtsTokenCount", ctx) or 0
    return Usage(
        input_tokens=prompt,
        output_tokens=candidates + thoughts,
        cached_input_tokens=min(cached, prompt),
        reasoning_tokens=thoughts,
    )


def gemini_error_class(err: Any) -> type[ProviderError] | None:
    """The class a Gemini error object asks for beyond its HTTP status, if any."""
    if not isinstance(err, dict):
        return None
    message = err.get("message")
    message = message if isinstance(message, str) else ""
    status = err.get("status")
    # Gemini answers a bad key with 400 INVALID_ARGUMENT, not 401.
    if "API key not valid" in message or "API_KEY_INVALID" in repr(err.get("details")):
        return AuthenticationError
    if "exceeds the maximum number of tokens" in message:
        return ProviderContextLengthError
    return _STATUS_CLASSES.get(status) if isinstance(status, str) else None


def _raise_body_error(obj: dict[str, Any], ctx: CallContext) -> None:
    err = obj["error"]
    message = err.get("message") if isinstance(err, dict) else err
    text = message if isinstance(message, str) else "no message"
    cls = gemini_error_class(err) or ProviderError
    raise ctx.error(cls, f"{ctx.provider} reported an error: {ctx.redact(text)}")


class _Chunk:
    """Folds GenerateContentResponse objects (one, or one per stream chunk)."""

    __slots__ = ("ctx", "parts", "reason", "usage")

    def __init__(self, ctx: CallContext) -> None:
        self.ctx = ctx
        self.parts: list[str] = []
        self.reason: str | None = None
        self.usage: Usage | None = None

    def add(self, obj: Any) -> str:
        """Fold in one response object; return the visible text it adds."""
        ctx = self.ctx
        if not isinstance(obj, dict):
            raise ctx.malformed("a reply chunk is not a JSON object")
        if obj.get("error") is not None:
            _raise_body_error(obj, ctx)
        block = get_str(get_map(obj, "promptFeedback", ctx), "blockReason", ctx)
        if block:
            raise ctx.error(ContentFilteredError, f"{ctx.provider} blocked the prompt ({block})")
        if obj.get("usageMetadata") is not None:
            self.usage = gemini_usage(get_map(obj, "usageMetadata", ctx), ctx)
        candidates = get_list(obj, "candidates", ctx)
        if not candidates:
            return ""
        texts = []
        for part in get_list(get_map(candidates[0], "content", ctx), "parts", ctx):
            if not (isinstance(part, dict) and part.get("thought") is True):
                texts.append(get_str(part, "text", ctx) or "")
        raw = get_str(candidates[0], "finishReason", ctx)
        if raw:
            self.reason = _FINISH.get(raw, raw.lower())
        text = "".join(texts)
        if text:
            self.parts.append(text)
        return text

    def outcome(self) -> StreamOutcome:
        text = "".join(self.parts)
        reason = self.reason or "stop"
        if reason == "content_filter" and not text:
            raise self.ctx.error(ContentFilteredError, f"{self.ctx.provider} blocked the reply")
        return StreamOutcome(text, self.usage, reason)


def parse_gemini_reply(obj: Any, ctx: CallContext) -> StreamOutcome:
    """Decode a non-streamed ``GenerateContentResponse``."""
    folded = _Chunk(ctx)
    folded.add(obj)
    if folded.reason is None and not folded.parts:
        raise ctx.malformed("the reply has no candidates")
    return folded.outcome()


class GeminiStreamDecoder:
    """Decodes a ``streamGenerateContent?alt=sse`` stream; pure (bytes in, deltas out)."""

    __slots__ = ("_fold", "_parser")

    def __init__(self, ctx: CallContext) -> None:
        self._parser = SSEParser(ctx)
        self._fold = _Chunk(ctx)

    def feed(self, chunk: bytes) -> list[TextDelta]:
        out = []
        for event in self._parser.feed(chunk):
            text = self._fold.add(decode_json(event.data, self._fold.ctx))
            if text:
                out.append(TextDelta(text))
        return out

    def close(self) -> StreamOutcome:
        """End of the byte stream: the last chunk of a complete reply has a finishReason."""
        self._parser.close()
        if self._fold.reason is None:
            raise self._fold.ctx.malformed("the stream ended without a finishReason")
        return self._fold.outcome()


def _contents(request: ProviderRequest) -> tuple[list[str], list[dict[str, Any]]]:
    system = [m.content for m in request.messages if m.role == "system"]
    contents: list[dict[str, Any]] = []
    for m in request.messages:
        if m.role == "system":
            continue
        role = "model" if m.role == "assistant" else "user"
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].append({"text": m.content})
        else:
            contents.append({"role": role, "parts": [{"text": m.content}]})
    return system, contents


class GeminiProvider(HTTPProvider):
    """generativelanguage.googleapis.com, API version v1beta."""

    kind: ClassVar[str] = "gemini"
    default_base_url: ClassVar[str | None] = "https://generativelanguage.googleapis.com/v1beta"
    default_key_env: ClassVar[str | None] = "GEMINI_API_KEY"

    def _headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self.api_key.reveal()} if self.api_key else {}

    def _chat_call(self, request: ProviderRequest, stream: bool) -> tuple[str, dict[str, Any]]:
        system, contents = _contents(request)
        config: dict[str, Any] = {"maxOutputTokens": request.max_tokens}
        if request.temperature is not None:
            config["temperature"] = request.temperature
        if request.sampling.top_p is not None:
            config["topP"] = request.sampling.top_p
        if request.sampling.stop:
            config["stopSequences"] = list(request.sampling.stop)
        if request.sampling.seed is not None:
            config["seed"] = request.sampling.seed
        if request.response_format is not None:
            config["responseMimeType"] = "application/json"
            if request.response_format.schema is not None:
                config["responseSchema"] = dict(request.response_format.schema)
        body: dict[str, Any] = {"contents": contents, "generationConfig": config}
        if system:
            body["systemInstruction"] = {"parts": [{"text": s} for s in system]}
        model = quote(request.model.removeprefix("models/"), safe="")
        if stream:
            return f"{self.base_url}/models/{model}:streamGenerateContent?alt=sse", body
        return f"{self.base_url}/models/{model}:generateContent", body

    def _stream_decoder(self, ctx: CallContext) -> GeminiStreamDecoder:
        return GeminiStreamDecoder(ctx)

    def _parse_reply(self, obj: Any, ctx: CallContext) -> StreamOutcome:
        return parse_gemini_reply(obj, ctx)

    def _error_detail(self, obj: Any) -> tuple[str, type[ProviderError] | None]:
        message, _ = super()._error_detail(obj)
        err = obj.get("error") if isinstance(obj, dict) else None
        return message, gemini_error_class(err)

    async def list_models(self) -> list[str]:
        ctx = self._ctx()
        models: list[str] = []
        token: str | None = None
        for _ in range(100):  # a bound, in case a server pages forever
            url = f"{self.base_url}/models?pageSize=1000"
            if token:
                url += "&pageToken=" + quote(token, safe="")
            obj = await self._request_json("GET", url, ctx)
            for entry in get_list(obj, "models", ctx):
                name = get_str(entry, "name", ctx)
                if name:
                    models.append(name.removeprefix("models/"))
            token = get_str(obj, "nextPageToken", ctx)
            if not token:
                break
        return sorted(set(models))


PROVIDER = GeminiProvider
