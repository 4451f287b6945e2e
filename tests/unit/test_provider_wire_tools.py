"""Tool calls through the pure wire decoders and request builders, without a network.

The decoders get the loopback dialects' tool-call streams cut at arbitrary points: the
pieces must join up to the calls, and the outcome must carry them whole. The OpenAI
decoder's fast paths must still agree with the plain algorithm when tool-call chunks are
mixed in, and wrong types inside tool-call frames may only raise Centwise errors.
"""

from __future__ import annotations

import contextlib
import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.config import ProviderConfig
from core.errors import CentwiseError, MalformedResponseError, ProviderError
from core.providers.anthropic import (
    AnthropicProvider,
    AnthropicStreamDecoder,
    parse_anthropic_reply,
)
from core.providers.base import Provider
from core.providers.gemini import (
    SKIP_SIGNATURE,
    GeminiProvider,
    GeminiStreamDecoder,
    parse_gemini_reply,
)
from core.providers.ollama import OllamaProvider, OllamaStreamDecoder, parse_ollama_reply
from core.providers.openai import OpenAIProvider, OpenAIStreamDecoder, parse_openai_reply
from core.providers.openai_compatible import OpenAICompatibleProvider
from core.providers.parts import (
    ToolCallJoiner,
)
from core.providers.wire import (
    CallContext,
    decode_json,
)
from core.types import Message, TextDelta, ToolCall, ToolCallDelta
from tests.integration.servers import (
    AnthropicDialect,
    Behaviour,
    GeminiDialect,
    OllamaDialect,
    OpenAIDialect,
)
from tests.integration.servers.tool_support import joined, tool_request

CTX = CallContext("wire", "m", "req-1", "sk-secret")
DECODERS: dict[str, Any] = {
    "openai": OpenAIStreamDecoder,
    "anthropic": AnthropicStreamDecoder,
    "gemini": GeminiStreamDecoder,
    "ollama": OllamaStreamDecoder,
}
PARSERS: dict[str, Any] = {
    "openai": parse_openai_reply,
    "anthropic": parse_anthropic_reply,
    "gemini": parse_gemini_reply,
    "ollama": parse_ollama_reply,
}
DIALECTS: dict[str, Any] = {
    "openai": OpenAIDialect(),
    "anthropic": AnthropicDialect(),
    "gemini": GeminiDialect(),
    "ollama": OllamaDialect(),
}
CALLS = [
    ("id_1", "get_weather", '{"city": "Zürich", "days": [1, 2]}'),
    ("id_2", "get_time", "{}"),
    ("id_3", "lookup", '{"q": "a \\"quoted\\" word\\n"}'),
]


def _behaviour(text: str = "Let me check.", pieces: int = 5) -> Behaviour:
    return Behaviour(text=text, tool_calls=list(CALLS), tool_chunks=pieces)


def _cut(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


def _decode(kind: str, chunks: list[bytes]) -> tuple[str, list[ToolCallDelta], Any]:
    decoder = DECODERS[kind](CTX)
    text, deltas = [], []
    for chunk in chunks:
        for delta in decoder.feed(chunk):
            if isinstance(delta, TextDelta):
                text.append(delta.text)
            else:
                deltas.append(delta)
    return "".join(text), deltas, decoder.close()


def _expected(kind: str) -> tuple[ToolCall, ...]:
    # Formats that carry an object write it back as JSON; the text ones keep it as sent.
    if kind in ("openai", "anthropic"):
        return tuple(ToolCall(*c) for c in CALLS)
    return tuple(
        ToolCall(i, n, json.dumps(json.loads(a), ensure_ascii=False) if a != "{}" else "{}")
        for i, n, a in CALLS
    )


# --- decoders over bytes -------------------------------------------------------------


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(sorted(DECODERS)),
    st.lists(st.integers(0, 10_000), max_size=12),
    st.integers(1, 12),
)
def test_streamed_calls_join_up_wherever_the_bytes_are_cut(
    kind: str, cuts: list[int], pieces: int
) -> None:
    raw = b"".join(DIALECTS[kind].frames(_behaviour(pieces=pieces), "m"))
    text, deltas, outcome = _decode(kind, _cut(raw, cuts))
    assert text == "Let me check." == outcome.text
    assert outcome.tool_calls == _expected(kind)
    assert joined(deltas) == [(c.id, c.name, c.arguments) for c in outcome.tool_calls]
    assert outcome.finish_reason == "tool_calls"


