"""Prompt caching per request: the marks and key to send, and what happened after.

:meth:`PromptCaching.prepare` runs in the call stage for each provider tried. For
Anthropic (``mode = "auto"``, and no marks from the client) it places up to four
``cache_control`` breakpoints: after the tools, after the system prompt, at the
longest prefix already warm, and at the end of the prompt, each only when the prefix
reaches the model's minimum and, for a new write, when the expected reads pay for
the write premium (see :func:`worth_writing`). For OpenAI and OpenAI-compatible
providers it sets a ``prompt_cache_key`` stable per conversation or client.

:meth:`PromptCaching.observe` runs when the request is recorded: it compares the
prefix with the previous request of the same conversation or client (the break
detector), sets the cached tokens expected against those the provider reported, the
dollars provider caching saved (net of write premiums) and the dollars a break or a
miss lost, and notes what is now warm.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal

from core.accounting.prices import ModelPrice
from core.content.prefix import Divergence, Prefix, divergence, prefix_of
from core.content.prompt_cache import MAX_MARKS, WarmCache, WarmHit
from core.prompt_cache.odds import ReuseOdds
from core.prompt_cache.rules import CacheRule, rule_for
from core.types import Message, ProviderRequest, Tool, Usage

__all__ = [
    "CAUSES",
    "Observation",
    "Prepared",
    "PromptCaching",
    "Seen",
    "WarmState",
    "worth_writing",
]

#: Why a request read less from the provider's cache than it could have.
CAUSES = {
    "system_changed": "the system prompt changed",
    "tools_changed": "the tool list changed",
    "history_changed": "an earlier message changed",
    "context_trimmed": "context management cut the history",
    "model_changed": "another model answered (each model has its own cache)",
    "expired": "the cache expired (TTL) between requests",
    "provider_miss": "the provider read less than its rule promises",
    "not_marked": "nothing was marked for caching (prompt caching off)",
}
_MAX_SEEN = 32
_MAX_GROUPS = 2048
_MAX_ODDS = 0.95
_MISS_SHARE = 0.5


def worth_writing(p_return: float, rule: CacheRule, one_hour: bool) -> bool:
    """Whether writing a prefix to the cache pays: each later request within the TTL
    saves the read discount on it, and (a read refreshing the TTL) comes back again
    with the same chance, so the expected number of reads is p / (1 - p)."""
    p = min(max(p_return, 0.0), _MAX_ODDS)
    reads = Decimal(repr(p / (1 - p)))
    return reads * rule.read_discount > rule.write_premium(one_hour)


@dataclass(frozen=True, slots=True)
class Seen:
    """A request of a conversation or client, as the detector remembers it."""

    request_id: str
    at: float
    provider: str
    model: str
    tier: str | None
    prefix: Prefix
    output_tokens: int
    #: The prefix's chained digests, and its blocks' texts hashed one by one (chained
    #: digests differ after the first change; these still see the blocks after it).
    chain_set: frozenset[str] = frozenset()
    texts: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class WarmState:
    """What a conversation's previous request left warm, for cache-aware routing."""

    provider: str
    model: str
    tier: str | None
    tokens: int
    output_tokens: int


@dataclass(slots=True)
class Prepared:
    """One request's caching plan, made before the call."""

    group: str
    provider: str
    model: str
    rule: CacheRule
    prefix: Prefix
    request: ProviderRequest
    auto_marks: tuple[int, ...] = ()
    client_marks: tuple[int, ...] = ()
    key: str | None = None
    expected: int = 0
    previous: Seen | None = None
    #: What the previous request's prefix would read now, had nothing changed.
    warm_before: WarmHit = field(default_factory=WarmHit)
    #: The same, ignoring expiry (to tell "expired" from "never cached").
    warm_any_age: WarmHit = field(default_factory=WarmHit)
    prev_model_warm: int = 0


@dataclass(slots=True)
class Observation:
    """What the record keeps about provider caching for one request."""

    detail: dict[str, object]
    saved_usd: Decimal = Decimal(0)
    lost_usd: Decimal = Decimal(0)
    cause: str | None = None


def _mark(ttl: str) -> dict[str, object]:
    return {"type": "ephemeral", "ttl": "1h"} if ttl == "1h" else {"type": "ephemeral"}


def _with_marks(
    request: ProviderRequest, prefix: Prefix, marks: Sequence[int], ttl: str
) -> ProviderRequest:
    tools = list(request.tools)
    messages = list(request.messages)
    for pos in marks:
        block = prefix.blocks[pos]
        if block.part == "tools":
            tools[block.index] = replace(tools[block.index], cache_control=_mark(ttl))
        else:
            messages[block.index] = replace(messages[block.index], cache_control=_mark(ttl))
    return replace(request, tools=tuple(tools), messages=tuple(messages))


