"""The offline Simulator: a provider that behaves like a real one, with no network.

* Replies are deterministic for a given prompt, system prompt and tier, built from the
  prompt's own terms; higher tiers answer at greater length and in more detail.
* Latency is realistic per tier (time to first token, then a steady token rate),
  scaled by ``latency_scale`` (0 answers instantly, for tests and benchmarks).
* Usage is counted with the priced model's tokenizer and reported the way OpenAI
  reports it, so the ledger prices a simulated call "as if" it went to the real model
  the tier stands for. Every simulated record is flagged ``simulated``.
* Prompt caching is emulated as that model's vendor caches (see
  :mod:`core.content.prompt_cache`): a Claude model reads and writes only prefixes
  ending at a ``cache_control`` mark, other models cache every prefix of 1,024 tokens
  or more by themselves; entries live five minutes (an hour for a ``ttl: "1h"`` mark)
  in this process. Cached and written tokens are reported as the real API would.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import re
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from core.content.counting import schema_tokens, tool_definition_tokens
from core.content.prefix import prefix_of
from core.content.prompt_cache import AUTOMATIC_STEP, WarmCache, vendor_of
from core.providers.base import Provider
from core.providers.simulated_judge import JUDGE_MARKER, simulated_verdict
from core.types import (
    Finish,
    Message,
    ProviderEvent,
    ProviderRequest,
    TextDelta,
    Tool,
    ToolCall,
    ToolCallDelta,
    Usage,
    UsageReport,
)

__all__ = ["PROVIDER", "SimulatorProvider", "TierProfile"]


@dataclass(frozen=True, slots=True)
class TierProfile:
    """How one tier of the Simulator answers: detail, first-token delay and speed."""

    sentences: tuple[int, int]
    bullets: int
    ttft_s: float
    tokens_per_s: float


_PROFILES = {
    "fast": TierProfile(sentences=(2, 3), bullets=0, ttft_s=0.25, tokens_per_s=160.0),
    "balanced": TierProfile(sentences=(4, 6), bullets=3, ttft_s=0.45, tokens_per_s=90.0),
    "premium": TierProfile(sentences=(7, 10), bullets=5, ttft_s=0.8, tokens_per_s=50.0),
}

_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "if",
        "then",
        "else",
        "of",
        "to",
        "in",
        "on",
        "at",
        "by",
        "for",
        "with",
        "from",
        "as",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "i",
        "you",
        "he",
        "she",
        "we",
        "they",
        "me",
        "my",
        "your",
        "our",
        "their",
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "when",
        "where",
        "why",
        "how",
        "can",
        "could",
        "should",
        "would",
        "will",
        "shall",
        "may",
        "might",
        "must",
        "do",
        "does",
        "did",
        "done",
        "have",
        "has",
        "had",
        "not",
        "no",
        "yes",
        "please",
        "tell",
        "explain",
        "give",
        "write",
        "make",
        "about",
        "into",
        "over",
        "under",
        "than",
        "so",
        "very",
        "just",
        "also",
        "any",
        "some",
        "all",
        "each",
        "more",
        "most",
        "much",
        "many",
        "such",
        "there",
        "here",
    ]
)

_OPENERS = (
    "Here is a clear answer about {t}.",
    "In short, {t} comes down to a few points.",
    "Let's look at {t} step by step.",
    "Good question about {t}.",
)
_BODY = (
    "The key idea behind {t} is that it depends on the context you apply it in.",
    "A practical approach to {t} starts with the simplest case and builds from there.",
    "Most problems with {t} come from unclear assumptions, so state them first.",
    "When comparing options for {t}, weigh cost, speed and reliability together.",
    "A common mistake with {t} is skipping verification of the result.",
    "It helps to relate {t} to {u}, since the two often interact.",
    "For {t}, measure before and after any change so the effect is visible.",
    "Edge cases in {t} usually show up around limits and empty inputs.",
    "Documented examples of {t} are the fastest way to confirm the details.",
    "The trade-off with {t} is between simplicity now and flexibility later.",
    "Keeping {t} small and explicit makes it easier to reason about.",
    "If {t} must scale, plan how it behaves when the load doubles.",
)
_BULLETS = (
    "Define what {t} must achieve.",
    "Check the inputs that {t} depends on.",
    "Try the simplest version of {t} first.",
    "Compare the result against {u}.",
    "Record what changed and why.",
    "Review {t} again once it works.",
)
_CLOSERS = (
    "I hope this helps with {t}.",
    "That covers the essentials of {t}.",
    "Let me know if you want more depth on {t}.",
)


def _terms(text: str) -> list[str]:
    words = re.findall(r"[A-Za-z][A-Za-z0-9_+-]{2,}", text)
    seen: dict[str, None] = {}
    for w in words:
        if w.lower() not in _STOP:
            seen.setdefault(w.lower(), None)
    return list(seen) or ["your question"]


def compose(prompt: str, system: str | None, tier: str) -> str:
    """The deterministic reply for ``prompt`` at ``tier`` (exposed for tests)."""
    profile = _PROFILES.get(tier, _PROFILES["balanced"])
    seed = hashlib.sha256(f"{tier}\0{system or ''}\0{prompt}".encode()).digest()
    rng = random.Random(seed)
    terms = sorted(_terms(prompt), key=len, reverse=True)
    t = terms[0]
    u = terms[1] if len(terms) > 1 else "the alternatives"
    lo, hi = profile.sentences
    body = rng.sample(_BODY, k=min(len(_BODY), rng.randint(lo, hi)))
    parts = [rng.choice(_OPENERS).format(t=t), *(s.format(t=t, u=u) for s in body)]
    text = " ".join(parts)
    if profile.bullets:
        steps = rng.sample(_BULLETS, k=profile.bullets)
        text += "\n\n" + "\n".join(f"{i}. {s.format(t=t, u=u)}" for i, s in enumerate(steps, 1))
    return text + "\n\n" + rng.choice(_CLOSERS).format(t=t)


class SimulatorProvider(Provider):
    """Offline stand-in for a real provider; see the module docstring."""

    kind: ClassVar[str] = "simulator"
    simulated: ClassVar[bool] = True
    _prompt_cache: WarmCache | None = None

    def takes_cache_marks(self, model: str) -> bool:
        """Marks are honoured for Claude models, as Anthropic does (see the module doc)."""
        return vendor_of(model) == "anthropic"

    async def stream(self, request: ProviderRequest) -> AsyncIterator[ProviderEvent]:
        tier = request.tier or "balanced"
        profile = _PROFILES.get(tier, _PROFILES["balanced"])
        scale = self.settings.latency_scale
        prompt = _last_user(request.messages)
        system = next((m.content for m in request.messages if m.role == "system"), None)
        calls = _tool_calls(request, prompt, system, tier)
        if calls:
            if scale:
                await asyncio.sleep(profile.ttft_s * scale)
            for index, call in enumerate(calls):
                yield ToolCallDelta(index, call.id, call.name, "")
                for piece in _chunks(call.arguments):
                    yield ToolCallDelta(index, arguments=piece)
            spoken = "".join(c.name + c.arguments for c in calls)
            yield self._usage(request, spoken)
            yield Finish("tool_calls", calls)
            return
        results = _tool_results(request.messages)
        if system is not None and system.startswith(JUDGE_MARKER):
            full = simulated_verdict(prompt)  # see core.quality.judge: a simulated judge
        elif request.response_format is not None:  # JSON, as the real model would give
            full = json_answer(compose(prompt, system, tier), request.response_format.schema)
        elif results:  # after tool results: an answer that uses them
            used = "; ".join(f"{name} returned {text}" for name, text in results)
            full = f"Using the tool results ({used}): " + compose(prompt, system, tier)
        else:
            full = compose(prompt, system, tier)
        full = _cut_at_stop(full, request.sampling.stop)  # as a real model stops there
        ids = self._encode(full, request.model)
        finish = "stop"
        if ids is not None and len(ids) > request.max_tokens:
            ids, finish = ids[: request.max_tokens], "length"
            full = self.token_counter.decode(ids, request.model)
        if scale:
            await asyncio.sleep(profile.ttft_s * scale)
        for chunk in _chunks(full):
            if scale:
                await asyncio.sleep(len(chunk) / 4 / profile.tokens_per_s * scale)
            yield TextDelta(chunk)
        yield self._usage(request, full)
        yield Finish(finish)

    def _encode(self, text: str, model: str) -> list[int] | None:
        if self.token_counter is None:
            return None
        ids: list[int] = self.token_counter.encode(text, model)
        return ids

    def _usage(self, request: ProviderRequest, text: str) -> UsageReport:
        """Usage as the real model would report it: the messages (images by the model's
        rule) and the tool definitions in, the text or tool calls out."""
        counter = self.token_counter
        if counter is None:
            n_in = sum(len(m.content.encode()) for m in request.messages) // 4 + 1
            return UsageReport(Usage(n_in, len(text.encode()) // 4 + 1), estimated=True)
        counted_in = counter.count_messages(request.messages, request.model)
        counted_out = counter.count_text(text, request.model)
        tools = tool_definition_tokens(
            lambda t: int(counter.count_text(t, request.model).tokens),
            request.tools,
            request.tool_choice,
            request.model,
            "openai",
        ) + schema_tokens(
            lambda t: int(counter.count_text(t, request.model).tokens), request.response_format
        )
        n_in = counted_in.tokens + tools
        read, written, one_hour = self._cached(request)
        read = min(read, n_in)
        written = min(written, n_in - read)
        usage = Usage(
            input_tokens=n_in,
            output_tokens=counted_out.tokens,
            cached_input_tokens=read,
            cache_write_tokens=written,
            cache_write_1h_tokens=min(one_hour, written),
        )
        return UsageReport(usage, estimated=counted_in.estimated or counted_out.estimated)

    def _cached(self, request: ProviderRequest) -> tuple[int, int, int]:
        """Tokens read from and written to the emulated prompt cache (and the one-hour
        part of the writes), by the rule of the model's vendor."""
        counter = self.token_counter
        assert counter is not None
        model = request.model
        vendor = vendor_of(model)
        terms = _Terms(vendor)

        def tool_tokens(tools: Sequence[Tool]) -> int:
            def count(text: str) -> int:
                return int(counter.count_text(text, model).tokens)

            return tool_definition_tokens(count, tools, request.tool_choice, model, "openai")

        def message_tokens(m: Message) -> int:
            return int(counter.count_messages([m], model).tokens) - _PRIMING

        prefix = prefix_of(request.tools, request.messages, message_tokens, tool_tokens)
        if self._prompt_cache is None:
            self._prompt_cache = WarmCache()
        cache, now = self._prompt_cache, time.monotonic()
        if vendor != "anthropic":
            hit = cache.longest(self.name, model, prefix, now, terms)
            cache.keep(self.name, model, prefix, range(len(prefix)), now + _TTL, terms)
            return hit.tokens, 0, 0
        items: list[Tool | Message] = [*request.tools, *request.messages]
        marks = [i for i, item in enumerate(items) if item.cache_control is not None]
        if not marks:
            return 0, 0, 0
        hit = cache.longest(self.name, model, prefix, now, terms, marks)
        end = prefix.tokens_to(max(marks))
        written = end - hit.tokens if end >= terms.min_tokens else 0
        one_hour = any((items[i].cache_control or {}).get("ttl") == "1h" for i in marks)
        cache.keep(self.name, model, prefix, marks, now + (_TTL_1H if one_hour else _TTL), terms)
        return hit.tokens, max(0, written), max(0, written) if one_hour else 0

    async def list_models(self) -> list[str]:
        return sorted(_PROFILES)


