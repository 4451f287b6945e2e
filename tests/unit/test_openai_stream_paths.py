"""The OpenAI stream decoder's fast paths must answer exactly as the plain algorithm.

``OpenAIStreamDecoder.feed`` reads whole ``data: …`` events itself when a chunk allows
it (one event inline, several through ``SSEParser.data_payloads``, typed msgspec
decoding) and hands everything else to the SSE parser and the checked JSON path. Here
a reference decoder that only ever takes the plain path (the WHATWG parser, then
``json.loads``, then the checked chunk reader) meets thousands of streams built to sit
on the edges of the fast paths: events split at and between boundaries, CR and CRLF
line ends, raw CR/LF inside the JSON, ``data:`` without its space, comments, finish
reasons, usage, errors, ``[DONE]`` and garbage. The text, the outcome and the error
class must be the same.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import ProviderError
from core.providers._wire import CallContext, SSEParser, StreamOutcome, decode_json
from core.providers.openai import OpenAIStreamDecoder

CTX = CallContext("openai", "gpt-test", "req-1")


class _Reference(OpenAIStreamDecoder):
    """The same decoder with every shortcut removed: parser events, then JSON, then the
    checked path."""

    __slots__ = ()

    def feed(self, chunk: bytes) -> list[Any]:
        texts: list[str] = []
        for event in self._parser.feed(chunk):
            if self._done:
                continue
            if event.data == "[DONE]":
                self._done = True
                continue
            got = self._checked_chunk(decode_json(event.data, self._ctx))
            if got:
                texts.append(got)
        return self._delta(texts)


def _run(cls: type[OpenAIStreamDecoder], chunks: list[bytes]) -> tuple[str, Any]:
    decoder = cls(CTX)
    text: list[str] = []
    try:
        for chunk in chunks:
            text.extend(d.text for d in decoder.feed(chunk))
        outcome: StreamOutcome | str = decoder.close()
    except ProviderError as exc:
        outcome = type(exc).__name__
    return "".join(text), outcome


def _chunk_obj(content: Any, finish: Any, usage: Any, shape: str) -> Any:
    choice: dict[str, Any] = {"index": 0, "delta": {"content": content}, "finish_reason": finish}
    if shape == "no-delta":
        del choice["delta"]
    elif shape == "null-delta":
        choice["delta"] = None
    elif shape == "role":
        choice["delta"]["role"] = "assistant"
    obj: dict[str, Any] = {"id": "c-1", "object": "chat.completion.chunk", "choices": [choice]}
    if shape == "no-choices":
        obj["choices"] = []
    elif shape == "error":
        obj["error"] = {"message": "boom", "type": "server_error"}
    if usage is not None:
        obj["usage"] = usage
    return obj


contents = st.none() | st.text(max_size=6) | st.sampled_from(["tok ", 'é\n"x\\', "\r", 5])
finishes = st.none() | st.sampled_from(["stop", "length", "content_filter", 3])
usages = st.none() | st.sampled_from(
    [{"prompt_tokens": 5, "completion_tokens": 2}, {"prompt_tokens": -1}, "x"]
)
shapes = st.sampled_from(["plain", "plain", "plain", "no-delta", "null-delta", "role",
                          "no-choices", "error"])  # fmt: skip
#: How the JSON is written: compact, spaced, or with a raw LF/CR between tokens (which
#: the SSE algorithm reads as a line break inside the event).
layouts = st.sampled_from(["compact", "spaced", "lf-inside", "cr-inside"])
frame_kinds = st.sampled_from(["json", "json", "json", "done", "comment", "nospace", "garbage"])
line_ends = st.sampled_from([b"\n", b"\n", b"\r\n", b"\r"])


@st.composite
def frames(draw: st.DrawFn) -> bytes:
    kind = draw(frame_kinds)
    eol = draw(line_ends)
    if kind == "done":
        return b"data: [DONE]" + eol + eol
    if kind == "comment":
        return b": keep-alive" + eol + eol
    if kind == "garbage":
        return b'data: {"choices": [' + eol + eol
    obj = _chunk_obj(draw(contents), draw(finishes), draw(usages), draw(shapes))
    layout = draw(layouts)
    text = json.dumps(obj, separators=None if layout == "spaced" else (",", ":"))
    if layout in ("lf-inside", "cr-inside"):
        brk = "\n" if layout == "lf-inside" else "\r"
        text = text.replace(',"choices"', f',{brk}"choices"', 1)
    prefix = b"data:" if kind == "nospace" else b"data: "
    return prefix + text.encode() + eol + eol


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(frames(), min_size=1, max_size=8),
    st.lists(st.integers(0, 10_000), max_size=5),
    st.booleans(),
)
def test_fast_paths_agree_with_the_plain_algorithm(
    stream: list[bytes], cuts: list[int], at_boundaries: bool
) -> None:
    if at_boundaries:  # one event per read: the case the inline path is for
        chunks = [f for f in stream if f]
        if cuts:  # and the first few together, for the several-events path
            first = cuts[0] % len(stream) + 1
            chunks = [b"".join(stream[:first]), *stream[first:]]
    else:
        raw = b"".join(stream)
        points = sorted({c % (len(raw) + 1) for c in cuts})
        chunks = [raw[a:b] for a, b in zip([0, *points], [*points, len(raw)], strict=True)]
    assert _run(OpenAIStreamDecoder, chunks) == _run(_Reference, chunks)


def test_the_inline_path_is_taken_and_right_for_plain_deltas() -> None:
    frames_ = [
        b'data: {"choices":[{"delta":{"content":"Hel"},"finish_reason":null}]}\n\n',
        b'data: {"choices":[{"delta":{"content":"lo"},"finish_reason":null}]}\n\n',
        b'data: {"choices":[{"delta":{},"finish_reason":"stop"}]}\n\n',
        b'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}}\n\n',
        b"data: [DONE]\n\n",
    ]
    decoder = OpenAIStreamDecoder(CTX)
    assert not decoder._parser.idle  # the first read goes to the parser (BOM check)
    assert [d.text for d in decoder.feed(frames_[0])] == ["Hel"]
    assert decoder._parser.idle
    assert [d.text for d in decoder.feed(frames_[1])] == ["lo"]
    for frame in frames_[2:]:
        assert decoder.feed(frame) == []
    outcome = decoder.close()
    assert (outcome.text, outcome.finish_reason) == ("Hello", "stop")
    assert outcome.usage is not None and outcome.usage.input_tokens == 3


def test_a_raw_line_break_inside_the_json_is_a_line_break() -> None:
    """``{"id":"x",<LF>"choices":…}`` reads as two SSE lines: the event's data is only
    the first, which is not JSON. The fast paths must not accept the whole as one object."""
    ok = b'data: {"choices":[{"delta":{"content":"a"}}]}\n\n'
    end = b'data: {"choices":[{"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'
    for brk in (b"\n", b"\r"):
        bad = b'data: {"id":"x",' + brk + b'"choices":[{"delta":{"content":"b"}}]}\n\n'
        # Read apart, "a" came out before the bad event; read together, the read fails.
        for chunks, text in (([ok, bad, end], "a"), ([ok + bad, end], "")):
            assert _run(OpenAIStreamDecoder, chunks) == (text, "MalformedResponseError")
            assert _run(_Reference, chunks) == (text, "MalformedResponseError")


def test_the_reference_is_the_plain_parser() -> None:
    """Guard the guard: the reference really goes through SSEParser.feed only."""
    reference = _Reference(CTX)
    assert isinstance(reference._parser, SSEParser)
    frame = b'data: {"choices":[{"delta":{"content":"x"}}]}\n\n'
    assert [d.text for d in reference.feed(frame)] == ["x"]
