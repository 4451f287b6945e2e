"""Typed, versioned configuration, loaded once from TOML and passed in.

Sections follow the seed's configuration template. Every error names the file, the
key and what was expected; unknown keys are errors, never silently ignored. Money is
parsed from TOML straight into :class:`~decimal.Decimal` (``parse_float=Decimal``).
"""

from __future__ import annotations

import os
import ssl
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.errors import ConfigError

__all__ = [
    "SCHEMA_VERSION",
    "BudgetConfig",
    "CacheConfig",
    "CentwiseConfig",
    "ContextConfig",
    "FallbackTarget",
    "FeatureWeight",
    "GatewayConfig",
    "NetworkConfig",
    "ObservabilityConfig",
    "PromptCacheConfig",
    "ProviderConfig",
    "RoutingConfig",
    "RoutingWeights",
    "TierConfig",
    "load_ca_bundle",
    "load_config",
    "parse_config",
]

SCHEMA_VERSION = 1

ProviderKind = Literal["simulator", "openai", "anthropic", "gemini", "ollama", "openai-compatible"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BudgetConfig(_Section):
    max_input_tokens: int = Field(8000, gt=0)
    max_output_tokens: int = Field(1024, gt=0)
    daily_usd: Decimal | None = Field(None, ge=0)
    monthly_usd: Decimal | None = Field(None, ge=0)
    hard_limit: bool = True
    alert_thresholds: tuple[float, ...] = (0.5, 0.8, 1.0)
    # How a hard daily/monthly budget holds money for a request about to run:
    # "worst_case" holds input + max_tokens of output, always; "learned" does that while
    # money is plentiful, and when it is tight caps max_tokens near the model's learned
    # p95 answer length and at what is left, holding the cost at that cap.
    reservation: Literal["learned", "worst_case"] = "learned"

    @field_validator("alert_thresholds")
    @classmethod
    def _thresholds(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        for t in v:
            if not 0 < t <= 1.5:
                raise ValueError(f"each threshold must be a fraction in (0, 1.5], got {t}")
        return tuple(sorted(set(v)))


RULES_THRESHOLD = 0.84


class CacheConfig(_Section):
    enabled: bool = True
    # The cosine a cached prompt needs to be considered at all; the pair verifier then
    # decides ("learned"). With verifier = "rules" it is the serving threshold, and the
    # rule guard alone checks the pair (the behaviour before the verifier).
    similarity_threshold: float = Field(0.75, ge=0, le=1)
    verifier: Literal["learned", "rules"] = "learned"
    # The share of semantic hits allowed to be wrong. The shared threshold comes from
    # the verifier's dev curve (with a margin); each entry's is learned from evidence.
    max_error_rate: float = Field(0.01, gt=0, le=0.2)
    # A tier whose model answers "same question?" for candidates in the grey zone
    # (verifier score between grey_zone_floor and the threshold); unset: no such call.
    # Its calls are recorded with purpose "cache_verify" and netted out of savings.
    verify_tier: str | None = None
    grey_zone_floor: float = Field(0.5, ge=0, le=1)
    #: Team mode: how a PostgreSQL cache finds the nearest prompts ("auto" = "index":
    #: an in-memory index per process; "pgvector": the extension's HNSW, no memory;
    #: "bits": bit codes ranked in SQL, slow). See core.cache.pg.
    pg_search: Literal["auto", "index", "pgvector", "bits"] = "auto"

    @model_validator(mode="before")
    @classmethod
    def _rules_default_threshold(cls, data: Any) -> Any:
        # In rules mode the threshold serves: its default is the one the guard was
        # measured with (0.84), not the learned verifier's candidate floor.
        if isinstance(data, dict) and data.get("verifier") == "rules":
            return {"similarity_threshold": RULES_THRESHOLD, **data}
        return data

    ttl_seconds: int = Field(3600, gt=0)
    max_entries: int = Field(50000, gt=0)
    # Above this temperature answers vary by design, so they are not cached.
    cacheable_max_temperature: float = Field(0.7, ge=0, le=2)
    # "minilm" runs all-MiniLM-L6-v2 on the device; "provider" uses embedder_provider's
    # embeddings endpoint with embedder_model (its spend is recorded as "embedding").
    embedder: Literal["minilm", "provider"] = "minilm"
    embedder_provider: str | None = None
    embedder_model: str | None = None
    embedder_dim: int = Field(1536, gt=0)


class FallbackTarget(_Section):
    provider: str
    model: str


class TierConfig(_Section):
    id: str = Field(min_length=1)
    provider: str = Field(min_length=1)
    model: str = Field(min_length=1)
    max_complexity: float = Field(ge=0, le=10)
    fallbacks: tuple[FallbackTarget, ...] = ()
    #: What the tier's model can do, overriding the price table's flags (None: the
    #: table decides; unknown there: assumed able).
    supports_function_calling: bool | None = None
    supports_vision: bool | None = None
    supports_response_schema: bool | None = None


def _default_tiers() -> tuple[TierConfig, ...]:
    return (
        TierConfig(id="fast", provider="simulator", model="gpt-4.1-nano", max_complexity=3),
        TierConfig(id="balanced", provider="simulator", model="gpt-4.1-mini", max_complexity=6),
        TierConfig(id="premium", provider="simulator", model="gpt-4.1", max_complexity=10),
    )


class FeatureWeight(_Section):
    """One routing feature: ``per`` points for each unit of it, capped at ``max``."""

    per: float = Field(ge=0, le=10)
    max: float = Field(ge=0, le=10)


class RoutingWeights(_Section):
    """How much each feature adds to the 0-10 complexity score (see ``core.routing.router``).

    Units: ``length`` per 1,000 prompt tokens; ``code_blocks``, ``reasoning_verbs``,
    ``multi_step``, ``math`` and ``high_stakes`` per match; ``structured_output`` once;
    ``questions`` per question after the first; ``conversation_depth`` per earlier turn.
    """

    length: FeatureWeight = FeatureWeight(per=1.5, max=3.0)
    code_blocks: FeatureWeight = FeatureWeight(per=1.5, max=2.5)
    structured_output: FeatureWeight = FeatureWeight(per=1.0, max=1.0)
    reasoning_verbs: FeatureWeight = FeatureWeight(per=1.5, max=4.0)
    multi_step: FeatureWeight = FeatureWeight(per=0.5, max=2.0)
    questions: FeatureWeight = FeatureWeight(per=0.5, max=1.5)
    math: FeatureWeight = FeatureWeight(per=0.75, max=2.0)
    high_stakes: FeatureWeight = FeatureWeight(per=1.5, max=3.0)
    conversation_depth: FeatureWeight = FeatureWeight(per=0.25, max=1.5)
    # Not tuned (no labelled tool or image traffic yet): set by hand, see the README.
    tools: FeatureWeight = FeatureWeight(per=0.5, max=1.5)
    images: FeatureWeight = FeatureWeight(per=1.0, max=2.0)
    json_schema: FeatureWeight = FeatureWeight(per=1.0, max=1.0)


class RoutingConfig(_Section):
    enabled: bool = True
    tiers: tuple[TierConfig, ...] = Field(default_factory=_default_tiers)
    weights: RoutingWeights = Field(default_factory=RoutingWeights)
    #: The tier that judges answers (eval, compare --judge, quality sampling); None:
    #: the top tier.
    judge_tier: str | None = None
    #: Routed quality / baseline quality that eval and calibration must reach.
    target_retention: float = Field(0.95, gt=0, le=1)
    #: A tier whose mean judged score (1-10) falls below this raises a quality alert.
    min_quality_score: float = Field(7.0, ge=1, le=10)
    #: Judged samples (or votes) a tier needs before its quality can raise an alert.
    quality_alert_min_samples: int = Field(5, ge=1)
    #: Also judge sampled answers that came from the Simulator (demos only: a
    #: simulated judge grading simulated answers measures a proxy, not quality).
    sample_simulated: bool = False

    @field_validator("tiers")
    @classmethod
    def _tiers(cls, v: tuple[TierConfig, ...]) -> tuple[TierConfig, ...]:
        if not v:
            raise ValueError("at least one tier is needed")
        ids = [t.id for t in v]
        if len(set(ids)) != len(ids):
            raise ValueError(f"tier ids must be unique, got {ids}")
        ordered = sorted(v, key=lambda t: t.max_complexity)
        if ordered[-1].max_complexity < 10:
            raise ValueError(
                "the highest tier's max_complexity must be 10 so every score has a tier"
            )
        return tuple(ordered)

    @model_validator(mode="after")
    def _judge_tier_known(self) -> RoutingConfig:
        if self.judge_tier is not None and self.judge_tier not in {t.id for t in self.tiers}:
            ids = ", ".join(t.id for t in self.tiers)
            raise ValueError(f"judge_tier {self.judge_tier!r} is not a tier id ({ids})")
        return self


class ContextConfig(_Section):
    """Context management: what of a conversation's history is sent with a new message."""

    # Sliding window: the system prompt plus at most this many earlier messages, fitted
    # into the chosen model's window (max_input_tokens minus the reserved output).
    max_history_messages: int = Field(20, ge=0)
    # The window moves in steps of this many messages (None: half the window), so the
    # history's first message, and with it the provider's cached prefix, stays put for
    # several turns instead of changing every turn. 1 slides message by message.
    window_step: int | None = Field(None, ge=1)
    # Once the unsummarised history of a stored conversation passes this, older turns
    # are folded by the fast tier into one rolling summary.
    summarize_after_tokens: int = Field(4000, gt=0)
    summarize: bool = True
    summary_max_tokens: int = Field(400, gt=0)
    # Summaries are made in blocks that stay put (each fold adds one, so the prompt
    # cache keeps the earlier ones); past this many they are rolled into one again.
    summary_max_blocks: int = Field(6, ge=1)
    # Drop tool-result messages, names and metadata (never sent) from the history.
    strip_metadata: bool = True
    # Relevance retention: up to relevant_messages older messages most similar to the
    # new one (MiniLM cosine >= relevance_min_similarity) are kept ahead of merely
    # recent ones. Loads the embedding model, so off by default.
    relevance: bool = False
    relevant_messages: int = Field(4, ge=0)
    relevance_min_similarity: float = Field(0.35, ge=-1, le=1)


class PromptCacheConfig(_Section):
    """Provider prompt caching (see :mod:`core.prompt_cache`).

    ``mode = "auto"``: Anthropic requests get ``cache_control`` breakpoints where the
    expected reads pay for the write premium, and OpenAI requests a stable
    ``prompt_cache_key``; ``"off"``: neither (a client's own marks are still sent).
    ``ttl``: Anthropic's cache lifetime for the automatic marks, five minutes (writes
    at 1.25× the input price) or one hour (2×). ``key``: what one OpenAI
    ``prompt_cache_key`` covers: a conversation (else a gateway client), a client, or
    nothing sent. ``sticky_routing``: a conversation stays on the model its cache is
    warm on unless switching saves more than the discount it would lose.
    """

    mode: Literal["auto", "off"] = "auto"
    ttl: Literal["5m", "1h"] = "5m"
    key: Literal["conversation", "client", "off"] = "conversation"
    sticky_routing: bool = True


class ObservabilityConfig(_Section):
    cost_alert_usd_per_day: Decimal = Field(Decimal(500), ge=0)
    min_cache_hit_rate: float = Field(0.4, ge=0, le=1)
    quality_sampling_rate: float = Field(0.05, ge=0, le=1)
    #: The cache hit rate is judged over this many most recent requests (the alert
    #: needs a full window, so a fresh start does not alert on its first misses).
    cache_hit_rate_window: int = Field(200, ge=1)
    #: Export one OpenTelemetry span per gateway request (needs the ``otel`` extra).
    otel: bool = False


class GatewayConfig(_Section):
    """``centwise serve``: the local OpenAI-compatible gateway."""

    host: str = "127.0.0.1"
    port: int = Field(8787, ge=0, le=65535)
    # Room for images sent inline (base64): Anthropic takes requests up to 32 MB.
    max_body_bytes: int = Field(32_000_000, gt=0)
    #: Include prompts and responses in the gateway's JSON log (secrets are redacted
    #: either way).
    log_prompts: bool = False
    #: Alerts (cost, cache hit rate, budget, open breaker) are POSTed as JSON here.
    webhook_url: str | None = None

    @field_validator("webhook_url")
    @classmethod
    def _webhook(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError(f"expected an http:// or https:// URL, got {v!r}")
        return v


def load_ca_bundle(context: ssl.SSLContext, path: str) -> None:
    """Add the CA certificates in the PEM file ``path`` (``~`` expanded) to ``context``.

    Raises ``ValueError`` saying what is wrong with the file (missing, unreadable, or
    holding no certificate), always naming the path.
    """
    try:
        context.load_verify_locations(cafile=os.path.expanduser(path))
    except FileNotFoundError:
        raise ValueError(f"the CA bundle {path} does not exist") from None
    except ssl.SSLError as e:  # before OSError, its base class
        raise ValueError(f"the CA bundle {path} holds no PEM certificate ({e.reason})") from None
    except OSError as e:  # a directory, no permission, ...
        raise ValueError(f"cannot read the CA bundle {path}: {e.strerror or e}") from None


class NetworkConfig(_Section):
    """Every outgoing HTTP call (providers, remote embedders, alert webhooks).

    Proxies come from the environment (``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``,
    ``NO_PROXY``); TLS is verified against certifi's CAs (or ``SSL_CERT_FILE`` /
    ``SSL_CERT_DIR``), plus ``ca_bundle`` when set.
    """

    #: The HTTP/1.1 implementation under httpx: aiohttp's (through httpx-aiohttp, the
    #: default: its C parser costs the gateway far less at 50 streams, see the README's
    #: gateway figures) or httpx's own (httpcore + h11). Both honour proxies, TLS and
    #: the limits below.
    transport: Literal["httpx", "aiohttp"] = "aiohttp"
    #: A PEM file of extra CA certificates to trust, e.g. a company's TLS-inspecting
    #: proxy's root; added to the default CAs, not instead of them.
    ca_bundle: str | None = None
    #: Connections open at once, to all hosts together (kept-alive ones included).
    max_connections: int = Field(100, ge=1, le=10_000)
    #: Seconds an idle kept-alive connection stays open for reuse.
    keepalive_expiry_seconds: float = Field(30.0, ge=0)
    #: Seconds a request waits for a free connection when all are in use.
    pool_timeout_seconds: float = Field(30.0, gt=0)

    @field_validator("ca_bundle")
    @classmethod
    def _ca_bundle(cls, v: str | None) -> str | None:
        if v is not None:
            load_ca_bundle(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), v)
        return v


class ProviderConfig(_Section):
    kind: ProviderKind
    base_url: str | None = None
    api_key_env: str | None = None
    timeout_seconds: float = Field(60.0, gt=0)
    connect_timeout_seconds: float = Field(10.0, gt=0)
    # Simulator only: 1.0 is realistic per-tier latency, 0 answers instantly.
    latency_scale: float = Field(1.0, ge=0)
    # Resilience: retries with full-jitter backoff, bounded in count and time, and a
    # circuit breaker per provider and model.
    max_attempts: int = Field(4, ge=1, le=20)
    max_retry_seconds: float = Field(60.0, ge=0)
    retry_base_delay_seconds: float = Field(0.5, ge=0)
    breaker_failure_threshold: int = Field(5, ge=1)
    breaker_cooldown_seconds: float = Field(30.0, ge=0)
    # OpenAI and OpenAI-compatible: send ``prompt_cache_key`` (see [prompt_cache]); turn
    # it off for a compatible server that refuses fields it does not know.
    prompt_cache_key: bool = True

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError(f"expected an http:// or https:// URL, got {v!r}")
        return v.rstrip("/") if v else v


def _default_providers() -> dict[str, ProviderConfig]:
    return {"simulator": ProviderConfig(kind="simulator")}


class StorageConfig(_Section):
    """Where the ledger, budgets, conversations, feedback, the semantic cache and the
    gateway keys live: SQLite files in the data folder (no ``url``, the default) or a
    shared PostgreSQL database (``url = "postgresql://user@host:port/db"``, team mode).
    ``CENTWISE_DATABASE_URL`` overrides ``url``. The password is never written here: it
    comes from the OS keyring (``centwise keys set database``) or libpq's own sources
    (``PGPASSWORD``, ``~/.pgpass``)."""

    url: str | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is None or v == "":
            return None
        if not v.startswith(("postgresql://", "postgres://")):
            raise ValueError(f"expected a postgresql:// URL, got {v.split('://')[0]!r}")
        from urllib.parse import urlsplit

        if urlsplit(v).password:
            raise ValueError(
                "the URL holds a password; keep it in the OS keyring "
                "(centwise keys set database) or ~/.pgpass, never in the config file"
            )
        return v


class TeamConfig(_Section):
    """Who is spending: ``member`` is recorded with every request (default: the OS
    user name). ``member_daily_usd`` / ``member_monthly_usd`` hold each member to a hard
    limit of their own, beside the team's ``[budget]``."""

    member: str | None = None
    member_daily_usd: Decimal | None = Field(None, ge=0)
    member_monthly_usd: Decimal | None = Field(None, ge=0)

    @property
    def member_name(self) -> str:
        import getpass

        if self.member:
            return self.member
        try:
            return getpass.getuser()
        except (KeyError, OSError):  # no name for this uid (containers)
            return "unknown"


class CentwiseConfig(_Section):
    """The whole configuration. Build it with :func:`load_config` or :func:`parse_config`."""

    schema_version: int = SCHEMA_VERSION
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    cache: CacheConfig = Field(default_factory=CacheConfig)
    routing: RoutingConfig = Field(default_factory=RoutingConfig)
    context: ContextConfig = Field(default_factory=ContextConfig)
    prompt_cache: PromptCacheConfig = Field(default_factory=PromptCacheConfig)
    observability: ObservabilityConfig = Field(default_factory=ObservabilityConfig)
    gateway: GatewayConfig = Field(default_factory=GatewayConfig)
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    team: TeamConfig = Field(default_factory=TeamConfig)
    providers: dict[str, ProviderConfig] = Field(default_factory=_default_providers)
    prices: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @field_validator("providers", mode="before")
    @classmethod
    def _merge_default_providers(cls, v: Any) -> Any:
        if isinstance(v, dict) and "simulator" not in v:
            return {"simulator": {"kind": "simulator"}, **v}
        return v

    @model_validator(mode="after")
    def _tiers_name_known_providers(self) -> CentwiseConfig:
        for i, tier in enumerate(self.routing.tiers):
            for name in [tier.provider, *(f.provider for f in tier.fallbacks)]:
                if name not in self.providers:
                    known = ", ".join(sorted(self.providers))
                    raise ValueError(
                        f"routing.tiers[{i}] ({tier.id}): provider {name!r} is not defined "
                        f"under [providers]; known: {known}"
                    )
        verify = self.cache.verify_tier
        if verify is not None and self.tier(verify) is None:
            known = ", ".join(t.id for t in self.routing.tiers)
            raise ValueError(f"cache.verify_tier: no tier {verify!r}; tiers: {known}")
        return self

    def tier(self, tier_id: str) -> TierConfig | None:
        return next((t for t in self.routing.tiers if t.id == tier_id), None)


def _migrate(data: dict[str, Any], source: str) -> dict[str, Any]:
    """Bring an older schema up to :data:`SCHEMA_VERSION` (none older than 1 exists yet)."""
    version = data.get("schema_version", SCHEMA_VERSION)
    if not isinstance(version, int) or isinstance(version, bool):
        raise ConfigError(f"{source}: schema_version: expected an integer, got {version!r}")
    if version > SCHEMA_VERSION:
        raise ConfigError(
            f"{source}: schema_version {version} is newer than this Centwise understands "
            f"({SCHEMA_VERSION}); upgrade Centwise"
        )
    if version < 1:
        raise ConfigError(f"{source}: schema_version: expected 1 or more, got {version}")
    data["schema_version"] = SCHEMA_VERSION
    return data


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _explain(err: ValidationError, source: str) -> ConfigError:
    lines = []
    for e in err.errors():
        key = _loc(tuple(p for p in e["loc"] if p not in ("function-after", "function-before")))
        if e["type"] == "extra_forbidden":
            lines.append(f"{source}: {key}: unknown key")
        elif e["type"] == "missing":
            lines.append(f"{source}: {key}: required key is missing")
        else:
            msg = e["msg"].removeprefix("Value error, ")
            got = e.get("input")
            shown = "" if isinstance(got, dict | list) else f" (got {got!r})"
            lines.append(f"{source}: {key}: {msg}{shown}")
    return ConfigError("invalid configuration:\n  " + "\n  ".join(lines))


def parse_config(text: str, source: str = "<config>") -> CentwiseConfig:
    """Parse TOML text into a validated config; errors name ``source`` and the key."""
    try:
        data = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{source}: not valid TOML: {e}") from None
    data = _migrate(data, source)
    try:
        return CentwiseConfig.model_validate(data)
    except ValidationError as e:
        raise _explain(e, source) from None


def load_config(path: Path | None) -> CentwiseConfig:
    """Load ``path``; ``None`` (or a missing default file) gives the built-in defaults."""
    if path is None:
        return CentwiseConfig()
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read config: {e.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text (bad byte at offset {e.start})") from None
    return parse_config(text, str(path))


def default_config_path() -> Path:
    """The platform's user config file, e.g. ``~/.config/centwise/config.toml``."""
    import platformdirs

    return Path(platformdirs.user_config_dir("centwise", appauthor=False)) / "config.toml"


def config_from_env(explicit: str | None) -> Path | None:
    """The config path from ``--config``, then ``CENTWISE_CONFIG``, then the user config
    file if it exists; None means the built-in defaults."""
    value = explicit or os.environ.get("CENTWISE_CONFIG")
    if value:
        return Path(value).expanduser()
    default = default_config_path()
    return default if default.exists() else None


__all__ += ["config_from_env", "default_config_path"]
