"""Google's Gemini API (``{base}/models/{model}:generateContent``).

``promptTokenCount`` already includes ``cachedContentTokenCount``, but
``thoughtsTokenCount`` is billed as output and *not* part of
``candidatesTokenCount``, so output is ``candidates + thoughts``. In streams each
chunk may repeat ``usageMetadata``; the last one is the total.

Tools are ``functionDeclarations`` (the JSON Schema as ``parametersJsonSchema``); a
call is a ``functionCall`` part, always whole (streamed too), with no finish reason of
its own; a result a ``functionResponse`` part that names the function, not the call.
Images are ``inlineData`` parts (bytes only: the API fetches no URLs).
"""

from __future__ import annotations

import json
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
    SSEParser,
    StreamOutcome,
    decode_json,
    get_int,
    get_list,
    get_map,
    get_str,
)
from core.types import Message, ProviderRequest, TextDelta, ToolCallDelta, ToolChoice, Usage

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

    __slots__ = ("ctx", "parts", "reason", "tools", "usage")

    def __init__(self, ctx: CallContext) -> None:
        self.ctx = ctx
        self.parts: list[str] = []
        self.reason: str | None = None
        self.usage: Usage | None = None
        self.tools = ToolCallJoiner()

    def add(self, obj: Any) -> list[TextDelta | ToolCallDelta]:
        """Fold in one response object; return the text and the calls it adds."""
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
            return []
        texts: list[str] = []
        calls: list[TextDelta | ToolCallDelta] = []
        for part in get_list(get_map(candidates[0], "content", ctx), "parts", ctx):
            if isinstance(part, dict) and part.get("functionCall") is not None:
                calls.append(self._call(get_map(part, "functionCall", ctx)))
            elif not (isinstance(part, dict) and part.get("thought") is True):
                texts.append(get_str(part, "text", ctx) or "")
        raw = get_str(candidates[0], "finishReason", ctx)
        if raw:
            self.reason = _FINISH.get(raw, raw.lower())
        text = "".join(texts)
        if text:
            self.parts.append(text)
            return [TextDelta(text), *calls]
        return calls

    def _call(self, call: dict[str, Any]) -> ToolCallDelta:
        ctx = self.ctx
        args = call.get("args")
        if args is not None and not isinstance(args, dict):
            raise ctx.malformed(f"expected an object at 'args', got {type(args).__name__}")
        text = arguments_text(args) if args else ""
        return self.tools.whole(get_str(call, "id", ctx), get_str(call, "name", ctx), text)

    def outcome(self) -> StreamOutcome:
        text = "".join(self.parts)
        calls = self.tools.calls(self.ctx)
        # Gemini ends a reply of function calls with a plain STOP.
        reason = tool_call_reason(self.reason or "stop", calls)
        if reason == "content_filter" and not text and not calls:
            raise self.ctx.error(ContentFilteredError, f"{self.ctx.provider} blocked the reply")
        return StreamOutcome(text, self.usage, reason, tool_calls=calls)


def parse_gemini_reply(obj: Any, ctx: CallContext) -> StreamOutcome:
    """Decode a non-streamed ``GenerateContentResponse``."""
    folded = _Chunk(ctx)
    folded.add(obj)
    if folded.reason is None and not folded.parts and not folded.tools:
        raise ctx.malformed("the reply has no candidates")
    return folded.outcome()


class GeminiStreamDecoder:
    """Decodes a ``streamGenerateContent?alt=sse`` stream; pure (bytes in, deltas out)."""

    __slots__ = ("_fold", "_parser")

    def __init__(self, ctx: CallContext) -> None:
        self._parser = SSEParser(ctx)
        self._fold = _Chunk(ctx)

    def feed(self, chunk: bytes) -> list[TextDelta | ToolCallDelta]:
        out: list[TextDelta | ToolCallDelta] = []
        for event in self._parser.feed(chunk):
            out += self._fold.add(decode_json(event.data, self._fold.ctx))
        return out

    def close(self) -> StreamOutcome:
        """End of the byte stream: the last chunk of a complete reply has a finishReason."""
        self._parser.close()
        if self._fold.reason is None:
            raise self._fold.ctx.malformed("the stream ended without a finishReason")
        return self._fold.outcome()


