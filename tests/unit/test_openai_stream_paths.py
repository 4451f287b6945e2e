"""The OpenAI stream's fast path must answer exactly as the plain algorithm.

``OpenAIStreamDecoder.feed`` reads whole plain ``data: …`` events itself when a chunk
allows it (through ``SSEParser.whole_events``, typed msgspec decoding); everything else
goes to the SSE parser and the checked JSON path. ``OpenAIProvider.stream`` is the
shared ``HTTPProvider.stream``: every piece of the body goes to ``feed``. Here
a reference decoder that only ever takes the plain path (the WHATWG parser, then
``json.loads``, then the checked chunk reader) meets thousands of streams built to sit
on the edges of the fast paths: events split at and between boundaries, CR and CRLF
line ends, raw CR/LF inside the JSON, ``data:`` without its space, comments, finish
reasons, usage, errors, ``[DONE]`` and garbage. The text, the outcome and the error
class must be the same.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.config import ProviderConfig
from core.errors import ProviderError
from core.providers.openai import OpenAIProvider, OpenAIStreamDecoder
from core.providers.wire import CallContext, SSEParser, StreamOutcome, decode_json
from core.types import Finish, Message, ProviderRequest, TextDelta, UsageReport

CTX = CallContext("openai", "gpt-test", "req-1")


class _Reference(OpenAIStreamDecoder):
    """The same decoder with every shortcut removed: parser events, then JSON, then the
    checked path."""

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


class _Chunks(httpx.AsyncByteStream):
    """A reply body that arrives exactly in these pieces (the provider reads an
    unencoded body with ``aiter_raw``, so the boundaries reach ``feed`` unchanged)."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk


def _run_provider(chunks: list[bytes]) -> tuple[str, Any]:
    """``OpenAIProvider.stream`` over an in-memory transport: (text, outcome) in the
    shape of :func:`_run` (usage, finish reason; or the error class)."""

    def reply(request: httpx.Request) -> httpx.Response:
        headers = {"content-type": "text/event-stream"}
        return httpx.Response(200, headers=headers, stream=_Chunks(chunks))

    async def go() -> tuple[str, Any]:
        transport = httpx.MockTransport(reply)
        async with httpx.AsyncClient(transport=transport) as client:
            settings = ProviderConfig(kind="openai", base_url="http://in-memory/v1")
            provider = OpenAIProvider("openai", settings, client)
            request = ProviderRequest("req-1", "gpt-test", (Message("user", "hi"),), 16)
            text: list[str] = []
            usage, finish = None, None
            try:
                async for event in provider.stream(request):
                    if isinstance(event, TextDelta):
                        text.append(event.text)
                    elif isinstance(event, UsageReport):
                        usage = None if event.estimated else event.usage
                    elif isinstance(event, Finish):
                        finish = event.reason
            except ProviderError as exc:
                return "".join(text), type(exc).__name__
            return "".join(text), (usage, finish)

    return asyncio.run(go())


def _record_feeds(monkeypatch: Any, cls: type[Any]) -> list[bytes]:
    """Make ``cls.feed`` keep every chunk it is given, in the returned list."""
    fed: list[bytes] = []
    plain_feed = cls.feed

    def recording_feed(self: Any, chunk: bytes) -> Any:
        fed.append(chunk)
        return plain_feed(self, chunk)

    monkeypatch.setattr(cls, "feed", recording_feed)
    return fed


def _as_provider_sees(run: tuple[str, Any]) -> tuple[str, Any]:
    text, outcome = run
    if isinstance(outcome, StreamOutcome):
        return text, (outcome.usage, outcome.finish_reason)
    return text, outcome


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


def _cut(raw: bytes, cuts: list[int]) -> list[bytes]:
    """``raw`` split at the given offsets (taken modulo its length + 1)."""
    points = sorted({c % (len(raw) + 1) for c in cuts})
    return [raw[a:b] for a, b in zip([0, *points], [*points, len(raw)], strict=True)]


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
        chunks = _cut(b"".join(stream), cuts)
    assert _run(OpenAIStreamDecoder, chunks) == _run(_Reference, chunks)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(frames(), min_size=1, max_size=8),
    st.lists(st.integers(0, 10_000), max_size=5),
    st.booleans(),
)
def test_the_provider_agrees_with_the_plain_algorithm(
    stream: list[bytes], cuts: list[int], at_boundaries: bool
) -> None:
    """``OpenAIProvider.stream`` over an in-memory transport, fed the same edge-case
    streams: same text, same usage and finish reason, or the same error."""
    # A transport never hands over an empty piece.
    chunks = stream if at_boundaries else [c for c in _cut(b"".join(stream), cuts) if c]
    assert _run_provider(chunks) == _as_provider_sees(_run(_Reference, chunks))


