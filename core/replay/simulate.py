"""The replay: a recorded history re-priced offline under another configuration.

:func:`replay` reads the history (the ledger, or an imported JSONL file), re-prices
every user request lever by lever (:mod:`core.replay.reprice`), re-runs the cache in
time order when ``[cache]`` changed (:mod:`core.replay.cache_sim`), checks the other
budgets day by day, and estimates quality retention where quality data exists. No
provider is called and nothing is written.
"""

from __future__ import annotations

import gc
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import numpy as np

from core.accounting.prices import PriceTable, cost_of
from core.accounting.tokens import TokenCounter
from core.cache.embedder import Embedder
from core.config import CentwiseConfig
from core.context.conversations import ConversationStore
from core.errors import InputError
from core.ledger import Ledger
from core.replay.cache_sim import simulate_cache
from core.replay.quality import QualityEstimate, estimate_retention, load_quality_samples
from core.replay.report import BudgetDay, CacheReplay, ReplayReport, Savings, SpendRow
from core.replay.reprice import HIT_OUTCOMES, Line, Repricer, price_for
from core.replay.sources import (
    ImportedLine,
    ledger_records,
    read_import_file,
    stored_embeddings,
)
from core.routing.router import TierRouter
from core.types import Message, RequestRecord, Usage

__all__ = ["ReplayInputs", "replay"]

_EMBED_BATCH = 64


@dataclass(slots=True)
class ReplayInputs:
    """What a replay reads: the recorded side (config ``current``) and the data."""

    current: CentwiseConfig
    prices_current: PriceTable
    prices_other: PriceTable
    tokens: TokenCounter
    ledger: Ledger
    cache_path: Path
    embedder: Callable[[], Embedder] | None  # None: embed nothing, exact text only


def replay(
    inputs: ReplayInputs,
    other: CentwiseConfig,
    *,
    since: date | None = None,
    source: Path | None = None,
) -> ReplayReport:
    """Replay the ledger (or ``source``, a JSONL file) under ``other``."""
    # A replay holds every request at once; the cyclic collector would walk them all
    # again and again (it took half the time at 100,000 requests). Nothing here makes
    # reference cycles, so it is paused for the duration.
    paused = gc.isenabled()
    gc.disable()
    try:
        return _replay(inputs, other, since, source)
    finally:
        if paused:
            gc.enable()


def _replay(
    inputs: ReplayInputs, other: CentwiseConfig, since: date | None, source: Path | None
) -> ReplayReport:
    t0 = time.perf_counter()
    a = inputs.current
    notes: list[str] = []
    if source is None:
        records: Iterable[RequestRecord] = ledger_records(inputs.ledger, since)
        label = "the ledger"
    else:
        records = _imported(read_import_file(source, since), inputs)
        label = str(source)
    store = ConversationStore(inputs.ledger) if source is None else None
    history = _HistoryLookup(store)
    repricer = Repricer(a, other, inputs.prices_current, inputs.prices_other, inputs.tokens,
                        history)  # fmt: skip
    depths: Counter[str] = Counter()
    lines: list[Line] = []
    try:
        for rec in records:
            depth = 0
            if rec.conversation_id and rec.purpose == "user" and rec.status == "ok":
                depth = depths[rec.conversation_id]
                depths[rec.conversation_id] += 1
            lines.append(repricer.line(rec, depth))
    finally:
        if store is not None:
            store.close()
    changed = _changed_sections(a, other)
    cache_simulated = source is not None or "cache" in changed
    cache = _run_cache(lines, inputs, other, cache_simulated, notes)
    if repricer.context_skipped and repricer.context_changed:
        notes.append(
            f"{repricer.context_skipped} conversation turns kept their recorded context "
            "(a summary was used, which needs a model call, or the history is gone)"
        )
    if a.cache.embedder != other.cache.embedder and cache_simulated:
        notes.append("the other embedder was not run: the current embedder's vectors are used")
    notes += _standing_notes(cache_simulated)
    report = _assemble(lines, label, since, changed, cache, other, notes, inputs.ledger)
    return replace(report, seconds=time.perf_counter() - t0)


class _HistoryLookup:
    """A conversation turn's earlier messages, from the stored conversations."""

    def __init__(self, store: ConversationStore | None) -> None:
        self.store = store
        self._memo: dict[str, tuple[Message, ...] | None] = {}

    def __call__(self, rec: RequestRecord) -> tuple[Message, ...] | None:
        if self.store is None or rec.conversation_id is None:
            return None
        cid = rec.conversation_id
        if cid not in self._memo:
            try:
                self._memo[cid] = self.store.load(cid).messages
            except InputError:
                self._memo[cid] = None
        messages = self._memo[cid]
        if messages is None:
            return None
        for i, m in enumerate(messages):
            if m.role == "user" and m.content == rec.prompt:
                return messages[:i]
        return None


