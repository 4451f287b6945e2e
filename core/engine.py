"""The engine facade: the one object the CLI, the GUI, the gateway and tests drive.

``Engine.open(config, data_dir)`` wires the tokenizer, the price table, the ledger,
the budget policy, the providers and the pipeline. ``engine.ask(...)`` returns a
:class:`~core.pipeline.request.Reply`, an async iterator of text deltas whose
``record`` holds the ledger row once the stream has ended, been cancelled, or failed.

What the engine owns: opening and closing everything for one data dir, the composed
pipeline, the router it explains routes with, and the quality monitor. Everything
else it does by handing over to the part that knows how (the ledger, the cache, the
quality tools, replay). Those hand-overs are deliberate, even where they are one
line: they are the surface the front ends are allowed to use, so a view or a command
reads history, series and breakdowns through the engine and never holds a ledger,
a cache or a service of its own. The engine re-exports nothing: each name is
imported from the module that defines it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TextIO

import httpx

from core.accounting.budget import Forecast
from core.accounting.prices import PriceDiff, diff_tables, import_price_file, worst_case_cost
from core.accounting.tokens import TokenCounter
from core.cache.embedder import Embedder
from core.cache.store import SemanticCache
from core.cache.tune import TuneReport, load_pairs, tune, tune_verifier
from core.config import CentwiseConfig
from core.content.counting import schema_tokens, tool_definition_tokens
from core.context.conversations import ConversationInfo
from core.context.window import SavingsBreakdown
from core.errors import ConfigError, InputError
from core.events import REQUEST_FINISHED, WARNING, EventHub
from core.keys import hash_key, new_virtual_key
from core.ledger import BreakdownKey, DayPoint, GroupTotal, LedgerFilter, Totals
from core.ledger.models import GatewayKey
from core.ledger.selection import open_ledger
from core.pipeline.request import Reply, RequestContext, new_request_id
from core.pipeline.services import (
    CACHE_FILE,
    IMPORTED_PRICES_FILE,
    LEDGER_FILE,
    Services,
    load_prices,
)
from core.pipeline.stack import build_pipeline
from core.prompt_cache.replay import PromptCacheWhatIf, replay_prompt_cache, scenario_name
from core.prompt_cache.report import ProviderCacheReport, provider_cache_report
from core.providers.client import make_client
from core.quality.calibration import CalibrationReport, ItemResults, calibrate, collect_results
from core.quality.compare import CompareReport, compare
from core.quality.evaluation import EvalReport, evaluate
from core.quality.feedback import QualityMonitor, QualityStore, TierQuality
from core.quality.golden import GoldenItem
from core.replay import ReplayInputs, ReplayReport, replay
from core.routing.router import RequestNeeds, RouteDecision, TierRouter
from core.types import (
    NO_SAMPLING,
    ImagePart,
    Message,
    RequestRecord,
    ResponseFormat,
    Sampling,
    Secret,
    Tool,
    ToolChoice,
)

__all__ = [
    "Engine",
    "Estimate",
    "SpendSummary",
]


@dataclass(frozen=True, slots=True)
class Estimate:
    """What the playground shows while typing: tokens and the worst-case cost."""

    tier: str
    provider: str
    model: str
    input_tokens: int
    estimated: bool
    max_output_tokens: int
    worst_case_usd: Decimal | None


@dataclass(frozen=True, slots=True)
class SpendSummary:
    totals: Totals
    today: Totals
    month: Totals
    by_tier: list[GroupTotal]
    by_model: list[GroupTotal]
    by_purpose: list[GroupTotal]
    forecast: Forecast
    daily_usd: Decimal | None
    monthly_usd: Decimal | None


class Engine:
    """The Centwise engine. Build with :meth:`open`; close with :meth:`aclose`."""

    def __init__(self, services: Services, data_dir: Path) -> None:
        self.services = services
        self.data_dir = data_dir
        self.config = services.config
        self.events = services.events
        self.ledger = services.ledger
        self.prices = services.prices
        self.tokens = services.tokens
        self.router = TierRouter(services.config)
        self.pipeline = build_pipeline(services)
        # Routing quality (issue 6): feedback, background judging of a sample, alerts.
        self.quality_store = QualityStore(services.ledger)
        self.quality = QualityMonitor(
            self.config,
            self.quality_store,
            self.ledger,
            self.events,
            self.ask,
            services.clock,
            on_cache_verdict=self._cache_verdict,
        )
        self.events.on(REQUEST_FINISHED, self.quality.on_request_finished)

    @classmethod
    def open(
        cls,
        config: CentwiseConfig,
        data_dir: Path,
        *,
        clock: Callable[[], float] = time.time,
        key_lookup: Callable[[str], Secret | None] | None = None,
        client_factory: Callable[[], httpx.AsyncClient] | None = None,
        recover_ledger: bool = False,
        events: EventHub | None = None,
        warm_tokenizer: bool = True,
    ) -> Engine:
        data_dir.mkdir(parents=True, exist_ok=True)
        events = events or EventHub()
        prices = load_prices(config, data_dir)
        # The full page check takes seconds at a million rows; the quick one (header,
        # schema, small tables) keeps start-up instant. Damage found later still
        # raises CorruptLedgerError from the read that meets it.
        ledger = open_ledger(config, data_dir / LEDGER_FILE, recover=recover_ledger)
        warnings = []
        if ledger.recovered_from is not None:
            warnings.append(f"the ledger was unreadable and was kept at {ledger.recovered_from}")
        tokens = TokenCounter()
        if warm_tokenizer:  # load the common encoding now, not mid-request
            tokens.count_text("", "gpt-4o")
        services = Services(
            config,
            tokens,
            prices,
            ledger,
            events,
            clock,
            key_lookup or (lambda name: None),
            client_factory or (lambda: make_client(config.network)),
            data_dir,
        )
        services.startup_warnings.extend(warnings)
        for warning in warnings:
            events.emit(WARNING, warning)
        return cls(services, data_dir)

    def ask(
        self,
        prompt: str,
        *,
        system: str | None = None,
        model: str = "auto",
        max_output_tokens: int | None = None,
        temperature: float | None = None,
        history: Sequence[Message] = (),
        purpose: str = "user",
        use_cache: bool = True,
        conversation_id: str | None = None,
        sampling: Sampling | None = None,
        response_format: ResponseFormat | None = None,
        images: Sequence[ImagePart] = (),
        turn: Sequence[Message] = (),
        tools: Sequence[Tool] = (),
        tool_choice: ToolChoice | None = None,
        parallel_tool_calls: bool | None = None,
        reasoning_effort: str | None = None,
        end_user: str | None = None,
        metadata: Mapping[str, str] | None = None,
        system_cache_control: Mapping[str, object] | None = None,
        prompt_cache_key: str | None = None,
        client: str | None = None,
        app: str | None = None,
    ) -> Reply:
        """Start one request through the whole pipeline.

        ``sampling``: top_p, stop sequences, seed; ``response_format``: JSON output;
        ``images`` go with the prompt; ``tools`` (and ``tool_choice``,
        ``parallel_tool_calls``) are the tools the model may call. ``turn`` replaces
        the prompt's user message when this turn is more than that: tool results
        answering the calls in ``history``'s last message (``prompt`` is then their text,
        for routing and the cache). ``end_user`` and ``metadata`` are kept in the ledger.
        A provider that cannot honour a setting refuses the request before anything is
        sent. Iterating the reply yields text and :class:`~core.types.ToolCallDelta`;
        the record holds the whole tool calls. ``system_cache_control`` (like a message's
        or a tool's ``cache_control``) is a client's prompt-cache mark, sent to
        providers that take marks (Anthropic) as given. ``prompt_cache_key`` (a client's
        own, sent to OpenAI as given) and ``client`` (who sent it) say whose earlier
        requests the provider prompt cache follows, when there is no conversation.
        """
        if images and turn:
            raise InputError("give images with the prompt or in the turn's messages, not both")
        if images:
            turn = (Message("user", prompt, images=tuple(images)),)
        ctx = RequestContext(
            request_id=new_request_id(),
            prompt=prompt,
            started_at=self.services.clock(),
            system=system,
            history=tuple(history),
            requested_model=model or "auto",
            max_output_tokens=max_output_tokens,
            temperature=temperature,
            sampling=sampling or NO_SAMPLING,
            response_format=response_format,
            purpose=purpose,
            use_cache=use_cache,
            conversation_id=conversation_id,
            turn=tuple(turn),
            tools=tuple(tools),
            tool_choice=tool_choice,
            parallel_tool_calls=parallel_tool_calls,
            reasoning_effort=reasoning_effort,
            end_user=end_user,
            metadata=dict(metadata) if metadata else None,
            system_cache_control=system_cache_control,
            prompt_cache_key=prompt_cache_key,
            client=client,
            member=self.services.member,
            app=app,
        )
        return Reply(ctx, self.pipeline)

    def estimate(
        self,
        prompt: str,
        *,
        system: str | None = None,
        model: str = "auto",
        max_output_tokens: int | None = None,
        tools: Sequence[Tool] = (),
        tool_choice: ToolChoice | None = None,
        images: Sequence[ImagePart] = (),
        response_format: ResponseFormat | None = None,
    ) -> Estimate:
        """Tokens and worst-case cost for a prompt, without calling anything: tool
        definitions and images are counted as the routed model's provider counts them."""
        probe = self.tokens.count_text(prompt, "gpt-4o")
        schema = response_format is not None and response_format.schema is not None
        needs = RequestNeeds(tools=len(tools), images=len(images), json_schema=schema)
        services = self.services
        decision = self.router.route(
            prompt,
            probe.tokens,
            model,
            needs=needs,
            can=lambda tier: services.cannot(needs, tier, tier.provider, tier.model),
        )
        messages = [Message("system", system)] if system else []
        messages.append(Message("user", prompt, images=tuple(images)))
        counted = self.tokens.count_messages(messages, decision.model)
        kind = self.services.provider(decision.provider).kind

        def count(text: str) -> int:
            return self.tokens.count_text(text, decision.model).tokens

        extra = tool_definition_tokens(count, tools, tool_choice, decision.model, kind)
        extra += schema_tokens(count, response_format)
        counted = replace(counted, tokens=counted.tokens + extra)
        price = self.services.price_for(decision.provider, decision.model)
        model_max = price.max_output_tokens if price else None
        max_tokens = self.services.budget.max_tokens(max_output_tokens, model_max)
        worst = worst_case_cost(counted.tokens, max_tokens, price) if price else None
        return Estimate(
            decision.tier.id,
            decision.provider,
            decision.model,
            counted.tokens,
            counted.estimated,
            max_tokens,
            worst,
        )

    def spend_summary(self, since: date | None = None) -> SpendSummary:
        now = self.services.clock()
        today = date.fromtimestamp(now)
        return SpendSummary(
            totals=self.ledger.totals(since=since),
            today=self.ledger.totals(since=today, until=today),
            month=self.ledger.totals(since=today.replace(day=1), until=today),
            by_tier=self.ledger.breakdown("tier", since=since),
            by_model=self.ledger.breakdown("model", since=since),
            by_purpose=self.ledger.breakdown("purpose", since=since),
            forecast=self.services.budget.forecast(now),
            daily_usd=self.config.budget.daily_usd,
            monthly_usd=self.config.budget.monthly_usd,
        )

    @property
    def price_source(self) -> str:
        """Where the price table came from, in words (file, version, date)."""
        return self.prices.source

    @property
    def startup_warnings(self) -> list[str]:
        """Warnings raised while opening, before any listener could subscribe."""
        return list(self.services.startup_warnings)

    def runs_only_on_simulator(self) -> bool:
        """True when every tier and fallback goes to a Simulator provider."""
        tiers = self.config.routing.tiers
        names = {t.provider for t in tiers} | {f.provider for t in tiers for f in t.fallbacks}
        return all(self.config.providers[n].kind == "simulator" for n in names)

    def model_ids(self) -> list[tuple[str, str]]:
        """``(id, owner)`` for every name :meth:`ask` accepts as ``model``: ``auto``, each
        tier, each tier's model and each fallback as ``provider/model``."""
        out: dict[str, str] = {"auto": "centwise"}
        tiers = self.config.routing.tiers
        for tier in tiers:
            out.setdefault(tier.id, "centwise")
        for tier in tiers:
            out.setdefault(tier.model, tier.provider)
        for tier in tiers:
            for f in tier.fallbacks:
                out.setdefault(f"{f.provider}/{f.model}", f.provider)
        return list(out.items())

    # -- conversations ---------------------------------------------------------

    def start_conversation(self, system: str | None = None, title: str | None = None) -> str:
        """A new stored conversation; pass its id to :meth:`ask` as ``conversation_id``."""
        return self.services.conversations().create(system, self.services.clock(), title)

    def conversation(self, conversation_id: str) -> list[Message]:
        """A conversation's messages in order, its system prompt first when it has one."""
        conv = self.services.conversations().load(conversation_id)
        head = [Message("system", conv.system)] if conv.system else []
        return head + list(conv.messages)

    def conversations(self, limit: int = 50) -> list[ConversationInfo]:
        """The most recently used conversations, newest first."""
        return self.services.conversations().recent(limit)

    def savings_breakdown(self, since: date | None = None) -> SavingsBreakdown:
        """Dollars saved by the cache and by context management (and what its summaries
        cost) since the local date ``since``, from the ledger."""
        context_usd, summaries_usd = self.ledger.context_savings(since)
        return SavingsBreakdown(
            cache_usd=self.ledger.totals(since=since).saved_usd,
            context_usd=context_usd,
            context_cost_usd=summaries_usd,
            routing_usd=self.ledger.routing_savings(since),
        )

    def provider_cache_report(self, since: date | None = None) -> ProviderCacheReport:
        """Provider prompt caching since the local date ``since``: hit ratio, money
        saved (apart from the semantic cache's and context management's), breaks by
        cause, per-conversation trade-off, recent breaks with where they happened."""
        t0 = None if since is None else time.mktime(since.timetuple())
        return provider_cache_report(self.ledger, t0)

    def prompt_cache_whatif(self, since: date | None = None) -> PromptCacheWhatIf:
        """The recorded requests since ``since`` re-priced with provider prompt caching
        off, and on with a five-minute or a one-hour TTL (input cost; see
        :mod:`core.prompt_cache.replay`)."""
        services = self.services
        records = self.ledger.iter_records(since, LedgerFilter(prompt_cached=True))
        return replay_prompt_cache(records, services.price_for, services.provider_kind)

    def warm_up(self) -> None:
        """Load the common tokenizer encoding now (half a second), so the first
        estimate is quick; for an engine opened with ``warm_tokenizer=False``."""
        self.tokens.count_text("", "gpt-4o")

    # -- team mode: virtual gateway keys ---------------------------------------

    def create_gateway_key(
        self,
        name: str,
        *,
        daily_usd: Decimal | None = None,
        monthly_usd: Decimal | None = None,
    ) -> tuple[str, GatewayKey]:
        """Issue a virtual gateway key named ``name`` (the ``app`` its requests are
        recorded under), with optional hard limits of its own. Returns the key, to show
        once: only its hash is stored."""
        name = name.strip()
        if not name or len(name) > 64 or not name.isprintable():
            raise InputError(f"a gateway key needs a short printable name, got {name!r}")
        for label, value in (("daily", daily_usd), ("monthly", monthly_usd)):
            if value is not None and value <= 0:
                raise InputError(f"the {label} limit of a gateway key must be above $0")
        key = new_virtual_key()
        stored = self.ledger.add_gateway_key(
            name,
            hash_key(key),
            key[:8],
            daily_usd=daily_usd,
            monthly_usd=monthly_usd,
            created_by=self.services.member,
            now=self.services.clock(),
        )
        return key, stored

    def gateway_keys(self, *, include_revoked: bool = True) -> list[GatewayKey]:
        """The virtual gateway keys (never the keys themselves)."""
        return self.ledger.gateway_keys(include_revoked=include_revoked)

    def revoke_gateway_key(self, name: str) -> bool:
        """Revoke the live key ``name``; False when there is none."""
        return self.ledger.revoke_gateway_key(name, self.services.clock())

    def gateway_key_by_hash(self, key_hash: str) -> GatewayKey | None:
        """The live virtual key with this hash (the gateway checks keys with it)."""
        return self.ledger.gateway_key_by_hash(key_hash)

    # -- the ledger, as the GUI and CLI read it --------------------------------

    def history(
        self, offset: int, limit: int, filters: LedgerFilter | None = None
    ) -> list[RequestRecord]:
        """One page of requests, newest first."""
        return self.ledger.page(offset, limit, filters)

    def history_count(self, filters: LedgerFilter | None = None) -> int:
        return self.ledger.count(filters)

    def get_record(self, request_id: str) -> RequestRecord | None:
        return self.ledger.get(request_id)

    def record_rejected(
        self,
        request_id: str,
        reason: str,
        *,
        purpose: str,
        started_at: float | None = None,
        model: str | None = None,
        app: str | None = None,
    ) -> RequestRecord:
        """Put a request refused before it could start (a malformed gateway body, a
        field the gateway does not carry) in the ledger with its reason: every request
        is recorded, errors included."""
        now = self.services.clock()
        rec = RequestRecord(
            request_id=request_id,
            started_at=now if started_at is None else started_at,
            finished_at=now,
            purpose=purpose,
            model=model,
            status="rejected",
            error=reason,
            error_kind="input",
            member=self.services.member,
            app=app,
        )
        self.ledger.record(rec)
        return rec

    def daily_series(
        self, since: date | None = None, until: date | None = None, by: BreakdownKey | None = None
    ) -> list[DayPoint]:
        return self.ledger.daily_series(since, until, by)

    def breakdown(self, by: BreakdownKey, since: date | None = None) -> list[GroupTotal]:
        return self.ledger.breakdown(by, since)

    def latest_change(self) -> int:
        """A marker for :meth:`changes_since`: rows written by any process after it."""
        return self.ledger.latest_rowid()

    def follow_changes(self, on_change: Callable[[], None]) -> Callable[[], None] | None:
        """On a shared database, call ``on_change()`` (from a background thread) each
        time any process or machine records a request (PostgreSQL LISTEN/NOTIFY);
        returns the function that stops it. None on SQLite, which is polled."""
        listen = getattr(self.ledger, "listen", None)
        return listen(on_change) if listen is not None else None

    @property
    def storage(self) -> str:
        """Where the ledger lives: the SQLite file, or ``PostgreSQL host:port/db``."""
        return self.ledger.where

    def changes_since(self, marker: int, upto: int | None = None) -> list[RequestRecord]:
        return self.ledger.changes_since(marker, upto)

    # -- the semantic cache ----------------------------------------------------

    def cache(self) -> SemanticCache:
        """The semantic cache (opened on first use; call off the UI thread)."""
        return self.services.semantic_cache_sync()

    def cache_tune(self, pairs_path: Path, *, guard: bool = True) -> TuneReport:
        """Hit and false-hit rates on the user's labelled pairs: against the pair
        verifier's score when it is on (with the threshold the settings serve at),
        else against cosine similarity (with or without the rule guard)."""
        pairs = load_pairs(pairs_path)
        cache = self.cache()
        if cache.verifier is None or not guard:
            return tune(pairs, cache.embedder, guard=guard)
        scores = cache.verifier.score_pairs([(p.a, p.b) for p in pairs])
        return tune_verifier(
            pairs,
            [float(s) for s in scores],
            max_error_rate=cache.max_error_rate,
            chosen=cache.serve_threshold,
        )

    def _cache_verdict(self, request_id: str, right: bool) -> None:
        """A judge's verdict on an answer served from the cache: evidence for its entry."""
        cache = self.services.semantic_cache_now()
        if cache is not None:
            cache.judge(request_id, right, "judge")

    def mark_bad(self, request_id: str) -> int:
        """The user marked an answer bad: it is never served from the cache again."""
        return self.cache().mark_bad(request_id)

    async def list_models(self, provider: str) -> list[str]:
        """The models ``provider`` offers (its own listing endpoint)."""
        return await self.services.provider(provider).list_models()

    def breaker_states(self) -> list[tuple[str, str, str]]:
        """``(provider, model, closed|open|half_open)`` for every breaker in use."""
        return [(p, m, str(state)) for p, m, state in self.services.breakers.snapshot()]

    def forecast(self) -> Forecast:
        return self.services.budget.forecast()

    def export(
        self,
        fmt: str,
        out: TextIO,
        since: date | None = None,
        filters: LedgerFilter | None = None,
    ) -> int:
        """Write the matching requests as CSV or JSONL; returns how many."""
        if fmt not in ("csv", "jsonl"):
            raise ConfigError(f"unknown export format {fmt!r}: use csv or jsonl")
        return self.ledger.export(fmt, out, since, filters)  # type: ignore[arg-type]

    def import_prices(self, path: Path) -> PriceDiff:
        """Validate a LiteLLM-format price file and make it this engine's table."""
        before = self.prices
        import_price_file(path, self.data_dir / IMPORTED_PRICES_FILE, before)
        self.services.prices = self.prices = load_prices(self.config, self.data_dir)
        return diff_tables(before, self.prices)

    # -- routing: explain, compare, evaluate, calibrate, feedback, quality -----

    @property
    def judge_tier(self) -> str:
        """The tier that judges answers: ``[routing] judge_tier``, else the top tier."""
        return self.config.routing.judge_tier or self.config.routing.tiers[-1].id

    def explain_route(self, prompt: str, *, model: str = "auto", depth: int = 0) -> RouteDecision:
        """The tier ``prompt`` would get, with its score and each feature's contribution."""
        tokens = self.tokens.count_text(prompt, "gpt-4o").tokens
        return self.router.route(prompt, tokens, model, depth=depth)

    async def compare(
        self,
        prompt: str,
        targets: Sequence[str],
        *,
        system: str | None = None,
        judge: bool | str = False,
        use_cache: bool = False,
        max_output_tokens: int | None = None,
    ) -> CompareReport:
        """Ask each tier or model at once; ``judge`` (True or a tier) scores and picks one."""
        return await compare(
            self, prompt, targets, system=system, judge_tier=self._judge_arg(judge),
            use_cache=use_cache, max_output_tokens=max_output_tokens,
        )  # fmt: skip

    async def evaluate(
        self,
        items: Sequence[GoldenItem],
        *,
        baseline: str | None = None,
        judge: bool | str = True,
        target_retention: float | None = None,
        concurrency: int = 4,
    ) -> EvalReport:
        """Run a golden set routed and on ``baseline`` (default: the top tier)."""
        return await evaluate(
            self, list(items), baseline=baseline, judge_tier=self._judge_arg(judge),
            target_retention=target_retention, concurrency=concurrency,
        )  # fmt: skip

    async def calibration_results(
        self, items: Sequence[GoldenItem], *, judge: bool | str = True, concurrency: int = 4
    ) -> list[ItemResults]:
        """Every golden item answered and scored on every tier, for :meth:`calibrate`."""
        return await collect_results(self, list(items), self._judge_arg(judge), concurrency)

    def calibrate(
        self,
        results: Sequence[ItemResults],
        *,
        target_retention: float | None = None,
        premium_share: float | None = None,
    ) -> CalibrationReport:
        """The cheapest tier boundaries meeting the target (nothing is written)."""
        tiers = self.config.routing.tiers
        target = target_retention or self.config.routing.target_retention
        return calibrate(
            list(results), [t.id for t in tiers], {t.id: t.max_complexity for t in tiers[:-1]},
            target_retention=target, premium_share=premium_share,
        )  # fmt: skip

    def feedback(self, request_id: str, vote: str) -> str | None:
        """Thumbs ``up`` or ``down`` on an answer; returns its tier. Down also keeps the
        answer out of the cache for good (:meth:`mark_bad`)."""
        if vote not in ("up", "down"):
            raise InputError(f"feedback must be up or down, got {vote!r}")
        tier = self.quality_store.add_feedback(request_id, vote, self.services.clock())  # type: ignore[arg-type]
        if (self.data_dir / CACHE_FILE).exists():
            # A vote on an answer served from the cache is evidence for the entry's
            # threshold; a down vote on a paid answer keeps it out of the cache.
            self.cache().judge(request_id, correct=vote == "up")
            if vote == "down":
                self.mark_bad(request_id)
        if tier is not None:
            self.quality.check(tier)
        return tier

    def tier_quality(self) -> list[TierQuality]:
        """Running quality per tier (judged samples, votes) and cost per quality point."""
        return self.quality_store.tier_quality([t.id for t in self.config.routing.tiers])

    async def drain_quality_samples(self) -> None:
        """Wait for background quality judgements still running."""
        await self.quality.drain()

    # -- what-if replay -------------------------------------------------------

    def replay(
        self,
        other: CentwiseConfig,
        *,
        since: date | None = None,
        source: Path | None = None,
        embedder: Embedder | None = None,
    ) -> ReplayReport:
        """What the recorded history (or ``source``, a JSONL import) would have cost
        under ``other``: offline, no provider called, nothing written.

        Prompts with no stored cache embedding are embedded with ``embedder`` (default:
        the open cache's embedder, else MiniLM) when ``[cache]`` changed. Takes about
        a second per 10,000 requests with stored embeddings: call it off the UI thread.
        """
        factory = None
        if embedder is not None:
            factory = lambda: embedder  # noqa: E731
        elif self.config.cache.embedder == "minilm":
            factory = self._replay_embedder
        inputs = ReplayInputs(
            current=self.config,
            prices_current=self.prices,
            prices_other=load_prices(other, self.data_dir),
            tokens=self.tokens,
            ledger=self.ledger,
            cache_path=self.data_dir / CACHE_FILE,
            embedder=factory,
        )
        report = replay(inputs, other, since=since, source=source)
        if source is not None:
            return report
        chosen = scenario_name(other.prompt_cache.mode, other.prompt_cache.ttl)
        return replace(
            report, prompt_cache=self.prompt_cache_whatif(since), prompt_cache_choice=chosen
        )

    def _replay_embedder(self) -> Embedder:
        cache = self.services.semantic_cache_now()
        if cache is not None:
            return cache.embedder
        from core.cache.minilm import MiniLMEmbedder

        return MiniLMEmbedder()

    def _judge_arg(self, judge: bool | str) -> str | None:
        if judge is True:
            return self.judge_tier
        if not judge:
            return None
        if self.config.tier(judge) is None:
            tiers = ", ".join(t.id for t in self.config.routing.tiers)
            raise InputError(f"judge {judge!r} is not a tier ({tiers})")
        return judge

    async def aclose(self) -> None:
        await self.quality.aclose()
        self.quality_store.close()
        await self.services.aclose()
        self.ledger.close()

    def close(self) -> None:
        """Close without an event loop (for commands that made no provider call)."""
        self.services.close_stores()
        self.quality_store.close()
        self.ledger.close()

    # -- how a long-running front end runs the engine --------------------------

    def checkpoint_in_background(self) -> None:
        """Run the ledger's WAL checkpoints on a thread of their own, for processes with
        streams open (the gateway, the app): a checkpoint inside a commit stalls them."""
        self.ledger.checkpoint_in_background()

    def announce_with(self, schedule: Callable[[Callable[[], None]], object]) -> None:
        """Run what a finished request announces (its event, budget alerts) through
        ``schedule`` (the gateway passes its loop's ``call_soon``, so a stream's last
        bytes go out first); by default it runs at once, once the row is stored."""
        self.services.announce = schedule