def test_the_provider_has_one_stream_loop(monkeypatch: Any) -> None:
    """Every piece of the body goes to the decoder's ``feed``, in order: the provider
    keeps no second copy of the loop."""
    frames_ = [
        b'data: {"choices":[{"delta":{"role":"assistant","content":""}}]}\n\n',
        b'data: {"choices":[{"delta":{"content":"Hel"},"finish_reason":null}]}\n\n',
        b'data: {"choices":[{"delta":{"content":"lo"},"finish_reason":null}]}\n\n',
        b'data: {"choices":[{"delta":{},"finish_reason":"stop"}]}\n\n',
        b'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}}\n\n',
        b"data: [DONE]\n\n",
    ]
    fed = _record_feeds(monkeypatch, OpenAIStreamDecoder)
    text, (usage, finish) = _run_provider(frames_)
    assert (text, finish) == ("Hello", "stop")
    assert usage is not None and usage.output_tokens == 2
    assert fed == frames_


def test_errors_usage_and_finishes_inside_deltas_take_the_checked_path() -> None:
    """Events that look like deltas but carry an error, usage or a finish reason."""
    ok = b'data: {"choices":[{"delta":{"content":"a"}}]}\n\n'
    end = b'data: {"choices":[{"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'
    delta = '"choices":[{"delta":{"content":"b"}%s}]'
    for odd in (
        '{%s,"error":{"message":"boom","type":"server_error"}}' % (delta % ""),
        '{%s,"error":"boom"}' % (delta % ""),
        '{%s,"usage":{"prompt_tokens":3,"completion_tokens":2}}' % (delta % ""),
        "{%s}" % (delta % ',"finish_reason":"length"'),
    ):
        chunks = [ok, b"data: " + odd.encode() + b"\n\n", end]
        assert _run(OpenAIStreamDecoder, chunks) == _run(_Reference, chunks), odd
        assert _run_provider(chunks) == _as_provider_sees(_run(_Reference, chunks)), odd


def test_feed_reads_plain_deltas_and_settles_the_rest() -> None:
    frames_ = [
        b'data: {"choices":[{"delta":{"content":"Hel"},"finish_reason":null}]}\n\n',
        b'data: {"choices":[{"delta":{"content":"lo"},"finish_reason":null}]}\n\n',
        b'data: {"choices":[{"delta":{},"finish_reason":"stop"}]}\n\n',
        b'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}}\n\n',
        b"data: [DONE]\n\n",
    ]
    decoder = OpenAIStreamDecoder(CTX)
    assert not decoder.parser.idle  # the first read goes to the parser (BOM check)
    assert [d.text for d in decoder.feed(frames_[0])] == ["Hel"]
    assert decoder.parser.idle
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
            assert _run_provider(chunks) == (text, "MalformedResponseError")


def test_the_reference_is_the_plain_parser() -> None:
    """Guard the guard: the reference really goes through SSEParser.feed only."""
    reference = _Reference(CTX)
    assert isinstance(reference.parser, SSEParser)
    frame = b'data: {"choices":[{"delta":{"content":"x"}}]}\n\n'
    assert [d.text for d in reference.feed(frame)] == ["x"]


def test_reads_cut_anywhere_still_take_the_fast_path(monkeypatch: Any) -> None:
    """A transport that reads a fixed size (aiohttp) cuts events anywhere: the decoder
    still reads the whole events of each piece itself, keeping the cut one for the next
    piece, and answers as the plain algorithm does."""
    frames_ = [b'data: {"choices":[{"delta":{"content":"w%d "}}]}\n\n' % i for i in range(300)]
    frames_ += [
        b'data: {"choices":[{"delta":{},"finish_reason":"stop"}]}\n\n',
        b'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":300}}\n\n',
        b"data: [DONE]\n\n",
    ]
    raw = b"".join(frames_)
    chunks = [raw[i : i + 997] for i in range(0, len(raw), 997)]
    assert _run(OpenAIStreamDecoder, chunks) == _run(_Reference, chunks)
    parsed = _record_feeds(monkeypatch, SSEParser)
    text, outcome = _run(OpenAIStreamDecoder, chunks)
    assert text == "".join(f"w{i} " for i in range(300)) and outcome.finish_reason == "stop"
    # Only the first read (the BOM check) goes to the parser whole; after it, the parser
    # sees each piece's cut event and the last events (finish, usage, [DONE]).
    assert [c for c in parsed if c in chunks] == [chunks[0]]
    assert sum(map(len, parsed)) < len(raw) // 4