#: Gemini 3 refuses a replayed function call without the thought signature the model
#: gave it. Centwise keeps no signatures, so replayed calls carry the value Google
#: documents for history it did not produce (it skips the check).
SKIP_SIGNATURE = "skip_thought_signature_validator"


def _result(text: str) -> Any:
    """A tool result for ``functionResponse.response.result``: a JSON object as such,
    anything else as its text."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return text
    return value if isinstance(value, dict) else text


def _parts(
    m: Message, where: str, answers: str | None, provider: str, request: ProviderRequest
) -> list[dict[str, Any]]:
    if m.role == "tool":
        name = answers or m.name
        if not name:
            what = f"{where}: a tool result for no earlier tool call ({m.tool_call_id!r})"
            raise refuse(provider, request, what)
        response = {"name": name, "response": {"result": _result(m.content)}}
        return [{"functionResponse": response}]
    text = m.content or not (m.images or m.tool_calls)
    parts: list[dict[str, Any]] = [{"text": m.content}] if text else []
    for image in m.images:
        data = image_base64(image)
        if data is None:
            raise refuse(provider, request, f"{where}: an image by URL (only inline bytes)")
        parts.append({"inlineData": {"mimeType": image.media_type, "data": data}})
    for n, call in enumerate(m.tool_calls):
        args = arguments_object(call, provider, request, where)
        part: dict[str, Any] = {"functionCall": {"name": call.name, "args": args}}
        if n == 0:  # the first call of a step carries the step's signature
            part["thoughtSignature"] = SKIP_SIGNATURE
        parts.append(part)
    return parts


def _contents(provider: str, request: ProviderRequest) -> tuple[list[str], list[dict[str, Any]]]:
    """System text apart; consecutive same-role turns merged (so the results of
    parallel calls share one user turn, as Gemini wants)."""
    system = [m.content for m in request.messages if m.role == "system"]
    names = tool_call_names(request.messages)
    contents: list[dict[str, Any]] = []
    for i, m in enumerate(request.messages):
        if m.images and m.role != "user":
            raise refuse(provider, request, f"messages[{i}]: images in a {m.role} message")
        if m.role == "system":
            continue
        role = "model" if m.role == "assistant" else "user"
        parts = _parts(m, f"messages[{i}]", names[i], provider, request)
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})
    return system, contents


_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY", "tool": "ANY"}


def _tools(request: ProviderRequest) -> dict[str, Any]:
    if not request.tools:
        return {}
    declarations = []
    for tool in request.tools:
        spec: dict[str, Any] = {"name": tool.name}
        if tool.description:
            spec["description"] = tool.description
        if tool.parameters:
            # Full JSON Schema; ``parameters`` would take only the OpenAPI subset.
            spec["parametersJsonSchema"] = dict(tool.parameters)
        declarations.append(spec)
    out: dict[str, Any] = {"tools": [{"functionDeclarations": declarations}]}
    if request.tool_choice is not None:
        out["toolConfig"] = {"functionCallingConfig": _calling_config(request.tool_choice)}
    return out


def _calling_config(choice: ToolChoice) -> dict[str, Any]:
    config: dict[str, Any] = {"mode": _MODES[choice.mode]}
    if choice.mode == "tool":
        config["allowedFunctionNames"] = [choice.name]
    return config


class GeminiProvider(HTTPProvider):
    """generativelanguage.googleapis.com, API version v1beta."""

    kind: ClassVar[str] = "gemini"
    parallel_tool_calls_supported: ClassVar[bool] = False
    strict_tools_supported: ClassVar[bool] = False
    default_base_url: ClassVar[str | None] = "https://generativelanguage.googleapis.com/v1beta"
    default_key_env: ClassVar[str | None] = "GEMINI_API_KEY"
    #: Images only as inline bytes: ``fileData`` takes Files API URIs, not web URLs.
    image_urls_supported: ClassVar[bool] = False

    def _headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self.api_key.reveal()} if self.api_key else {}

    def _chat_call(self, request: ProviderRequest, stream: bool) -> tuple[str, dict[str, Any]]:
        system, contents = _contents(self.name, request)
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
        body: dict[str, Any] = {
            "contents": contents,
            "generationConfig": config,
            **_tools(request),
        }
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