@pytest.mark.parametrize("kind", sorted(PARSERS))
def test_whole_replies_carry_the_calls(kind: str) -> None:
    outcome = PARSERS[kind](DIALECTS[kind].reply(_behaviour(), "m"), CTX)
    assert outcome.text == "Let me check."
    assert outcome.tool_calls == _expected(kind)
    assert outcome.finish_reason == "tool_calls"


@pytest.mark.parametrize("kind", sorted(PARSERS))
def test_a_reply_without_calls_has_none(kind: str) -> None:
    outcome = PARSERS[kind](DIALECTS[kind].reply(Behaviour(text="hi"), "m"), CTX)
    assert (outcome.text, outcome.tool_calls, outcome.finish_reason) == ("hi", (), "stop")


@pytest.mark.parametrize("kind", sorted(PARSERS))
def test_a_truncated_call_keeps_its_length_reason(kind: str) -> None:
    finish = {"openai": "length", "anthropic": "max_tokens", "gemini": "MAX_TOKENS"}
    behaviour = _behaviour()
    behaviour.finish = finish.get(kind, "length")
    outcome = PARSERS[kind](DIALECTS[kind].reply(behaviour, "m"), CTX)
    assert outcome.finish_reason == "length" and len(outcome.tool_calls) == 3


# --- the OpenAI decoder: fast paths, odd servers ---------------------------------------