def _client_marks(request: ProviderRequest, prefix: Prefix) -> tuple[int, ...]:
    out = []
    for pos, block in enumerate(prefix.blocks):
        item: Tool | Message = (
            request.tools[block.index] if block.part == "tools" else request.messages[block.index]
        )
        if item.cache_control is not None:
            out.append(pos)
    return tuple(out)


def _short_key(group: str) -> str:
    return "centwise-" + hashlib.blake2b(group.encode(), digest_size=8).hexdigest()


class PromptCaching:
    """The prompt-cache planner and break detector of one engine."""

    def __init__(
        self,
        mode: str,
        ttl: str,
        key_scope: str,
        clock: Callable[[], float],
        price_for: Callable[[str, str], ModelPrice | None],
        kind_of: Callable[[str], str],
    ) -> None:
        self.mode = mode
        self.price_for = price_for
        self.kind_of = kind_of
        self.ttl = ttl
        self.key_scope = key_scope
        self.clock = clock
        self.warm = WarmCache()
        self.odds = ReuseOdds()
        self._seen: OrderedDict[str, deque[Seen]] = OrderedDict()
        self._tool_tokens: OrderedDict[tuple[str, ...], int] = OrderedDict()
        #: The what-if replay's last request per group (see :meth:`simulate`).
        self._replayed: dict[str, tuple[Prefix, float]] = {}

    # -- before the call ---------------------------------------------------------------

    def previous(self, group: str, prefix: Prefix) -> Seen | None:
        """The earlier request ``prefix`` continues: a conversation's last one; for a
        client, the recent one sharing the most blocks (the latest among equals), so
        unrelated requests with the same system prompt are not taken for a change."""
        seen = self._seen.get(group)
        if not seen:
            return None
        if group.startswith("conversation:"):
            return seen[-1]
        mine, texts = set(prefix.chain), {hash(b.text) for b in prefix.blocks}
        best, best_n = None, 0
        for s in seen:
            n = len(mine & s.chain_set) + len(texts & s.texts)
            if n >= best_n and n > 0:
                best, best_n = s, n
        return best

    def rule(self, provider: str, model: str) -> CacheRule | None:
        """The caching rule of ``model`` at the provider called ``provider``."""
        return rule_for(self.kind_of(provider), model, self.price_for(provider, model), self.ttl)

    def warm_state(self, group: str) -> WarmState | None:
        """What the group's last request left warm (unexpired), for routing."""
        seen = self._seen.get(group)
        if not seen:
            return None
        last = seen[-1]
        rule = self.rule(last.provider, last.model)
        if rule is None:
            return None
        hit = self.warm.longest(last.provider, last.model, last.prefix, self.clock(), rule)
        if not hit.tokens:
            return None
        return WarmState(last.provider, last.model, last.tier, hit.tokens, last.output_tokens)

    def prepare(
        self,
        request: ProviderRequest,
        *,
        group: str,
        provider: str,
        message_tokens: Callable[[Message], int],
        tool_tokens: Callable[[Sequence[Tool]], int],
        client_key: str | None = None,
        sends_key: bool = True,
    ) -> Prepared | None:
        """The plan for one call; None when the provider keeps no prompt cache.
        ``sends_key``: whether the provider is sent a ``prompt_cache_key`` at all (a
        compatible server may refuse it); ``client_key`` still groups the requests."""
        provider_kind = self.kind_of(provider)
        rule = self.rule(provider, request.model)
        if rule is None:
            return None
        counted = self._memo(tool_tokens, request.tools, f"{provider}\0{request.model}")
        prefix = prefix_of(request.tools, request.messages, message_tokens, counted)
        now = self.clock()
        plan = Prepared(group, provider, request.model, rule, prefix, request)
        prev = plan.previous = self.previous(group, prefix)
        if prev is not None:
            prev_rule = self.rule(prev.provider, prev.model) or rule
            plan.warm_before = self.warm.longest(
                prev.provider, prev.model, prev.prefix, now, prev_rule
            )
            plan.warm_any_age = self.warm.longest(
                prev.provider, prev.model, prev.prefix, None, prev_rule
            )
        if rule.kind == "marks":
            plan.client_marks = _client_marks(request, prefix)
            if self.mode == "auto" and not plan.client_marks:
                plan.auto_marks = self._marks(prefix, rule, group, provider, now)
                if plan.auto_marks:
                    plan.request = _with_marks(request, prefix, plan.auto_marks, self.ttl)
            marks = plan.client_marks or plan.auto_marks
            plan.expected = (
                self.warm.longest(provider, request.model, prefix, now, rule, marks).tokens
                if marks
                else 0
            )
        else:
            plan.expected = self.warm.longest(provider, request.model, prefix, now, rule).tokens
            if provider_kind in ("openai", "openai-compatible") and sends_key:
                plan.key = client_key or self._key(group)
                if plan.key is not None and plan.key != request.prompt_cache_key:
                    plan.request = replace(plan.request, prompt_cache_key=plan.key)
        return plan

    def _key(self, group: str) -> str | None:
        if self.key_scope == "off" or self.mode == "off":
            return None
        if self.key_scope == "client" and group.startswith("conversation:"):
            return _short_key("client:default")
        return _short_key(group)

    def _memo(
        self, count: Callable[[Sequence[Tool]], int], tools: Sequence[Tool], tag: str
    ) -> Callable[[Sequence[Tool]], int]:
        """``count`` memoised for the leading runs of ``tools`` (the only lists
        :func:`prefix_of` asks about), keyed by ``tag`` (provider and model: the count
        is theirs) and the tools' text."""
        texts = (tag, *(repr(t.as_dict()) for t in tools))

        def counted(run: Sequence[Tool]) -> int:
            key = texts[: len(run) + 1]
            n = self._tool_tokens.get(key)
            if n is None:
                n = self._tool_tokens[key] = count(run)
                if len(self._tool_tokens) > 1024:
                    self._tool_tokens.popitem(last=False)
            return n

        return counted

    def _marks(
        self, prefix: Prefix, rule: CacheRule, group: str, provider: str, now: float
    ) -> tuple[int, ...]:
        """Anthropic breakpoints, most valuable first, at most four: the end of the
        prompt (what the next turn reads), the longest warm prefix (read now), the
        end of the system prompt and of the tools (shared by other conversations)."""
        model = rule.model
        one_hour = self.ttl == "1h"
        last = len(prefix) - 1
        head = prefix.system_end()
        p_group = self.odds.probability(group, now, rule.ttl)
        p_tail = p_group * self.odds.continuation(group)  # the whole prompt read again
        p_head = p_group
        if head >= 0:
            p_head = max(
                p_group, self.odds.probability("head:" + prefix.chain[head], now, rule.ttl)
            )
        warm = self.warm.longest(provider, model, prefix, now, rule)
        candidates: list[int] = []
        if last >= 0 and worth_writing(p_tail, rule, one_hour):
            candidates.append(last)
        if warm.position >= 0:
            candidates.append(warm.position)
        if head >= 0 and worth_writing(p_head, rule, one_hour):
            candidates.append(head)
            tools_end = max(
                (i for i, b in enumerate(prefix.blocks) if b.part == "tools"), default=-1
            )
            if 0 <= tools_end < head:
                candidates.append(tools_end)
        out: list[int] = []
        for pos in candidates:
            if pos not in out and prefix.tokens_to(pos) >= rule.min_tokens:
                out.append(pos)
        return tuple(sorted(out[:MAX_MARKS]))

    def simulate(
        self, prefix: Prefix, *, group: str, provider: str, model: str, at: float
    ) -> tuple[int, int]:
        """One recorded request replayed against the emulated cache (what-if replay):
        the tokens it would read from and write to the provider's cache under this
        object's mode and TTL, following the same rule and marks as live requests."""
        rule = self.rule(provider, model)
        if rule is None or not len(prefix):
            return 0, 0
        before = self._replayed.get(group)
        self._replayed[group] = (prefix, at)
        if before is not None and at - before[1] <= rule.ttl:
            self.odds.continued(group, prefix.shared_with(before[0]) >= len(before[0]))
        if rule.kind == "marks":
            marks = self._marks(prefix, rule, group, provider, at) if self.mode == "auto" else ()
            if not marks:
                self.odds.seen(group, at, rule.ttl)
                return 0, 0
            read = self.warm.longest(provider, model, prefix, at, rule, marks).tokens
            written = max(0, prefix.tokens_to(max(marks)) - read)
            self.warm.keep(provider, model, prefix, marks, at + rule.ttl, rule)
        else:
            read = self.warm.longest(provider, model, prefix, at, rule).tokens
            written = 0
            self.warm.keep(provider, model, prefix, range(len(prefix)), at + rule.ttl, rule)
        self.odds.seen(group, at, rule.ttl)
        head = prefix.system_end()
        if head >= 0:
            self.odds.seen("head:" + prefix.chain[head], at, rule.ttl)
        return read, written

    # -- after the call ----------------------------------------------------------------

    def observe(
        self,
        plan: Prepared,
        *,
        request_id: str,
        usage: Usage | None,
        ok: bool,
        tier: str | None,
        context_actions: Sequence[str],
    ) -> Observation:
        """Detect a break against the previous request, price what caching saved and
        what a break or a miss lost, and remember this request."""
        now = self.clock()
        rule = plan.rule
        prefix = plan.prefix
        usage = usage or Usage()
        reported = usage.cached_input_tokens
        detail: dict[str, object] = {
            "rule": rule.kind,
            "provider_kind": rule.provider_kind,
            "group": plan.group,
            "expected_cached_tokens": plan.expected,
            "reported_cached_tokens": reported,
            "cache_write_tokens": usage.cache_write_tokens,
            "prefix_tokens": prefix.tokens,
            "blocks": prefix.compact(),
        }
        if rule.kind == "marks":
            detail["marks"] = {
                "auto": [prefix.blocks[p].label for p in plan.auto_marks],
                "client": [prefix.blocks[p].label for p in plan.client_marks],
                "ttl": self.ttl,
            }
        if plan.key is not None:
            detail["prompt_cache_key"] = plan.key
        cause, lost, found = self._diagnose(plan, reported, context_actions, now)
        if plan.previous is not None:
            detail["previous_request_id"] = plan.previous.request_id
        if found is not None:
            detail["divergence"] = found.as_dict()
        if cause is not None:
            detail["break"] = {"cause": cause, "why": CAUSES[cause], "lost_tokens": lost}
        saved = reported * rule.read_discount
        one_hour = usage.cache_write_1h_tokens
        saved -= (usage.cache_write_tokens - one_hour) * rule.write_premium(False)
        saved -= one_hour * rule.write_premium(True)
        lost_usd = lost * rule.read_discount
        if ok and usage.input_tokens:
            self._remember(plan, request_id, now, tier, usage, reported)
        return Observation(detail, saved, lost_usd, cause)

    def _diagnose(
        self, plan: Prepared, reported: int, context_actions: Sequence[str], now: float
    ) -> tuple[str | None, int, Divergence | None]:
        prev, rule, prefix = plan.previous, plan.rule, plan.prefix
        if prev is None:
            return None, 0, None
        found = divergence(prev.prefix, prefix)
        could = plan.warm_before.tokens  # what the previous prefix would give, unchanged
        if (prev.provider, prev.model) != (plan.provider, plan.model):
            return ("model_changed", could, found) if could else (None, 0, found)
        if found is not None and found.position < len(prev.prefix) - 1:
            block = (
                prefix.blocks[found.position]
                if found.position < len(prefix)
                else prev.prefix.blocks[found.position]
            )
            if block.part == "tools":
                cause = "tools_changed"
            elif block.role == "system" and found.index == 0:
                cause = "system_changed"
            elif {"window", "trim", "summary", "summary_dropped", "relevance"} & set(
                context_actions
            ):
                cause = "context_trimmed"
            else:
                cause = "history_changed"
            return cause, max(0, could - plan.expected), found
        if found is not None:
            found = None  # a new last message: the same conversation going on
        if not could and plan.warm_any_age.tokens and plan.expected < plan.warm_any_age.tokens:
            return "expired", plan.warm_any_age.tokens - plan.expected, None
        if rule.kind == "marks" and not (plan.auto_marks or plan.client_marks):
            shared = rule.cacheable(prefix.tokens_to(prefix.shared_with(prev.prefix) - 1))
            if shared and now - prev.at <= rule.ttl:
                return "not_marked", shared, None
            return None, 0, None
        if plan.expected >= rule.min_tokens and reported < plan.expected * _MISS_SHARE:
            return "provider_miss", plan.expected - reported, None
        return None, 0, None

    def _remember(
        self,
        plan: Prepared,
        request_id: str,
        now: float,
        tier: str | None,
        usage: Usage,
        reported: int,
    ) -> None:
        prev = plan.previous
        if prev is not None and now - prev.at <= plan.rule.ttl:
            whole = plan.prefix.shared_with(prev.prefix) >= len(prev.prefix)
            self.odds.continued(plan.group, whole)
        rule, prefix = plan.rule, plan.prefix
        until = now + rule.ttl
        if rule.kind == "marks":
            marks = plan.client_marks or plan.auto_marks
            if marks and (reported or usage.cache_write_tokens):
                self.warm.keep(plan.provider, plan.model, prefix, marks, until, rule)
        else:
            self.warm.keep(plan.provider, plan.model, prefix, range(len(prefix)), until, rule)
        self.odds.seen(plan.group, now, rule.ttl)
        head = prefix.system_end()
        if head >= 0:
            self.odds.seen("head:" + prefix.chain[head], now, rule.ttl)
        seen = self._seen.setdefault(plan.group, deque(maxlen=_MAX_SEEN))
        self._seen.move_to_end(plan.group)
        texts = frozenset(hash(b.text) for b in prefix.blocks)
        out = usage.output_tokens
        seen.append(
            Seen(
                request_id,
                now,
                plan.provider,
                plan.model,
                tier,
                prefix,
                out,
                frozenset(prefix.chain),
                texts,
            )
        )
        while len(self._seen) > _MAX_GROUPS:
            self._seen.popitem(last=False)