_PRIMING = 3  # count_messages adds 3 tokens of reply priming per call
_TTL, _TTL_1H = 300.0, 3600.0
_MIN_CACHED = 1024


@dataclass(frozen=True, slots=True)
class _Terms:
    """The emulated cache's rule: 1,024 tokens at least; OpenAI-style caching in steps."""

    vendor: str
    min_tokens: int = _MIN_CACHED

    def cacheable(self, tokens: int) -> int:
        if tokens < self.min_tokens:
            return 0
        if self.vendor != "openai":
            return tokens
        return self.min_tokens + (tokens - self.min_tokens) // AUTOMATIC_STEP * AUTOMATIC_STEP


def _tool_calls(
    request: ProviderRequest, prompt: str, system: str | None, tier: str
) -> tuple[ToolCall, ...]:
    """The tool call the Simulator makes, if any: when the request declares tools, the
    choice allows one and the newest message is the user's (not tool results), it calls
    the tool whose name and description share the most words with the prompt (the
    forced one under ``tool_choice``; under ``required``, the best even with no words in
    common), with arguments that follow the tool's schema, filled from the prompt."""
    choice = request.tool_choice
    if not request.tools or (choice is not None and choice.mode == "none"):
        return ()
    last = request.messages[-1] if request.messages else None
    if last is None or last.role != "user":
        return ()
    if choice is not None and choice.mode == "tool":
        tool = next(t for t in request.tools if t.name == choice.name)
    else:
        words = set(_terms(prompt))
        scored = [(len(words & set(_terms(f"{t.name} {t.description}"))), t) for t in request.tools]
        best, tool = max(scored, key=lambda pair: pair[0])
        forced = choice is not None and choice.mode == "required"
        if best == 0 and not forced:
            return ()
    filler = iter(_fills(prompt))
    arguments = json.dumps(_example(tool.parameters, filler))
    seed = hashlib.sha256(f"{tier}\0{system or ''}\0{prompt}\0{tool.name}".encode()).hexdigest()
    return (ToolCall("call_" + seed[:24], tool.name, arguments),)