def _sse(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


def _delta_frame(delta: dict[str, Any], finish: str | None = None) -> bytes:
    return _sse({"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})


class _Plain(OpenAIStreamDecoder):
    """The OpenAI decoder with its shortcuts removed (as in test_openai_stream_paths)."""

    __slots__ = ()

    def feed(self, chunk: bytes) -> list[Any]:
        texts: list[str] = []
        for event in self.parser.feed(chunk):
            if self.done:
                continue
            if event.data == "[DONE]":
                self.done = True
                continue
            got = self._checked_chunk(decode_json(event.data, self._ctx))
            if got:
                texts.append(got)
        return self._delta(texts)


def _outcome(cls: type[OpenAIStreamDecoder], chunks: list[bytes]) -> Any:
    decoder = cls(CTX)
    try:
        out = [d for chunk in chunks for d in decoder.feed(chunk)]
        return out, decoder.close()
    except ProviderError as e:
        return type(e).__name__


_PIECES = [
    _delta_frame({"content": "Hi "}),
    _delta_frame({"content": "there", "tool_calls": None}),
    _delta_frame(
        {"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "f", "arguments": ""}}]}
    ),
    _delta_frame({"tool_calls": [{"index": 0, "function": {"arguments": '{"a":'}}]}),
    _delta_frame({"content": "!", "tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}),
    _delta_frame({"tool_calls": []}),
    _delta_frame({"tool_calls": [{"index": 1, "id": "c2", "function": {"name": "g"}}]}),
    _delta_frame({"tool_calls": {"index": 1}}),
    _delta_frame({"tool_calls": [{"index": [1], "function": {"arguments": "x"}}]}),
]
_END = [_delta_frame({}, "tool_calls"), b"data: [DONE]\n\n"]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(_PIECES), max_size=10),
    st.lists(st.integers(0, 10_000), max_size=5),
    st.booleans(),
)
def test_openai_fast_paths_agree_with_the_plain_algorithm(
    frames: list[bytes], cuts: list[int], whole: bool
) -> None:
    stream = [*frames, *_END]
    chunks = stream if whole else _cut(b"".join(stream), cuts)
    assert _outcome(OpenAIStreamDecoder, chunks) == _outcome(_Plain, chunks)


def test_openai_tool_chunks_leave_the_fast_path() -> None:
    frames = [_PIECES[0], _PIECES[2], _PIECES[3], _PIECES[4], *_END]
    out, outcome = _outcome(OpenAIStreamDecoder, [b"".join(frames)])
    assert out == [
        TextDelta("Hi !"),
        ToolCallDelta(0, "c1", "f", ""),
        ToolCallDelta(0, None, None, '{"a":'),
        ToolCallDelta(0, None, None, "1}"),
    ]
    assert outcome.tool_calls == (ToolCall("c1", "f", '{"a":1}'),)


def test_openai_servers_that_leave_out_the_index() -> None:
    """An id starts a call, a piece without one continues the last (llama.cpp-style);
    a call without an id gets one."""
    frames = [
        _delta_frame({"tool_calls": [{"id": "a", "function": {"name": "f", "arguments": "{"}}]}),
        _delta_frame({"tool_calls": [{"function": {"arguments": "}"}}]}),
        _delta_frame(
            {"tool_calls": [{"id": "b", "function": {"name": "g", "arguments": {"x": 1}}}]}
        ),
        *_END,
    ]
    _, outcome = _outcome(OpenAIStreamDecoder, frames)
    assert outcome.tool_calls == (ToolCall("a", "f", "{}"), ToolCall("b", "g", '{"x": 1}'))
    frames = [_delta_frame({"tool_calls": [{"index": 0, "function": {"name": "f"}}]}), *_END]
    assert _outcome(OpenAIStreamDecoder, frames)[1].tool_calls == (ToolCall("call_0", "f"),)


def test_openai_a_call_without_a_name_is_malformed() -> None:
    frames = [_delta_frame({"tool_calls": [{"index": 0, "id": "a"}]}), *_END]
    assert _outcome(OpenAIStreamDecoder, frames) == "MalformedResponseError"
    reply = {"choices": [{"message": {"tool_calls": [{"id": "a", "function": {}}]}}]}
    with pytest.raises(MalformedResponseError, match="has no name"):
        parse_openai_reply(reply, CTX)


def test_openai_a_filtered_reply_with_calls_is_not_an_error() -> None:
    reply = OpenAIDialect().reply(Behaviour(text="", tool_calls=CALLS[:1]), "m")
    reply["choices"][0]["finish_reason"] = "content_filter"
    assert parse_openai_reply(reply, CTX).finish_reason == "content_filter"


# --- the other decoders' edges ---------------------------------------------------------


def test_anthropic_a_tool_block_given_whole() -> None:
    """A tool_use start that already holds its input (no input_json_delta follows)."""
    start = {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "tool_use", "id": "t", "name": "f", "input": {"a": 1}},
    }
    frames = [
        b'event: message_start\ndata: {"type":"message_start","message":{"usage":{}}}\n\n',
        b"event: content_block_start\ndata: " + json.dumps(start).encode() + b"\n\n",
        b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"tool_use"}}\n\n',
        b'event: message_stop\ndata: {"type":"message_stop"}\n\n',
    ]
    _, deltas, outcome = _decode("anthropic", frames)
    assert deltas == [ToolCallDelta(0, "t", "f", '{"a": 1}')]
    assert outcome.tool_calls == (ToolCall("t", "f", '{"a": 1}'),)


@pytest.mark.parametrize("index", ["0", None, [0], {"a": 1}, 1.5])
def test_anthropic_a_bad_block_index_is_malformed(index: object) -> None:
    block = {"type": "tool_use", "id": "t", "name": "f", "input": {}}
    start = {"type": "content_block_start", "index": index, "content_block": block}
    frame = b"event: content_block_start\ndata: " + json.dumps(start).encode() + b"\n\n"
    with pytest.raises(MalformedResponseError, match="content block index"):
        AnthropicStreamDecoder(CTX).feed(frame)


def test_gemini_and_ollama_number_calls_across_chunks() -> None:
    lines = [
        {"message": {"content": "", "tool_calls": [{"function": {"name": "f", "arguments": {}}}]}},
        {
            "message": {
                "content": "",
                "tool_calls": [{"function": {"name": "g", "arguments": {"k": 2}}}],
            }
        },
        {"message": {"content": ""}, "done": True, "done_reason": "stop"},
    ]
    raw = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
    _, deltas, outcome = _decode("ollama", [raw])
    assert [(d.index, d.id, d.name) for d in deltas] == [(0, "call_0", "f"), (1, "call_1", "g")]
    assert outcome.tool_calls[1] == ToolCall("call_1", "g", '{"k": 2}')
    assert outcome.finish_reason == "tool_calls"
    reply = {"candidates": [{"content": {"parts": [{"functionCall": {"name": "f", "args": []}}]}}]}
    with pytest.raises(MalformedResponseError, match="'args'"):
        parse_gemini_reply(reply, CTX)


def test_the_joiner() -> None:
    joiner = ToolCallJoiner()
    assert joiner.piece(7, None, None, "{") == ToolCallDelta(0, "call_0", None, "{")
    assert joiner.piece(7, "late", "f", "}") == ToolCallDelta(0, None, "f", "}")
    assert joiner.whole("w", "g", "") == ToolCallDelta(1, "w", "g", "{}")  # as recorded
    assert 7 in joiner and len(joiner) == 2
    assert joiner.calls(CTX) == (ToolCall("call_0", "f", "{}"), ToolCall("w", "g", "{}"))


# --- wrong types inside tool-call frames -----------------------------------------------

_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=4),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=5,
)


