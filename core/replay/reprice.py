"""Re-pricing one recorded request under another configuration, lever by lever.

Each request goes through three steps, each changing one lever over the one before:

1. **models and prices**: the recorded tier, on the other config's model for that tier,
   at the other config's prices;
2. **routing**: the tier the other config's router gives the prompt;
3. **context**: the other ``[context]`` window applied to the recorded conversation.

(The cache is the fourth step, in :mod:`core.replay.cache_sim`, because it depends
on the order of requests.) A lever whose config section is unchanged keeps the
recorded decision, and an unchanged model at an unchanged price keeps the recorded
usage and cost: that is why an identical configuration reproduces the recorded spend
exactly. When the model changes, its tokens are re-estimated (see :meth:`Repricer.usage`)
and the line is marked estimated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from core.accounting.prices import ModelPrice, PriceTable, cost_of
from core.accounting.tokens import TokenCounter
from core.config import CentwiseConfig, TierConfig
from core.context.window import (
    ContextState,
    MessageTokens,
    fit_history,
    recency_priority,
    strip_metadata,
)
from core.errors import ContextTooLongError
from core.routing.router import TierRouter
from core.types import Message, RequestRecord, Usage

__all__ = ["HIT_OUTCOMES", "Line", "Repricer", "Target", "price_for"]

HIT_OUTCOMES = frozenset({"exact", "semantic", "fallback"})
History = Callable[[RequestRecord], tuple[Message, ...] | None]


@dataclass(frozen=True, slots=True)
class Target:
    tier: str | None
    provider: str | None
    model: str | None


@dataclass(slots=True)
class Line:
    """One request: its recorded cost and its cost after each lever (None: unknown)."""

    record: RequestRecord
    actual: Decimal | None
    after_models: Decimal | None
    after_routing: Decimal | None
    after_context: Decimal | None
    #: What the request costs if it misses the cache, after the context step.
    miss_cost: Decimal | None
    target: Target
    tier_rank: int
    estimated: bool
    replayed: bool
    final: Decimal | None = None
    cache_outcome: str = "miss"
    #: A recorded cache hit whose miss cost rests on counted tokens.
    miss_estimated: bool = False
    #: Earlier user turns of its conversation (0: a first turn or a lone request).
    depth: int = 0


def price_for(
    config: CentwiseConfig, table: PriceTable, provider: str | None, model: str | None
) -> ModelPrice | None:
    """A model's price as :meth:`core.pipeline.services.Services.price_for` finds it."""
    if model is None:
        return None
    settings = config.providers.get(provider or "")
    kind = settings.kind if settings else None
    price = table.lookup(model, None if kind == "simulator" else kind)
    if price is None and kind == "ollama":
        zero = Decimal(0)
        return ModelPrice(model, "ollama", zero, zero, None, None, None, None, None)
    return price