def _fills(prompt: str) -> list[str]:
    """Values for a tool's string arguments: the prompt's names first (capitalised
    words, as a city or a person would be), then its other terms."""
    names = re.findall(r"\b[A-Z][a-zA-Z]+(?:\s[A-Z][a-zA-Z]+)*", prompt)
    first = prompt.split()[0] if prompt.split() else ""
    names = [n for n in names if n != first] or names
    return [*names, *_terms(prompt)]


def _tool_results(messages: tuple[Message, ...]) -> list[tuple[str, str]]:
    """The tool results after the newest assistant message, as (tool name, text)."""
    names = {c.id: c.name for m in messages for c in m.tool_calls}
    out: list[tuple[str, str]] = []
    for m in reversed(messages):
        if m.role != "tool":
            break
        out.append((names.get(m.tool_call_id or "", "a tool"), m.content))
    return out[::-1]


def _last_user(messages: tuple[Message, ...]) -> str:
    for m in reversed(messages):
        if m.role == "user":
            return m.content
    return ""


def _chunks(text: str, size: int = 16) -> list[str]:
    """Split at word boundaries into pieces of about ``size`` characters, like SSE deltas."""
    out: list[str] = []
    start = 0
    while start < len(text):
        end = min(len(text), start + size)
        space = text.find(" ", end)
        end = len(text) if space == -1 or space - start > size * 2 else space + 1
        out.append(text[start:end])
        start = end
    return out