@st.composite
def _mutated(draw: st.DrawFn, obj: Any) -> Any:
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
            node[key] = draw(_VALUES)
            return obj
        node = child
    return draw(_VALUES)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.sampled_from(sorted(DECODERS)))
def test_wrong_types_in_tool_call_frames(data: st.DataObject, kind: str) -> None:
    frames = DIALECTS[kind].frames(_behaviour(pieces=2), "m")
    i = data.draw(st.integers(0, len(frames) - 1))
    frame = frames[i].decode()
    head, sep, payload = frame.rpartition("data: ")
    payload = payload.strip()
    if payload != "[DONE]":
        obj = data.draw(_mutated(json.loads(payload)))
        end = "\n" if kind == "ollama" else "\n\n"
        frames[i] = ((head + sep) if sep else "").encode() + json.dumps(obj).encode() + end.encode()
    decoder = DECODERS[kind](CTX)
    with contextlib.suppress(CentwiseError):
        for frame_ in frames:
            decoder.feed(frame_)
        decoder.close()
    reply = data.draw(_mutated(DIALECTS[kind].reply(_behaviour(), "m")))
    with contextlib.suppress(CentwiseError):
        PARSERS[kind](reply, CTX)


# --- request bodies ------------------------------------------------------------------


def _body(cls: type[Provider], **kw: Any) -> dict[str, Any]:
    """The body ``cls`` builds (no client needed: nothing is sent)."""
    settings = ProviderConfig(kind=cls.kind, base_url="http://x")
    provider: Any = cls(cls.kind, settings, None)  # type: ignore[arg-type]
    body: dict[str, Any] = provider._chat_call(tool_request(**kw), stream=False)[1]
    return body


def test_anthropic_puts_tool_results_first_in_a_merged_user_turn() -> None:
    call = ToolCall("c1", "get_time", "{}")
    messages = (
        Message("user", "Time?"),
        Message("assistant", "", tool_calls=(call,)),
        Message("user", "(and quickly)"),
        Message("tool", "noon", tool_call_id="c1"),
    )
    turns = _body(AnthropicProvider, messages=messages)["messages"]
    assert turns[2] == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "c1", "content": "noon"},
            {"type": "text", "text": "(and quickly)"},
        ],
    }


def test_gemini_signs_the_first_call_of_each_model_turn() -> None:
    a, b, c = (ToolCall(n, "get_time", "{}") for n in "abc")
    messages = (
        Message("user", "Hi"),
        Message("assistant", "", tool_calls=(a, b)),
        Message("tool", "1", tool_call_id="a"),
        Message("tool", "2", tool_call_id="b"),
        Message("assistant", "More.", tool_calls=(c,)),
        Message("tool", "3", tool_call_id="c"),
    )
    contents = _body(GeminiProvider, messages=messages)["contents"]
    signed = [
        [p.get("thoughtSignature") for p in content["parts"]]
        for content in contents
        if content["role"] == "model"
    ]
    assert signed == [[SKIP_SIGNATURE, None], [None, SKIP_SIGNATURE]]
    assert contents[3]["parts"][0] == {"text": "More."}


