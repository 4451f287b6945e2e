"""Plain data shared by the stages, the providers and the ledger.

Usage is normalised to OpenAI's meaning whatever the provider reported:

* ``input_tokens`` is the whole prompt, **including** cached reads and cache writes
  (Anthropic reports them apart; its adapter adds them back);
* ``cached_input_tokens`` and ``cache_write_tokens`` are parts of ``input_tokens``;
  ``cache_write_1h_tokens`` is the part of ``cache_write_tokens`` written to a one-hour
  cache (Anthropic's ``ttl: "1h"``, priced higher than the five-minute one);
* ``output_tokens`` is everything billed as output, **including** ``reasoning_tokens``
  (Gemini reports thoughts apart; its adapter adds them back).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

import msgspec

__all__ = [
    "NO_SAMPLING",
    "Attempt",
    "Delta",
    "Finish",
    "ImagePart",
    "Message",
    "ProviderEvent",
    "ProviderRequest",
    "RequestRecord",
    "ResponseFormat",
    "Sampling",
    "SamplingValueError",
    "Secret",
    "TextDelta",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "ToolChoice",
    "Usage",
    "UsageReport",
    "parse_sampling",
]

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A call of a tool, as the model asked for it. ``arguments`` is the JSON text the
    provider sent, kept as sent even when it is not valid JSON (see :meth:`parsed`)."""

    id: str
    name: str
    arguments: str = "{}"

    def parsed(self) -> object:
        """The arguments as JSON; raises ``ValueError`` when they are not valid JSON."""
        return json.loads(self.arguments or "{}")

    def as_dict(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name, "arguments": self.arguments}


@dataclass(frozen=True, slots=True)
class Tool:
    """A tool the model may call: a name, a description and a JSON Schema object for
    its arguments (checked when the request is built, see :mod:`core.tools`)."""

    name: str
    description: str = ""
    parameters: Mapping[str, object] = field(default_factory=dict, hash=False)
    strict: bool = False
    #: A prompt-cache breakpoint after this tool, as a client marked it (Anthropic's
    #: ``cache_control``); it changes the price, never the answer.
    cache_control: Mapping[str, object] | None = field(default=None, hash=False, compare=False)

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "description": self.description,
            "parameters": self.parameters,
            "strict": self.strict,
        }


@dataclass(frozen=True, slots=True)
class ToolChoice:
    """Which tools the model may or must call: ``auto`` (its choice), ``none``,
    ``required`` (at least one) or ``tool`` (the one named ``name``)."""

    mode: Literal["auto", "none", "required", "tool"] = "auto"
    name: str | None = None

    def key(self) -> str:
        return self.mode if self.name is None else f"{self.mode}:{self.name}"


@dataclass(frozen=True, slots=True)
class ImagePart:
    """An image in a message: a URL, or bytes given inline (``data``, with its MIME type).

    ``sha256`` names the content (the bytes, or the URL text when only a URL is known),
    so cache keys and the ledger can tell images apart without storing them; ``width``
    and ``height`` are read when the bytes are at hand. ``detail`` is OpenAI's
    low/high/auto setting, kept for every provider so token counts can follow it.
    """

    sha256: str
    media_type: str | None = None
    data: bytes | None = field(default=None, repr=False, compare=False)
    url: str | None = None
    width: int | None = None
    height: int | None = None
    detail: str = "auto"

    def describe(self) -> dict[str, object]:
        """What the ledger keeps of an image (never the bytes)."""
        out: dict[str, object] = {"sha256": self.sha256, "detail": self.detail}
        for name in ("media_type", "width", "height"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.url is not None and not self.url.startswith("data:"):
            out["url"] = self.url if len(self.url) <= 300 else self.url[:300] + "…"
        if self.data is not None:
            out["bytes"] = len(self.data)
        return out


@dataclass(frozen=True, slots=True)
class Message:
    """One chat message.

    ``content`` is the message's text. ``images`` follow it (a user message's pictures);
    an assistant message may carry ``tool_calls``, and a ``tool`` message is the result
    of the call ``tool_call_id``. ``metadata`` (timestamps, ids) is kept with a stored
    conversation but never sent.
    """

    role: str
    content: str
    name: str | None = None
    metadata: Mapping[str, object] | None = field(default=None, hash=False)
    images: tuple[ImagePart, ...] = ()
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    #: A prompt-cache breakpoint at the end of this message, as a client marked it
    #: (Anthropic's ``cache_control``); it changes the price, never the answer.
    cache_control: Mapping[str, object] | None = field(default=None, hash=False, compare=False)


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    cache_write_1h_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cached_input_tokens + other.cached_input_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
            self.reasoning_tokens + other.reasoning_tokens,
            self.cache_write_1h_tokens + other.cache_write_1h_tokens,
        )