def _changed_sections(a: CentwiseConfig, b: CentwiseConfig) -> tuple[str, ...]:
    names = ("routing", "prices", "providers", "cache", "context", "budget")
    return tuple(n for n in names if getattr(a, n) != getattr(b, n))


def _imported(items: list[ImportedLine], inputs: ReplayInputs) -> list[RequestRecord]:
    """Give imported lines what the ledger would have: a tier, a model, usage and cost
    under the current configuration (the file's own figures win)."""
    a = inputs.current
    router = TierRouter(a)
    out = []
    for item in items:
        rec = item.record
        if rec.tier is not None and a.tier(rec.tier) is None:
            raise InputError(f"{rec.request_id}: tier {rec.tier!r} is not in the current config")
        if rec.tier is None:
            probe = inputs.tokens.count_text(rec.prompt, "gpt-4o").tokens
            decision = router.route(rec.prompt, probe)
            rec.tier, rec.route_score = decision.tier.id, decision.score
            rec.route_reasons, rec.route_mode = decision.reasons, "auto"
        tier = a.tier(rec.tier)
        assert tier is not None
        rec.model = rec.model or tier.model
        rec.provider = tier.provider if rec.model == tier.model else None
        if not item.has_tokens:
            msgs = [Message("system", rec.system)] if rec.system else []
            n_in = inputs.tokens.count_messages([*msgs, Message("user", rec.prompt)], rec.model)
            n_out = inputs.tokens.count_text(rec.response, rec.model).tokens
            rec.usage, rec.usage_estimated = Usage(n_in.tokens, n_out), True
        if not item.has_cost:
            price = price_for(a, inputs.prices_current, rec.provider, rec.model)
            rec.cost_usd = cost_of(rec.usage, price) if price else None
            rec.cost_known = rec.cost_usd is not None
        out.append(rec)
    return out


def _run_cache(
    lines: list[Line],
    inputs: ReplayInputs,
    other: CentwiseConfig,
    simulated: bool,
    notes: list[str],
) -> CacheReplay:
    recorded = [x for x in lines if x.replayed and x.record.cache_outcome in HIT_OUTCOMES]
    recorded_saved = sum((x.record.saved_usd for x in recorded), Decimal(0))
    if not simulated:
        for x in lines:
            x.final, x.cache_outcome = x.after_context, x.record.cache_outcome
        saved = sum((x.miss_cost or Decimal(0) for x in recorded), Decimal(0))
        n = len(recorded)
        return CacheReplay(False, n, n, 0, 0, 0, recorded_saved, saved, 0, 0, 0)
    wanted = [x.record for x in lines if x.replayed and x.depth == 0 and other.cache.enabled]
    vectors, stored, embedded = _vectors(wanted, inputs, other, notes)
    sim = simulate_cache(lines, other.cache, vectors)
    hits = [x for x in lines if x.replayed and x.cache_outcome in HIT_OUTCOMES]
    saved = sum((x.miss_cost or Decimal(0) for x in hits), Decimal(0))
    return CacheReplay(
        True, len(recorded), len(hits), sim.exact_hits, sim.semantic_hits, sim.guard_rejections,
        recorded_saved, saved, stored, embedded, sim.without_vector,
    )  # fmt: skip


def _vectors(
    records: list[RequestRecord], inputs: ReplayInputs, other: CentwiseConfig, notes: list[str]
) -> tuple[dict[str, np.ndarray], int, int]:
    """Stored vectors by request id, and the missing ones embedded in batches."""
    dim = 384 if inputs.current.cache.embedder == "minilm" else inputs.current.cache.embedder_dim
    ids = [r.request_id for r in records]
    vectors = stored_embeddings(inputs.cache_path, ids, dim)
    stored = len(vectors)
    missing = [r for r in records if r.request_id not in vectors]
    if not missing:
        return vectors, stored, 0
    if inputs.embedder is None:
        notes.append(
            f"{len(missing)} prompts had no stored embedding and were matched by exact text "
            "only (the current embedder is a provider's, and replay calls none)"
        )
        return vectors, stored, 0
    embedder = inputs.embedder()
    for i in range(0, len(missing), _EMBED_BATCH):
        batch = missing[i : i + _EMBED_BATCH]
        out = np.asarray(embedder.embed([r.prompt for r in batch]), dtype=np.float32)
        for r, v in zip(batch, out, strict=True):
            vectors[r.request_id] = v
    return vectors, stored, len(missing)