@pytest.mark.parametrize("cls", [GeminiProvider, OllamaProvider])
def test_a_result_names_the_latest_call_with_its_id(cls: type[Provider]) -> None:
    """Made-up ids repeat from one reply to the next (each Gemini reply starts at
    call_0): a result answers the call just before it, not a later one."""
    first, second = ToolCall("call_0", "get_weather", "{}"), ToolCall("call_0", "get_time", "{}")
    messages = (
        Message("user", "Hi"),
        Message("assistant", "", tool_calls=(first,)),
        Message("tool", "sunny", tool_call_id="call_0"),
        Message("assistant", "", tool_calls=(second,)),
        Message("tool", "noon", tool_call_id="call_0"),
    )
    body = _body(cls, messages=messages)
    if cls is GeminiProvider:
        named = [
            p["functionResponse"]["name"]
            for c in body["contents"]
            for p in c["parts"]
            if "functionResponse" in p
        ]
    else:
        named = [m["tool_name"] for m in body["messages"] if m["role"] == "tool"]
    assert named == ["get_weather", "get_time"]


def test_a_tool_result_without_its_call_id_is_refused() -> None:
    messages = (Message("user", "Hi"), Message("tool", "x"))
    for cls in (OpenAIProvider, AnthropicProvider):
        with pytest.raises(CentwiseError, match="without tool_call_id"):
            _body(cls, messages=messages)


def test_openai_compatible_carries_the_same_tool_fields() -> None:
    body = _body(OpenAICompatibleProvider, reasoning_effort="high", parallel_tool_calls=True)
    assert body["reasoning_effort"] == "high" and body["parallel_tool_calls"] is True
    assert body["max_tokens"] == 64 and len(body["tools"]) == 2


@pytest.mark.parametrize(
    ("cls", "urls", "max_bytes", "effort"),
    [
        (OpenAIProvider, True, 20 * 1024 * 1024, True),
        (OpenAICompatibleProvider, True, 20 * 1024 * 1024, True),
        (AnthropicProvider, True, 5 * 1024 * 1024, False),
        (GeminiProvider, False, 20 * 1024 * 1024, False),
        (OllamaProvider, False, 20 * 1024 * 1024, False),
    ],
)
def test_class_vars(cls: type[Provider], urls: bool, max_bytes: int, effort: bool) -> None:
    assert cls.tools_supported and cls.images_supported
    assert (cls.image_urls_supported, cls.max_image_bytes) == (urls, max_bytes)
    assert cls.reasoning_effort_supported is effort


def test_a_call_with_no_arguments_streams_the_same_arguments_it_is_recorded_with() -> None:
    from core.providers.anthropic import AnthropicStreamDecoder

    ctx = CallContext("anthropic", "claude-haiku-4-5")
    events = [
        ("message_start", {"type": "message_start", "message": {"usage": {"input_tokens": 5}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
         "content_block": {"type": "tool_use", "id": "toolu_1", "name": "now", "input": {}}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
         "delta": {"type": "input_json_delta", "partial_json": ""}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use"},
         "usage": {"output_tokens": 3}}),
        ("message_stop", {"type": "message_stop"}),
    ]  # fmt: skip
    raw = b"".join(f"event: {n}\ndata: {json.dumps(o)}\n\n".encode() for n, o in events)
    decoder = AnthropicStreamDecoder(ctx)
    pieces = [d for d in decoder.feed(raw) if isinstance(d, ToolCallDelta)]
    (call,) = decoder.close().tool_calls
    assert call.arguments == "{}" == "".join(p.arguments for p in pieces)
    joiner = ToolCallJoiner()
    assert joiner.whole("c1", "now", "").arguments == "{}"  # Gemini and Ollama: whole calls