@dataclass(frozen=True, slots=True)
class Sampling:
    """Sampling settings besides temperature, as the client asked for them (None and
    an empty ``stop``: not asked for, the provider's default applies)."""

    top_p: float | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None

    def asked(self) -> list[str]:
        """The names of the settings that were asked for (for refusals and keys)."""
        names = [("top_p", self.top_p is not None), ("stop", bool(self.stop))]
        names.append(("seed", self.seed is not None))
        return [n for n, on in names if on]


NO_SAMPLING = Sampling()


@dataclass(frozen=True, slots=True)
class ResponseFormat:
    """JSON output asked for: any JSON object (``schema`` None), or JSON that follows
    ``schema`` (a JSON Schema object, named ``name``; ``strict`` as the client set it)."""

    schema: Mapping[str, object] | None = field(default=None, hash=False)
    name: str = "response"
    strict: bool = False

    def key(self) -> str:
        """A stable text for cache keys."""
        return json.dumps(
            {"schema": self.schema, "name": self.name, "strict": self.strict}, sort_keys=True
        )


class SamplingValueError(ValueError):
    """A sampling value that is not valid; ``setting`` is top_p, stop or seed."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(message)
        self.setting = setting
        self.message = message


def parse_sampling(top_p: Any, stop: Any, seed: Any, *, max_stops: int | None = None) -> Sampling:
    """Sampling settings from JSON values (a client's body, a batch line): top_p from
    0 to 1, stop a string or a list of non-empty strings, seed an integer."""
    if top_p is not None and (
        isinstance(top_p, bool) or not isinstance(top_p, int | float) or not 0 <= top_p <= 1
    ):
        raise SamplingValueError("top_p", f"must be a number from 0 to 1, got {top_p!r}")
    stops = [stop] if isinstance(stop, str) else stop
    most = "" if max_stops is None else f"up to {max_stops} "
    if stops is not None and (
        not isinstance(stops, list)
        or (max_stops is not None and len(stops) > max_stops)
        or not all(isinstance(s, str) and s for s in stops)
    ):
        raise SamplingValueError("stop", f"must be a string or {most}non-empty strings")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise SamplingValueError("seed", f"must be an integer, got {seed!r}")
    value = None if top_p is None else float(top_p)
    return Sampling(top_p=value, stop=tuple(stops or ()), seed=seed)


@dataclass(frozen=True, slots=True)
class ProviderRequest:
    """What a provider is asked to do: one chat completion, ``max_tokens`` always set."""

    request_id: str
    model: str
    messages: tuple[Message, ...]
    max_tokens: int
    temperature: float | None = None
    tier: str | None = None
    sampling: Sampling = NO_SAMPLING
    response_format: ResponseFormat | None = None
    tools: tuple[Tool, ...] = ()
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    reasoning_effort: str | None = None
    #: OpenAI's ``prompt_cache_key``: requests sharing it are routed to the same prompt
    #: cache (set per conversation or gateway client, see :mod:`core.prompt_cache`).
    prompt_cache_key: str | None = None


class TextDelta(msgspec.Struct, frozen=True, gc=False):
    """A piece of streamed text. A msgspec struct rather than a dataclass: one is built
    per stream chunk, and its constructor (in C) costs a third of a dataclass's."""

    text: str


class ToolCallDelta(msgspec.Struct, frozen=True, gc=False):
    """A piece of a streamed tool call: the ``index``-th call of the reply. The first
    piece of a call carries its ``id`` and ``name``; ``arguments`` pieces join up to
    the call's JSON arguments."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


#: What a reply streams: text, or a piece of a tool call.
Delta = str | ToolCallDelta


@dataclass(frozen=True, slots=True)
class UsageReport:
    """Provider-reported usage. ``estimated`` is True when we had to count ourselves."""

    usage: Usage
    estimated: bool = False


@dataclass(frozen=True, slots=True)
class Finish:
    """The stream ended normally. ``reason``: stop, length, content_filter, tool_calls.
    ``tool_calls`` are the reply's calls, whole (the deltas already streamed joined up)."""

    reason: str
    tool_calls: tuple[ToolCall, ...] = ()


ProviderEvent = TextDelta | ToolCallDelta | UsageReport | Finish


@dataclass(slots=True)
class Attempt:
    """One try against one provider/model, kept in the record (issue 3 fills retries)."""

    provider: str
    model: str
    status: str
    error: str | None = None
    usage: Usage | None = None
    cost_usd: Decimal | None = None
    latency_ms: float | None = None


@dataclass(slots=True)
class RequestRecord:
    """One ledger row: everything known about a request once it has ended."""

    request_id: str
    started_at: float
    finished_at: float
    purpose: str = "user"
    provider: str | None = None
    model: str | None = None
    tier: str | None = None
    route_score: float | None = None
    route_reasons: list[dict[str, object]] = field(default_factory=list)
    route_mode: str | None = None
    cache_outcome: str = "miss"
    cache_similarity: float | None = None
    cache_matched_request_id: str | None = None
    usage: Usage = field(default_factory=Usage)
    estimated_input_tokens: int | None = None
    estimated_output_tokens: int | None = None
    usage_estimated: bool = False
    cost_usd: Decimal | None = None
    cost_known: bool = True
    saved_usd: Decimal = Decimal(0)
    latency_ms: float | None = None
    ttft_ms: float | None = None
    retries: int = 0
    attempts: list[Attempt] = field(default_factory=list)
    status: str = "ok"
    error: str | None = None
    error_kind: str | None = None
    simulated: bool = False
    degraded: bool = False
    prompt: str = ""
    system: str | None = None
    response: str = ""
    finish_reason: str | None = None
    #: The reply's tool calls, as the provider sent them.
    tool_calls: list[ToolCall] = field(default_factory=list)
    #: What the request asked for beyond text (tools, tool_choice, response_format,
    #: sampling, images, tool results, end user, metadata), as plain JSON values.
    request_detail: dict[str, object] = field(default_factory=dict)
    conversation_id: str | None = None
    warnings: list[str] = field(default_factory=list)
    # Context management (issue 7): prompt tokens of the full history as given and as
    # sent, the input cost that difference saved at the chosen model's price, and what
    # was done (strip_metadata, window, relevance, summary, summary_reused,
    # summary_failed, summary_dropped, trim).
    context_tokens_before: int | None = None
    context_tokens_after: int | None = None
    context_saved_usd: Decimal = Decimal(0)
    #: For an auto-routed request answered below the top tier: what the same usage
    #: would have cost at the top tier's prices, minus the cost (an estimate: a
    #: stronger model would not have answered with exactly the same tokens).
    routing_saved_usd: Decimal = Decimal(0)
    context_actions: list[str] = field(default_factory=list)
    #: Provider prompt caching (issue 19, see ``core.prompt_cache``): the marks or key
    #: sent, the cached tokens expected and reported, the prefix's blocks (digests
    #: and running tokens, never text) and, when the cache broke, where and why.
    prompt_cache: dict[str, object] = field(default_factory=dict)
    #: What provider caching saved on this request: cached reads at their discount,
    #: less any write premium (negative when a write was not read back yet).
    prompt_cache_saved_usd: Decimal = Decimal(0)
    #: The discount a break or a miss cost this request (an estimate from our counts).
    prompt_cache_lost_usd: Decimal = Decimal(0)
    #: Team mode (issue 20): the team member who sent it (``[team] member``) and the
    #: app, by the name of the gateway key it came through (None for the app itself).
    member: str | None = None
    app: str | None = None

    @property
    def prompt_cache_break(self) -> str | None:
        """Why the provider cache broke on this request, or None."""
        found = self.prompt_cache.get("break")
        return str(found["cause"]) if isinstance(found, dict) else None


class Secret:
    """An API key that never shows itself in ``repr``, ``str``, logs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)
