"""Fuzz the wire decoders: whatever the bytes, only Centwise errors may come out.

Every decoder is pure (bytes or JSON in), so thousands of replies run in seconds:
random bytes, garbled and truncated frames, valid frames with one value swapped for
a value of the wrong type, and odd SSE framing checked against a reference parser.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import re
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.config import ProviderConfig
from core.errors import CentwiseError, ProviderError
from core.providers.anthropic import (
    AnthropicProvider,
    AnthropicStreamDecoder,
    parse_anthropic_reply,
)
from core.providers.gemini import GeminiProvider, GeminiStreamDecoder, parse_gemini_reply
from core.providers.ollama import OllamaProvider, OllamaStreamDecoder, parse_ollama_reply
from core.providers.openai import OpenAIProvider, OpenAIStreamDecoder, parse_openai_reply
from core.providers.wire import (
    CallContext,
    NDJSONReader,
    SSEParser,
    error_for_status,
    parse_retry_after,
)
from tests.integration.servers import (
    AnthropicDialect,
    Behaviour,
    GeminiDialect,
    OllamaDialect,
    OpenAIDialect,
)

CTX = CallContext("fuzz", "m", "req-1", "sk-secret")
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

KEYS = [
    "choices", "delta", "content", "finish_reason", "usage", "prompt_tokens", "completion_tokens",
    "prompt_tokens_details", "cached_tokens", "completion_tokens_details", "reasoning_tokens",
    "error", "message", "type", "code", "index", "text", "content_block", "stop_reason",
    "input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens",
    "candidates", "parts", "thought", "finishReason", "usageMetadata", "promptTokenCount",
    "candidatesTokenCount", "thoughtsTokenCount", "cachedContentTokenCount", "promptFeedback",
    "blockReason", "done", "done_reason", "prompt_eval_count", "eval_count", "status",
]  # fmt: skip

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=12)
    | st.sampled_from(["[DONE]", "STOP", "SAFETY", "text_delta", "message_stop", "end_turn"]),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), inner, max_size=5)
    ),
    max_leaves=8,
)

Decoder = Callable[[CallContext], Any]
DECODERS: dict[str, Decoder] = {
    "openai": OpenAIStreamDecoder,
    "anthropic": AnthropicStreamDecoder,
    "gemini": GeminiStreamDecoder,
    "ollama": OllamaStreamDecoder,
}
REPLY_PARSERS = [parse_openai_reply, parse_anthropic_reply, parse_gemini_reply, parse_ollama_reply]
DIALECTS = {
    "openai": OpenAIDialect(),
    "anthropic": AnthropicDialect(),
    "gemini": GeminiDialect(),
    "ollama": OllamaDialect(),
}


def _sample(kind: str) -> Behaviour:
    usage = type(DIALECTS[kind]).default_usage  # type: ignore[attr-defined]
    return Behaviour(text="alpha beta gamma", thinking="hmm", usage=usage)


def _drive(kind: str, chunks: list[bytes]) -> None:
    """Feed every chunk, then close; only Centwise errors are allowed out."""
    decoder = DECODERS[kind](CTX)
    try:
        for chunk in chunks:
            decoder.feed(chunk)
        decoder.close()
    except CentwiseError as e:
        assert "sk-secret" not in str(e)


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


# --- random and garbled bytes ---------------------------------------------------------


@FUZZ
@given(st.sampled_from(sorted(DECODERS)), st.lists(st.binary(max_size=64), max_size=8))
def test_random_bytes(kind: str, chunks: list[bytes]) -> None:
    _drive(kind, chunks)


@FUZZ
@given(
    st.sampled_from(sorted(DECODERS)),
    st.integers(0, 10_000),
    st.lists(st.integers(0, 10_000), max_size=6),
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=4),
)
def test_truncated_and_garbled_valid_streams(
    kind: str, cut: int, splits: list[int], flips: list[tuple[int, int]]
) -> None:
    data = bytearray(b"".join(DIALECTS[kind].frames(_sample(kind), "m")))
    for pos, value in flips:
        data[pos % len(data)] = value
    whole = bytes(data[: cut % (len(data) + 1)])
    _drive(kind, _split(whole, splits))


# --- valid frames with a value of the wrong type --------------------------------------


@st.composite
def mutated(draw: st.DrawFn, obj: Any) -> Any:
    """``obj`` with one value somewhere replaced by an arbitrary JSON value."""
    obj = copy.deepcopy(obj)
    node = obj
    while isinstance(node, dict | list) and node:
        key = (
            draw(st.sampled_from(sorted(node)))
            if isinstance(node, dict)
            else draw(st.integers(0, len(node) - 1))
        )
        child = node[key]
        if not isinstance(child, dict | list) or not child or draw(st.booleans()):
            node[key] = draw(json_values)
            return obj
        node = child
    return draw(json_values)


def _frame_objects(kind: str) -> list[tuple[str | None, Any]]:
    """The (event name, JSON object) pairs of a valid stream."""
    out = []
    for frame in DIALECTS[kind].frames(_sample(kind), "m"):
        text = frame.decode().replace("\r\n", "\n")
        if kind == "ollama":
            out.append((None, json.loads(text)))
            continue
        event = re.search(r"^event: (.*)$", text, re.M)
        data = re.search(r"^data: (.*)$", text, re.M)
        assert data is not None
        payload = data.group(1)
        out.append(
            (
                event.group(1) if event else None,
                payload if payload == "[DONE]" else json.loads(payload),
            )
        )
    return out


def _encode(kind: str, frames: list[tuple[str | None, Any]]) -> bytes:
    parts = []
    for event, obj in frames:
        payload = obj if obj == "[DONE]" else json.dumps(obj)
        if kind == "ollama":
            parts.append(payload.encode() + b"\n")
        else:
            head = f"event: {event}\n" if event else ""
            parts.append(f"{head}data: {payload}\n\n".encode())
    return b"".join(parts)


@settings(max_examples=450, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.sampled_from(sorted(DECODERS)))
def test_wrong_types_in_valid_streams(data: st.DataObject, kind: str) -> None:
    frames = _frame_objects(kind)
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(frames) - 1))
        event, obj = frames[i]
        frames[i] = (event, data.draw(mutated(obj)))
    _drive(kind, [_encode(kind, frames)])


@settings(max_examples=450, deadline=None)
@given(st.data(), st.sampled_from(sorted(DIALECTS)))
def test_wrong_types_in_valid_replies(data: st.DataObject, kind: str) -> None:
    reply = data.draw(mutated(DIALECTS[kind].reply(_sample(kind), "m")))
    for parse in REPLY_PARSERS:
        with contextlib.suppress(CentwiseError):
            parse(reply, CTX)


@FUZZ
@given(json_values)
def test_arbitrary_json_replies(value: Any) -> None:
    for parse in REPLY_PARSERS:
        with contextlib.suppress(CentwiseError):
            parse(value, CTX)
    for kind in ("openai", "gemini"):
        _drive(kind, [b"data: " + json.dumps(value).encode() + b"\n\n"])
    _drive("ollama", [json.dumps(value).encode() + b"\n"])
    name = value if isinstance(value, str) and "\n" not in value and "\r" not in value else "x"
    _drive("anthropic", [f"event: {name}\ndata: {json.dumps(value)}\n\n".encode()])


# --- error bodies and headers ---------------------------------------------------------

PROVIDERS = [OpenAIProvider, AnthropicProvider, GeminiProvider, OllamaProvider]


@FUZZ
@given(json_values, st.integers(100, 999), st.text(max_size=40))
def test_error_bodies(body: Any, status: int, header: str) -> None:
    for cls in PROVIDERS:
        provider = cls("fuzz", ProviderConfig(kind=cls.kind), None)  # type: ignore[arg-type]
        detail, override = provider._error_detail(body)
        assert isinstance(detail, str)
        err = error_for_status(status, {"retry-after": header}, detail, CTX, override)
        assert isinstance(err, ProviderError)


@FUZZ
@given(st.text(max_size=40), st.text(max_size=20))
def test_retry_after_never_fails(value: str, ms: str) -> None:
    for headers in ({"retry-after": value}, {"retry-after-ms": ms, "retry-after": value}):
        seconds = parse_retry_after(headers)
        assert seconds is None or (seconds >= 0 and math.isfinite(seconds))


# --- SSE framing against a reference implementation -----------------------------------

LINE = st.one_of(
    st.sampled_from(
        ["data: x", "data:y", "data", "event: e", "event:", "id: 7", "retry: 5", ": ping", ":"]
    ),
    st.text(alphabet="abc:é \x00", max_size=8),
)
EOL = st.sampled_from(["\n", "\r", "\r\n"])


def _reference(stream: bytes) -> tuple[list[tuple[str, str, str | None]], bool]:
    """The WHATWG algorithm, written plainly: (events, cut off in the middle?)."""
    text = stream.decode("utf-8", "replace").removeprefix("\ufeff")
    *lines, rest = re.split(r"\r\n|\r|\n", text)
    events, data, event, last_id = [], [], "", None
    for line in lines:
        if not line:
            if data:
                events.append((event or "message", "\n".join(data), last_id))
            data, event = [], ""
            continue
        if line.startswith(":"):
            continue
        name, colon, value = line.partition(":")
        value = value[1:] if colon and value.startswith(" ") else value
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
        elif name == "id" and "\0" not in value:
            last_id = value
    return events, bool(data) or bool(rest and not rest.startswith(":"))


@settings(max_examples=600, deadline=None)
@given(
    st.lists(st.tuples(LINE, EOL), max_size=12),
    st.booleans(),
    st.lists(st.integers(0, 200), max_size=6),
    st.text(alphabet="dat: \r", max_size=4),
)
def test_sse_parser_matches_reference(
    lines: list[tuple[str, str]], bom: bool, cuts: list[int], tail: str
) -> None:
    stream = ("\ufeff" if bom else "") + "".join(a + b for a, b in lines) + tail
    raw = stream.encode()
    expected, cut_off = _reference(raw)
    parser = SSEParser(CTX)
    got = [e for chunk in _split(raw, cuts) for e in parser.feed(chunk)]
    assert [(e.event, e.data, e.id) for e in got] == expected
    try:
        parser.close()
        assert not cut_off
    except ProviderError:
        assert cut_off


@FUZZ
@given(st.binary(max_size=200), st.lists(st.integers(0, 200), max_size=6))
def test_sse_and_ndjson_on_raw_bytes(raw: bytes, cuts: list[int]) -> None:
    for reader in (SSEParser(CTX), NDJSONReader(CTX)):
        try:
            for chunk in _split(raw, cuts):
                reader.feed(chunk)
            reader.close()
        except CentwiseError:
            pass