class Repricer:
    """Steps 1-3 for every request, from config ``a`` (recorded) to config ``b``."""

    def __init__(
        self,
        a: CentwiseConfig,
        b: CentwiseConfig,
        prices_a: PriceTable,
        prices_b: PriceTable,
        tokens: TokenCounter,
        history: History,
    ) -> None:
        self.a, self.b = a, b
        self.prices_a, self.prices_b = prices_a, prices_b
        self.tokens = tokens
        self.counter = MessageTokens(tokens)
        self.router_b = TierRouter(b)
        self.routing_changed = a.routing.model_dump() != b.routing.model_dump()
        limits_a = (a.budget.max_input_tokens, a.budget.max_output_tokens)
        limits_b = (b.budget.max_input_tokens, b.budget.max_output_tokens)
        self.context_changed = a.context != b.context or limits_a != limits_b
        self._history = history
        self._ranks = {t.id: i for i, t in enumerate(b.routing.tiers)}
        self._tiers_a = {t.id: t for t in a.routing.tiers}
        self._tiers_b = {t.id: t for t in b.routing.tiers}
        self._price_memo: dict[tuple[str, str | None, str | None], ModelPrice | None] = {}
        self.context_skipped = 0

    # -- the three steps -------------------------------------------------------------

    def line(self, rec: RequestRecord, depth: int) -> Line:
        actual = rec.cost_usd if rec.cost_known else None
        if rec.status not in ("ok", "cancelled") or rec.purpose != "user":
            # Nothing was answered (error, refusal) or it is not the user's own spend:
            # carried at its recorded cost.
            target = Target(rec.tier, rec.provider, rec.model)
            rank = self._ranks.get(rec.tier or "", len(self._ranks) - 1)
            return Line(
                rec, actual, actual, actual, actual, actual, target, rank, False, False,
                depth=depth,
            )  # fmt: skip
        hit = rec.cache_outcome in HIT_OUTCOMES
        t1 = self.target(rec, rec.tier)
        u1, est1 = self.usage(rec, t1.model)
        miss1 = self.cost(rec, t1, u1)
        t2 = t1
        u2, est2, miss2 = u1, est1, miss1
        if self.routing_changed and rec.route_mode in ("auto", "disabled"):
            t2 = self.target(rec, self.route(rec, depth).id)
            if t2 != t1:
                u2, est2 = self.usage(rec, t2.model)
                miss2 = self.cost(rec, t2, u2)
        u3, miss3 = u2, miss2
        if self.context_changed and rec.conversation_id and t2.model is not None:
            u3 = self.context_usage(rec, u2, t2.model)
            if u3 != u2:
                miss3 = self.cost(rec, t2, u3)
        zero = Decimal(0)
        rank = self._ranks.get(t2.tier or "", len(self._ranks) - 1)
        return Line(
            rec, actual, zero if hit else miss1, zero if hit else miss2, zero if hit else miss3,
            miss3, t2, rank, est2 and not hit, True, miss_estimated=hit, depth=depth,
        )  # fmt: skip

    def target(self, rec: RequestRecord, tier_id: str | None) -> Target:
        """Where the request goes under config ``b`` when it is on ``tier_id``."""
        tier_b = self._tiers_b.get(tier_id or "") or self._tier_b_for(rec)
        tier_a = self._tiers_a.get(rec.tier or "")
        same = tier_a is not None and (tier_a.provider, tier_a.model) == (
            tier_b.provider,
            tier_b.model,
        )
        if same and tier_b.id == rec.tier and rec.model is not None:
            # Unchanged tier: keep what was really used (a fallback, a pinned model).
            return Target(tier_b.id, rec.provider, rec.model)
        pinned = rec.route_mode == "explicit" and tier_a is not None and rec.model != tier_a.model
        if pinned and rec.cache_outcome == "miss" and not rec.degraded:
            return Target(tier_b.id, rec.provider, rec.model)
        return Target(tier_b.id, tier_b.provider, tier_b.model)

    def _tier_b_for(self, rec: RequestRecord) -> TierConfig:
        """A tier the other config does not have: the one its router gives the score."""
        if rec.route_score is not None:
            return self.router_b.tier_for_score(rec.route_score)
        return self.b.routing.tiers[-1]

    def route(self, rec: RequestRecord, depth: int) -> TierConfig:
        probe = None
        for reason in rec.route_reasons:
            if reason.get("feature") == "length" and isinstance(reason.get("value"), int):
                probe = reason["value"]
            if reason.get("feature") == "conversation_depth" and isinstance(
                reason.get("value"), int
            ):
                depth = int(str(reason["value"]))
        if not isinstance(probe, int):
            probe = self.tokens.count_text(rec.prompt, "gpt-4o").tokens
        return self.router_b.route(rec.prompt, probe, "auto", depth=depth).tier

    # -- tokens and money ------------------------------------------------------------

    def usage(self, rec: RequestRecord, model: str | None) -> tuple[Usage, bool]:
        """The request's usage on ``model``, and whether it is an estimate.

        A cache hit has no usage of its own: its prompt and the answer it was served
        are counted. Same model or same tokenizer: the recorded usage. Otherwise the
        input is scaled by the ratio of the prompt's token counts under the two
        tokenizers (the history sent is not stored, so it cannot be re-counted) and the
        recorded answer is re-tokenised for the output (the recorded output count is
        kept when there is no answer text).
        """
        if model is None:
            return rec.usage, False
        enc_new, exact_new = self.tokens.encoding_name_for(model)
        if rec.cache_outcome in HIT_OUTCOMES:
            msgs = [Message("system", rec.system)] if rec.system else []
            msgs.append(Message("user", rec.prompt))
            n_in = self.counter.messages(msgs, model)
            n_out = self.counter.text(rec.response, model) if rec.response else 0
            return Usage(n_in, n_out), True
        old = rec.model or model
        if model == old:
            return rec.usage, rec.usage_estimated
        enc_old = self.tokens.encoding_name_for(old)[0]
        if enc_old == enc_new:
            return rec.usage, rec.usage_estimated or not exact_new
        text = (rec.system or "") + "\n" + rec.prompt
        n_old = max(1, self.counter.text(text, old))
        n_new = self.counter.text(text, model)
        u = rec.usage

        def scale(n: int) -> int:
            return (n * n_new + n_old // 2) // n_old

        out = self.counter.text(rec.response, model) if rec.response else u.output_tokens
        usage = Usage(
            scale(u.input_tokens),
            out,
            scale(u.cached_input_tokens),
            scale(u.cache_write_tokens),
            min(u.reasoning_tokens, out),
        )
        return usage, True

    def cost(self, rec: RequestRecord, t: Target, usage: Usage) -> Decimal | None:
        price_b = self._price(self.b, t.provider, t.model)
        if (
            rec.cache_outcome not in HIT_OUTCOMES
            and (t.provider, t.model) == (rec.provider, rec.model)
            and usage == rec.usage
            and price_b == self._price(self.a, rec.provider, rec.model)
        ):
            return rec.cost_usd if rec.cost_known else None
        if usage == Usage():
            return Decimal(0)
        return cost_of(usage, price_b) if price_b is not None else None

    def _price(self, config: CentwiseConfig, provider: str | None, model: str | None) -> ModelPrice | None:  # fmt: skip
        which = "b" if config is self.b else "a"
        key = (which, provider, model)
        if key not in self._price_memo:
            table = self.prices_b if config is self.b else self.prices_a
            self._price_memo[key] = price_for(config, table, provider, model)
        return self._price_memo[key]

    # -- context ---------------------------------------------------------------------

    def context_usage(self, rec: RequestRecord, usage: Usage, model: str) -> Usage:
        """``usage`` with the history re-windowed under ``b``'s ``[context]``.

        Summaries need a model call, so they are not re-run: a turn that used a summary
        keeps its recorded figures (counted in ``context_skipped``).
        """
        history = self._history(rec)
        actions = set(rec.context_actions)
        if history is None or rec.context_tokens_after is None or actions & {"summary", "summary_reused"}:  # fmt: skip
            self.context_skipped += 1
            return usage
        cfg = self.b.context
        if cfg.strip_metadata:
            history = strip_metadata(history)
        n = len(history)
        priority = recency_priority(n)[: cfg.max_history_messages]
        state = ContextState(full=history, history=history, priority=priority)
        price = self._price(self.b, None, model)
        window = None
        if price is not None and price.max_input_tokens:
            window = price.max_input_tokens - self.b.budget.max_output_tokens
        try:
            fit = fit_history(
                state, rec.system, rec.prompt, model, self.counter,
                window=window, cap=self.b.budget.max_input_tokens,
            )  # fmt: skip
        except ContextTooLongError:
            self.context_skipped += 1
            return usage
        old_after = rec.context_tokens_after
        if usage.input_tokens != rec.usage.input_tokens and rec.usage.input_tokens:
            old_after = (old_after * usage.input_tokens) // rec.usage.input_tokens
        new_in = max(0, usage.input_tokens - old_after + fit.tokens)
        return Usage(
            new_in,
            usage.output_tokens,
            min(usage.cached_input_tokens, new_in),
            min(usage.cache_write_tokens, new_in),
            usage.reasoning_tokens,
        )
