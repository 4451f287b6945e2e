"""The four wire formats the loopback server speaks, per each provider's public docs."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from tests.integration.servers import checks
from tests.integration.servers._base import (
    DEFAULT,
    Behaviour,
    Dialect,
    split_pieces,
    split_text,
)
from tests.integration.servers.prompt_cache import AnthropicCache, GeminiCache, OpenAICache

__all__ = ["AnthropicDialect", "GeminiDialect", "OllamaDialect", "OpenAIDialect"]


def _sse(obj: Any, event: str | None = None, sep: bytes = b"\n") -> bytes:
    head = b"event: %s%s" % (event.encode(), sep) if event else b""
    return head + b"data: " + json.dumps(obj).encode() + sep + sep


def _usage(b: Behaviour, default: dict[str, int]) -> Any:
    return default if b.usage is DEFAULT else b.usage


def _args(arguments: str) -> Any:
    """Arguments for a format that carries an object (text that is not JSON stays text:
    the decoder must then say the reply is malformed)."""
    try:
        return json.loads(arguments)
    except ValueError:
        return arguments


class OpenAIDialect(Dialect):
    """Chat Completions: ``/chat/completions`` and ``/models`` under the base URL.
    ``prompt_cache`` (True or an :class:`OpenAICache`) plays OpenAI's prompt caching."""

    default_usage: ClassVar[dict[str, Any]] = {
        "prompt_tokens": 12,
        "completion_tokens": 5,
        "total_tokens": 17,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }

    def __init__(self, prompt_cache: OpenAICache | bool = False) -> None:
        self.prompt_cache = OpenAICache() if prompt_cache is True else prompt_cache or None

    def route(self, method: str, path: str, body: Any) -> str | None:
        if method == "GET" and path.endswith("/models"):
            return "models"
        if method == "POST" and path.endswith("/chat/completions"):
            return "stream" if isinstance(body, dict) and body.get("stream") else "chat"
        return None

    def reply(self, b: Behaviour, model: str) -> Any:
        out: dict[str, Any] = {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": b.text, "refusal": None},
                    "logprobs": None,
                    "finish_reason": b.finish or ("tool_calls" if b.tool_calls else "stop"),
                }
            ],
        }
        if b.tool_calls:
            message = out["choices"][0]["message"]
            message["content"] = b.text or None
            message["tool_calls"] = [
                {"id": i, "type": "function", "function": {"name": n, "arguments": a}}
                for i, n, a in b.tool_calls
            ]
        usage = _usage(b, self.default_usage)
        if usage is not None:
            out["usage"] = usage
        return out

    def _chunk(self, model: str, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
        return {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": model,
            "system_fingerprint": "fp_loopback",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            "usage": None,
        }

    def frames(self, b: Behaviour, model: str) -> list[bytes]:
        out = [_sse(self._chunk(model, {"role": "assistant", "content": ""}, None))]
        for piece in split_text(b.text, b.chunks):
            out.append(_sse(self._chunk(model, {"content": piece}, None)))
        for n, (call_id, name, arguments) in enumerate(b.tool_calls):
            # The first piece names the call; the rest are fragments of its arguments.
            first = {"index": n, "id": call_id, "type": "function"}
            first["function"] = {"name": name, "arguments": ""}
            out.append(_sse(self._chunk(model, {"tool_calls": [first]}, None)))
            for piece in split_pieces(arguments, b.tool_chunks):
                more = {"index": n, "function": {"arguments": piece}}
                out.append(_sse(self._chunk(model, {"tool_calls": [more]}, None)))
        finish = b.finish or ("tool_calls" if b.tool_calls else "stop")
        out.append(_sse(self._chunk(model, {}, finish)))
        usage = _usage(b, self.default_usage)
        if usage is not None:
            last = self._chunk(model, {}, None)
            last["choices"], last["usage"] = [], usage
            out.append(_sse(last))
        out.append(b"data: [DONE]\n\n")
        return out

    def error_body(self, b: Behaviour) -> Any:
        return {
            "error": {"message": b.error, "type": "invalid_request_error", "code": b.error_type}
        }

    def refuse(self, body: Any) -> str | None:
        return checks.openai_refusal(body)

    def models(self, names: list[str], query: dict[str, list[str]], page: int) -> Any:
        return {"object": "list", "data": [{"id": n, "object": "model"} for n in names]}


class AnthropicDialect(Dialect):
    """Messages API: ``/v1/messages`` and ``/v1/models``. ``prompt_cache`` (True or an
    :class:`AnthropicCache`) plays Anthropic's prompt caching."""

    default_usage: ClassVar[dict[str, Any]] = {
        "input_tokens": 12,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": 5,
    }

    def __init__(self, prompt_cache: AnthropicCache | bool = False) -> None:
        self.prompt_cache = AnthropicCache() if prompt_cache is True else prompt_cache or None

    def route(self, method: str, path: str, body: Any) -> str | None:
        if method == "GET" and path == "/v1/models":
            return "models"
        if method == "POST" and path == "/v1/messages":
            return "stream" if isinstance(body, dict) and body.get("stream") else "chat"
        return None

    def reply(self, b: Behaviour, model: str) -> Any:
        content: list[dict[str, Any]] = [{"type": "text", "text": b.text}]
        if b.tool_calls and not b.text:
            content = []
        if b.thinking:
            content.insert(0, {"type": "thinking", "thinking": b.thinking, "signature": "s"})
        for call_id, name, arguments in b.tool_calls:
            content.append(
                {"type": "tool_use", "id": call_id, "name": name, "input": _args(arguments)}
            )
        out: dict[str, Any] = {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": b.finish or ("tool_use" if b.tool_calls else "end_turn"),
            "stop_sequence": None,
        }
        usage = _usage(b, self.default_usage)
        if usage is not None:
            out["usage"] = usage
        return out

    def frames(self, b: Behaviour, model: str) -> list[bytes]:
        usage = _usage(b, self.default_usage)
        message = self.reply(b, model) | {"content": [], "stop_reason": None}
        if usage is not None:
            # message_start reports the prompt side and a first, partial output count.
            message["usage"] = {**usage, "output_tokens": 1}
        out = [_sse({"type": "message_start", "message": message}, "message_start")]
        index = 0
        if b.thinking:
            out += self._block(0, "thinking", "thinking_delta", "thinking", [b.thinking])
            index = 1
        if b.text or not b.tool_calls:
            pieces = split_text(b.text, b.chunks)
            out += self._block(index, "text", "text_delta", "text", pieces)
            index += 1
        for call_id, name, arguments in b.tool_calls:
            out += self._tool_block(index, call_id, name, split_pieces(arguments, b.tool_chunks))
            index += 1
        stop = b.finish or ("tool_use" if b.tool_calls else "end_turn")
        delta: dict[str, Any] = {
            "type": "message_delta",
            "delta": {"stop_reason": stop, "stop_sequence": None},
        }
        if usage is not None:
            delta["usage"] = {"output_tokens": usage.get("output_tokens", 0)}
        out.append(_sse(delta, "message_delta"))
        out.append(_sse({"type": "message_stop"}, "message_stop"))
        return out

    def _block(self, index: int, kind: str, delta: str, key: str, pieces: list[str]) -> list[bytes]:
        start = {
            "type": "content_block_start",
            "index": index,
            "content_block": {"type": kind, key: ""},
        }
        out = [_sse(start, "content_block_start")]
        for piece in pieces:
            body = {
                "type": "content_block_delta",
                "index": index,
                "delta": {"type": delta, key: piece},
            }
            out.append(_sse(body, "content_block_delta"))
        out.append(_sse({"type": "content_block_stop", "index": index}, "content_block_stop"))
        return out

    def _tool_block(self, index: int, call_id: str, name: str, pieces: list[str]) -> list[bytes]:
        """A tool_use block: its id and name, then its input as partial JSON text."""
        block = {"type": "tool_use", "id": call_id, "name": name, "input": {}}
        start = {"type": "content_block_start", "index": index, "content_block": block}
        out = [_sse(start, "content_block_start")]
        for piece in pieces:
            delta = {"type": "input_json_delta", "partial_json": piece}
            body = {"type": "content_block_delta", "index": index, "delta": delta}
            out.append(_sse(body, "content_block_delta"))
        out.append(_sse({"type": "content_block_stop", "index": index}, "content_block_stop"))
        return out

    def ping_frame(self) -> bytes | None:
        return _sse({"type": "ping"}, "ping")

    def refuse(self, body: Any) -> str | None:
        refused = checks.anthropic_refusal(body)
        if refused is None and self.prompt_cache is not None:
            refused = self.prompt_cache.refusal(body)
        return refused

    def malformed_frame(self) -> bytes:
        return b'event: content_block_delta\ndata: {"type": "content_block_delta", "delta": \n\n'

    def error_body(self, b: Behaviour) -> Any:
        kind = b.error_type or {429: "rate_limit_error", 529: "overloaded_error"}.get(
            b.status, "api_error" if b.status >= 500 else "invalid_request_error"
        )
        if b.status in (401, 403) and not b.error_type:
            kind = "authentication_error"
        return {"type": "error", "error": {"type": kind, "message": b.error}}

    def models(self, names: list[str], query: dict[str, list[str]], page: int) -> Any:
        after = query.get("after_id", [None])[0]
        start = names.index(after) + 1 if after in names else 0
        chunk = names[start : start + page]
        return {
            "data": [{"type": "model", "id": n, "display_name": n} for n in chunk],
            "has_more": start + page < len(names),
            "first_id": chunk[0] if chunk else None,
            "last_id": chunk[-1] if chunk else None,
        }


class GeminiDialect(Dialect):
    """Gemini API: ``/models/{m}:generateContent``, ``:streamGenerateContent?alt=sse``.
    ``prompt_cache`` (True or a :class:`GeminiCache`) plays Gemini's implicit caching."""

    default_usage: ClassVar[dict[str, Any]] = {
        "promptTokenCount": 12,
        "candidatesTokenCount": 5,
        "totalTokenCount": 17,
    }

    def __init__(self, prompt_cache: GeminiCache | bool = False) -> None:
        self.prompt_cache = GeminiCache() if prompt_cache is True else prompt_cache or None

    def route(self, method: str, path: str, body: Any) -> str | None:
        if method == "GET" and path.endswith("/models"):
            return "models"
        if method == "POST" and path.endswith(":streamGenerateContent"):
            return "stream"
        if method == "POST" and path.endswith(":generateContent"):
            return "chat"
        return None

    def _response(self, parts: list[dict[str, Any]], finish: str | None, usage: Any) -> Any:
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
        if finish:
            candidate["finishReason"] = finish
        out: dict[str, Any] = {"candidates": [candidate], "modelVersion": "loopback-001"}
        if usage is not None:
            out["usageMetadata"] = usage
        return out

    @staticmethod
    def _calls(b: Behaviour) -> list[dict[str, Any]]:
        """functionCall parts (whole, streamed too), with a thought signature as Gemini 3
        gives the first call of a step."""
        parts = []
        for n, (call_id, name, arguments) in enumerate(b.tool_calls):
            call: dict[str, Any] = {"name": name, "args": _args(arguments)}
            if call_id:
                call["id"] = call_id
            part: dict[str, Any] = {"functionCall": call}
            if n == 0:
                part["thoughtSignature"] = "c2lnbmF0dXJl"
            parts.append(part)
        return parts

    def reply(self, b: Behaviour, model: str) -> Any:
        parts: list[dict[str, Any]] = [{"text": b.text}] if b.text or not b.tool_calls else []
        if b.thinking:
            parts.insert(0, {"text": b.thinking, "thought": True})
        parts += self._calls(b)
        return self._response(parts, b.finish or "STOP", _usage(b, self.default_usage))

    def frames(self, b: Behaviour, model: str) -> list[bytes]:
        usage = _usage(b, self.default_usage)
        chunks: list[list[dict[str, Any]]] = [[{"text": p}] for p in split_text(b.text, b.chunks)]
        if b.tool_calls:
            chunks = [c for c in chunks if c[0]["text"]] + [[c] for c in self._calls(b)]
        out = []
        if b.thinking:
            out.append(self._response([{"text": b.thinking, "thought": True}], None, None))
        for i, parts in enumerate(chunks):
            last = i == len(chunks) - 1
            partial = None
            if usage is not None:
                # Each chunk repeats running totals; only the last is final.
                partial = usage if last else {**usage, "candidatesTokenCount": i + 1}
            finish = (b.finish or "STOP") if last else None
            out.append(self._response(parts, finish, partial))
        # Gemini separates events with CRLF pairs.
        return [_sse(obj, sep=b"\r\n") for obj in out]

    def error_body(self, b: Behaviour) -> Any:
        status = b.error_type or {
            400: "INVALID_ARGUMENT",
            401: "UNAUTHENTICATED",
            403: "PERMISSION_DENIED",
            404: "NOT_FOUND",
            429: "RESOURCE_EXHAUSTED",
            500: "INTERNAL",
            503: "UNAVAILABLE",
        }.get(b.status, "UNKNOWN")
        return {"error": {"code": b.status, "message": b.error, "status": status}}

    def models(self, names: list[str], query: dict[str, list[str]], page: int) -> Any:
        start = int(query.get("pageToken", ["0"])[0])
        out: dict[str, Any] = {
            "models": [{"name": f"models/{n}"} for n in names[start : start + page]]
        }
        if start + page < len(names):
            out["nextPageToken"] = str(start + page)
        return out

    def malformed_frame(self) -> bytes:
        return b'data: {"candidates": [{"content": \r\n\r\n'

    def refuse(self, body: Any) -> str | None:
        return checks.gemini_refusal(body)


class OllamaDialect(Dialect):
    """Ollama: ``/api/chat`` (NDJSON when streaming) and ``/api/tags``."""

    content_type: ClassVar[str] = "application/x-ndjson"
    keepalive_frame: ClassVar[bytes] = b"\n"
    default_usage: ClassVar[dict[str, Any]] = {"prompt_eval_count": 12, "eval_count": 5}

    def route(self, method: str, path: str, body: Any) -> str | None:
        if method == "GET" and path == "/api/tags":
            return "models"
        if method == "POST" and path == "/api/chat":
            streaming = not isinstance(body, dict) or body.get("stream", True)
            return "stream" if streaming else "chat"
        return None

    def _line(self, model: str, text: str, thinking: str | None = None) -> dict[str, Any]:
        message = {"role": "assistant", "content": text}
        if thinking:
            message["thinking"] = thinking
        return {
            "model": model,
            "created_at": "2025-01-01T00:00:00Z",
            "message": message,
            "done": False,
        }

    def _done(self, b: Behaviour, model: str, text: str) -> dict[str, Any]:
        out = self._line(model, text) | {"done": True, "done_reason": b.finish or "stop"}
        out["total_duration"] = 1_000_000
        usage = _usage(b, self.default_usage)
        return out | (usage or {})

    @staticmethod
    def _calls(b: Behaviour) -> list[dict[str, Any]]:
        calls = []
        for n, (call_id, name, arguments) in enumerate(b.tool_calls):
            call: dict[str, Any] = {
                "function": {"index": n, "name": name, "arguments": _args(arguments)}
            }
            if call_id:
                call["id"] = call_id
            calls.append(call)
        return calls

    def reply(self, b: Behaviour, model: str) -> Any:
        out = self._done(b, model, b.text)
        if b.tool_calls:
            out["message"]["tool_calls"] = self._calls(b)
        return out

    def frames(self, b: Behaviour, model: str) -> list[bytes]:
        lines = [self._line(model, "", b.thinking)] if b.thinking else []
        if b.text or not b.tool_calls:
            lines += [self._line(model, p) for p in split_text(b.text, b.chunks)]
        if b.tool_calls:  # Ollama streams each call whole, in a line before the last
            for call in self._calls(b):
                line = self._line(model, "")
                line["message"]["tool_calls"] = [call]
                lines.append(line)
        lines.append(self._done(b, model, ""))
        return [json.dumps(line).encode() + b"\n" for line in lines]

    def error_body(self, b: Behaviour) -> Any:
        return {"error": b.error}

    def models(self, names: list[str], query: dict[str, list[str]], page: int) -> Any:
        return {"models": [{"name": n, "model": n, "size": 1} for n in names]}

    def malformed_frame(self) -> bytes:
        return b'{"message": {"content": "x"\n'

    def refuse(self, body: Any) -> str | None:
        return checks.ollama_refusal(body)