def _assemble(
    lines: list[Line],
    label: str,
    since: date | None,
    changed: tuple[str, ...],
    cache: CacheReplay,
    other: CentwiseConfig,
    notes: list[str],
    ledger: Ledger,
) -> ReplayReport:
    user = [x for x in lines if x.record.purpose == "user"]
    zero = Decimal(0)
    steps = [zero, zero, zero, zero]
    for x in user:
        chain = (x.actual, x.after_models, x.after_routing, x.after_context, x.final)
        if any(v is None for v in chain):
            continue
        known = [v for v in chain if v is not None]
        for i in range(4):
            steps[i] += known[i] - known[i + 1]
    unknown_actual = sum(1 for x in user if x.actual is None)
    unknown_projected = sum(1 for x in user if x.final is None)
    if unknown_actual or unknown_projected:
        notes.append("requests with an unknown price are left out of the totals and of the savings")
    before: Counter[str] = Counter()
    after: Counter[str] = Counter()
    for x in user:
        if x.replayed and x.record.route_mode in ("auto", "disabled") and x.record.tier:
            before[x.record.tier] += 1
            after[x.target.tier or ""] += 1
    quality: QualityEstimate | None = None
    quality_note: str | None = "no judge scores or feedback on record"
    found = load_quality_samples(ledger)
    if found is not None:
        quality, quality_note = estimate_retention(found[0], found[1], before, after)
    return ReplayReport(
        source=label,
        since=since,
        changed=changed,
        requests=sum(1 for x in user if x.replayed),
        carried=sum(1 for x in user if not x.replayed),
        actual_usd=sum((x.actual for x in user if x.actual is not None), zero),
        projected_usd=sum((x.final for x in user if x.final is not None), zero),
        unknown_actual=unknown_actual,
        unknown_projected=unknown_projected,
        estimated=sum(1 for x in user if _estimated(x)),
        by_day=_rows(user, lambda x: _day(x.record), lambda x: _day(x.record)),
        by_tier=_rows(user, lambda x: x.record.tier, lambda x: x.target.tier),
        by_model=_rows(user, lambda x: x.record.model, lambda x: x.target.model),
        savings=Savings(*steps),
        cache=cache,
        budgets=_budgets(lines, other),
        other_purposes=_rows(
            [x for x in lines if x.record.purpose != "user"],
            lambda x: x.record.purpose,
            lambda x: x.record.purpose,
        ),
        quality=quality,
        quality_note=None if quality is not None else quality_note,
        notes=notes,
    )


def _estimated(x: Line) -> bool:
    """Whether the projected cost rests on re-estimated tokens."""
    return x.estimated or (x.miss_estimated and x.cache_outcome not in HIT_OUTCOMES)


def _day(rec: RequestRecord) -> str:
    return date.fromtimestamp(rec.started_at).isoformat()


def _rows(
    lines: list[Line],
    actual_key: Callable[[Line], str | None],
    projected_key: Callable[[Line], str | None],
) -> list[SpendRow]:
    n_actual: Counter[str] = Counter()
    n_projected: Counter[str] = Counter()
    usd_actual: dict[str, Decimal] = defaultdict(Decimal)
    usd_projected: dict[str, Decimal] = defaultdict(Decimal)
    for x in lines:
        a, p = actual_key(x) or "(none)", projected_key(x) or "(none)"
        n_actual[a] += 1
        n_projected[p] += 1
        if x.actual is not None:
            usd_actual[a] += x.actual
        if x.final is not None:
            usd_projected[p] += x.final
    keys = sorted(set(n_actual) | set(n_projected))
    return [SpendRow(k, n_actual[k], usd_actual[k], n_projected[k], usd_projected[k]) for k in keys]


def _budgets(lines: list[Line], other: CentwiseConfig) -> list[BudgetDay]:
    """Days on which the other budgets would have refused requests, and how many.

    Every purpose counts against a budget, as it does live. A request is refused when
    its projected cost would take the day's (or month's) spend past the limit; the
    live budget reserves the worst case instead, so this is a lower bound.
    """
    cfg = other.budget
    if not cfg.hard_limit or (cfg.daily_usd is None and cfg.monthly_usd is None):
        return []
    day_spent: dict[str, Decimal] = defaultdict(Decimal)
    month_spent: dict[str, Decimal] = defaultdict(Decimal)
    refused: dict[tuple[str, str], list[Decimal]] = {}
    for x in lines:
        cost = x.final or Decimal(0)
        if cost <= 0:
            continue  # a free request (a cache hit) is never refused
        day = _day(x.record)
        month = day[:7]
        which = None
        if cfg.daily_usd is not None and day_spent[day] + cost > cfg.daily_usd:
            which = "daily"
        elif cfg.monthly_usd is not None and month_spent[month] + cost > cfg.monthly_usd:
            which = "monthly"
        if which is None:
            day_spent[day] += cost
            month_spent[month] += cost
            continue
        refused.setdefault((day, which), []).append(cost)
    return [
        BudgetDay(day, which, len(costs), sum(costs, Decimal(0)))
        for (day, which), costs in sorted(refused.items())
    ]


def _standing_notes(cache_simulated: bool) -> list[str]:
    notes = [
        "only purpose 'user' requests are replayed; judge, eval, context and embedding "
        "spend is listed apart at its recorded cost",
    ]
    if cache_simulated:
        notes.append(
            "past requests are taken as cacheable whatever their temperature, and "
            "conversation turns after the first neither hit nor fill the cache"
        )
    return notes
