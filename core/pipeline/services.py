"""What the pipeline's stages share, owned by one :class:`core.engine.Engine`.

``Services`` holds the config, tokenizer, price table, ledger, budget policy,
providers (created on first use over one shared ``httpx.AsyncClient``), breakers, the
semantic cache and the conversation store. The stages take it in their constructors;
the GUI and CLI never touch it (they use the :class:`~core.engine.Engine` facade).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path

import httpx
import numpy as np

from core.accounting.budget import BudgetPolicy
from core.accounting.prices import ModelPrice, PriceTable, cost_of
from core.accounting.tokens import TokenCounter
from core.cache.backends import (
    BlockingRemoteEmbedder,
    make_remote_embedder,
    remote_embedder_name,
)
from core.cache.embedder import Embedder
from core.cache.remote_embedders import RemoteEmbedder
from core.cache.store import SemanticCache
from core.cache.verifier import PairVerifier
from core.config import CentwiseConfig, TierConfig
from core.context.conversations import ConversationStore
from core.context.window import MessageTokens
from core.errors import ConfigError
from core.events import WARNING, EventHub
from core.ledger import Ledger
from core.ledger.selection import database_password, database_url
from core.pipeline.resilience import BreakerBoard, CircuitBreaker
from core.prompt_cache import PromptCaching
from core.providers.base import Provider, load_provider_class
from core.routing.router import RequestNeeds, missing_capabilities
from core.types import RequestRecord, Secret, Usage

__all__ = [
    "CACHE_FILE",
    "IMPORTED_PRICES_FILE",
    "LEDGER_FILE",
    "Services",
    "load_prices",
]

LEDGER_FILE = "ledger.sqlite"
CACHE_FILE = "cache.sqlite"
IMPORTED_PRICES_FILE = "prices.json"


def _call_now(fn: Callable[[], None]) -> None:
    fn()


class Services:
    """What the stages share; owned by one :class:`Engine`."""

    def __init__(
        self,
        config: CentwiseConfig,
        tokens: TokenCounter,
        prices: PriceTable,
        ledger: Ledger,
        events: EventHub,
        clock: Callable[[], float],
        key_lookup: Callable[[str], Secret | None],
        client_factory: Callable[[], httpx.AsyncClient],
        data_dir: Path,
    ) -> None:
        self.config = config
        self.tokens = tokens
        self.prices = prices
        self.ledger = ledger
        #: Who is spending, recorded with every request (``[team] member``).
        self.member = config.team.member_name
        self.events = events
        self.clock = clock
        self.budget = BudgetPolicy(
            config.budget, config.observability, ledger, events, clock, team=config.team
        )
        #: Runs what a finished request announces once its row is stored (its event,
        #: budget alerts): at once by default. The gateway passes its loop's
        #: ``call_soon``, so a stream's last bytes go out first.
        self.announce: Callable[[Callable[[], None]], object] = _call_now
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
        self.monotonic: Callable[[], float] = time.monotonic
        self.breakers = BreakerBoard(self._make_breaker)
        self._key_lookup = key_lookup
        self._client_factory = client_factory
        self._client: httpx.AsyncClient | None = None
        self._providers: dict[str, Provider] = {}
        self.data_dir = data_dir
        self._cache: SemanticCache | None = None
        self._cache_lock = asyncio.Lock()
        self.startup_warnings: list[str] = []
        self.message_tokens = MessageTokens(tokens)
        self._conversations: ConversationStore | None = None
        cfg = config.prompt_cache
        self.prompt_cache = PromptCaching(
            cfg.mode, cfg.ttl, cfg.key, clock, self.price_for, self.provider_kind
        )

    def conversations(self) -> ConversationStore:
        """Stored conversations (in the ledger's database), opened on first use."""
        if self._conversations is None:
            self._conversations = ConversationStore(self.ledger)
        return self._conversations

    def provider(self, name: str) -> Provider:
        """The provider called ``name`` in the config, created on first use."""
        if name not in self._providers:
            settings = self.config.providers.get(name)
            if settings is None:
                raise ConfigError(f"provider {name!r} is not defined under [providers]")
            cls = load_provider_class(settings.kind)
            if self._client is None:
                self._client = self._client_factory()
            key = None if cls.simulated else self._key_lookup(name)
            provider = cls(name, settings, self._client, key)
            provider.token_counter = self.tokens
            self._providers[name] = provider
        return self._providers[name]

    def provider_kind(self, name: str) -> str:
        """The kind of the provider called ``name`` ("simulator" when unknown)."""
        settings = self.config.providers.get(name)
        return settings.kind if settings is not None else "simulator"

    async def semantic_cache(self) -> SemanticCache:
        """The cache, opened on first use in a worker thread (loading the embedding
        model takes a moment, and must not stall an event loop)."""
        if self._cache is None:
            async with self._cache_lock:
                if self._cache is None:
                    self._cache = await asyncio.to_thread(self._open_cache)
        return self._cache

    def semantic_cache_sync(self) -> SemanticCache:
        """The cache, opened here and now (for the CLI and the GUI's worker threads)."""
        if self._cache is None:
            self._cache = self._open_cache()
        return self._cache

    def semantic_cache_now(self) -> SemanticCache | None:
        return self._cache

    def _cache_embedder(self) -> Embedder:
        cfg = self.config.cache
        if cfg.embedder == "minilm":
            from core.cache.minilm import MiniLMEmbedder

            return MiniLMEmbedder()
        key = self._key_lookup(cfg.embedder_provider or "")
        return BlockingRemoteEmbedder(
            lambda client: make_remote_embedder(self.config, client, key),
            remote_embedder_name(self.config),
            cfg.embedder_dim,
            self._client_factory,
        )

    @staticmethod
    def _pair_verifier(embedder: Embedder) -> PairVerifier:
        """The learned verifier reads MiniLM's token states, whatever the cache searches
        with: share the cache's MiniLM when it is one."""
        from core.cache.minilm import MiniLMEmbedder

        minilm = embedder if isinstance(embedder, MiniLMEmbedder) else MiniLMEmbedder()
        return PairVerifier(minilm)

    async def embed_prompt(self, text: str, request_id: str) -> tuple[np.ndarray, Decimal | None]:
        """The prompt's vector for the cache, off the event loop, and what embedding it
        cost (0 on the device; None when the remote model's price is unknown). A
        remote embedder's tokens are priced and recorded in the ledger as embedding
        spend."""
        cache = await self.semantic_cache()
        if self.config.cache.embedder == "minilm":
            if cache.verifier is not None:  # one forward pass for search and verifier
                vector = await asyncio.to_thread(cache.verifier.embed, text)
                return np.asarray(vector, dtype=np.float32), Decimal(0)
            vectors = await asyncio.to_thread(cache.embedder.embed, [text])
            return np.asarray(vectors[0], dtype=np.float32), Decimal(0)
        if self._client is None:
            self._client = self._client_factory()
        key = self._key_lookup(self.config.cache.embedder_provider or "")
        remote = make_remote_embedder(self.config, self._client, key)
        started = self.clock()
        vectors, tokens = await remote.aembed([text])
        cost = self._record_embedding(remote, tokens, started, request_id)
        return np.asarray(vectors[0], dtype=np.float32), cost

    def _record_embedding(
        self, remote: RemoteEmbedder, tokens: int, started: float, request_id: str
    ) -> Decimal | None:
        usage = Usage(input_tokens=tokens)
        price = self.prices.lookup(remote.model)
        cost = cost_of(usage, price) if price else None
        estimated = remote.last_usage.estimated if remote.last_usage else False
        self.ledger.record(
            RequestRecord(
                request_id=f"{request_id}-emb",
                started_at=started,
                finished_at=self.clock(),
                purpose="embedding",
                provider=self.config.cache.embedder_provider,
                model=remote.model,
                usage=usage,
                usage_estimated=estimated,
                cost_usd=cost,
                cost_known=cost is not None,
                warnings=[] if cost is not None else [f"no price known for {remote.model}"],
                member=self.member,
            )
        )
        return cost

    def _open_cache(self) -> SemanticCache:
        cfg = self.config.cache
        embedder = self._cache_embedder()
        # Team mode: the cache shares the ledger's PostgreSQL database, searched through
        # an in-memory index per process kept in step with it (see core.cache.pg).
        url = database_url(self.config)
        cache = SemanticCache(
            None if url else self.data_dir / CACHE_FILE,
            embedder,
            url=url,
            password=database_password(url) if url else None,
            pg_search=cfg.pg_search,
            max_entries=cfg.max_entries,
            ttl_seconds=cfg.ttl_seconds,
            clock=self.clock,
            verifier=self._pair_verifier(embedder) if cfg.verifier == "learned" else None,
            max_error_rate=cfg.max_error_rate,
            grey_floor=cfg.grey_zone_floor,
        )
        for warning in cache.warnings:
            self.events.emit(WARNING, warning)
        return cache

    def tier_rank(self, tier_id: str | None) -> int:
        """0 for the cheapest tier, rising with capability (the cache's quality floor)."""
        ids = [t.id for t in self.config.routing.tiers]
        return ids.index(tier_id) if tier_id in ids else len(ids) - 1

    def _make_breaker(self, provider: str, model: str) -> CircuitBreaker:
        settings = self.config.providers.get(provider)
        threshold = settings.breaker_failure_threshold if settings else 5
        cooldown = settings.breaker_cooldown_seconds if settings else 30.0
        return CircuitBreaker(
            threshold, cooldown, lambda: self.monotonic(), provider=provider, model=model
        )

    def cannot(
        self, needs: RequestNeeds, tier: TierConfig | None, provider_name: str, model: str
    ) -> list[str]:
        """What ``model`` cannot do that a request with ``needs`` asks for: the tier's
        own setting first, then the price table's flags (see ``missing_capabilities``)."""
        return missing_capabilities(needs, tier, self.price_for(provider_name, model))

    def price_for(self, provider_name: str, model: str) -> ModelPrice | None:
        settings = self.config.providers.get(provider_name)
        kind = settings.kind if settings else None
        price = self.prices.lookup(model, None if kind == "simulator" else kind)
        if price is None and kind == "ollama":
            zero = Decimal(0)
            return ModelPrice(model, "ollama", zero, zero, None, None, None, None, None)
        return price

    async def aclose(self) -> None:
        for provider in self._providers.values():
            await provider.aclose()
        self._providers.clear()
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        self.close_stores()

    def close_stores(self) -> None:
        """Close the cache and the conversation store if they were opened (no loop needed)."""
        if self._cache is not None:
            self._cache.close()
            close = getattr(self._cache.embedder, "close", None)
            if close is not None:
                close()
            self._cache = None
        if self._conversations is not None:
            self._conversations.close()
            self._conversations = None


def load_prices(config: CentwiseConfig, data_dir: Path) -> PriceTable:
    """Bundled table, then an imported file, then config overrides (which win)."""
    table = PriceTable.bundled()
    imported = data_dir / IMPORTED_PRICES_FILE
    if imported.exists():
        table = table.layered(PriceTable.load(imported))
    if config.prices:
        table = table.with_overrides(config.prices, "config [prices]")
    return table