PROVIDER = SimulatorProvider


def _cut_at_stop(text: str, stops: tuple[str, ...]) -> str:
    """``text`` up to the first of ``stops`` (which is not included), as providers do."""
    cut = min((i for i in (text.find(s) for s in stops if s) if i >= 0), default=len(text))
    return text[:cut]


def json_answer(text: str, schema: Mapping[str, object] | None) -> str:
    """The Simulator's JSON reply: ``{"answer": text}`` for a JSON object, else a value
    that follows ``schema`` (types, required and listed properties, enums, consts,
    array lengths), with ``text`` in its first free string."""
    if schema is None:
        return json.dumps({"answer": text})
    filler = iter([text])
    return json.dumps(_example(schema, filler))


def _example(schema: Mapping[str, object], filler: Iterator[str], depth: int = 0) -> object:
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    for key in ("anyOf", "oneOf", "allOf"):
        options = schema.get(key)
        if isinstance(options, list) and options and isinstance(options[0], Mapping):
            return _example(options[0], filler, depth)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if depth > 8:
        return None
    if kind == "object" or (kind is None and "properties" in schema):
        props = schema.get("properties")
        props = props if isinstance(props, Mapping) else {}
        return {
            name: _example(sub if isinstance(sub, Mapping) else {}, filler, depth + 1)
            for name, sub in props.items()
        }
    if kind == "array":
        items = schema.get("items")
        low = schema.get("minItems")
        count = max(1, low if isinstance(low, int) else 1)
        sub = items if isinstance(items, Mapping) else {}
        return [_example(sub, filler, depth + 1) for _ in range(count)]
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
        value = low if isinstance(low, int | float) else 0
        value = value + 1 if "exclusiveMinimum" in schema else value
        return int(value) if kind == "integer" else float(value)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return next(filler, "example")
