"""A long agent-like conversation through the engine to the caching loopback servers:
the workload of the prompt-cache tests and of ``bench_prompt_cache.py``.

The engine's clock and the servers' are one :class:`FakeClock`, so a TTL passes
without sleeping; every figure comes from what the servers measured and reported.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from core.accounting.prices import cost_of
from core.config import NetworkConfig, parse_config
from core.engine import Engine
from core.providers.client import make_client
from core.types import Message, RequestRecord, Secret, Tool, Usage
from tests.integration.servers.prompt_cache import FakeClock

__all__ = [
    "MODELS",
    "Injection",
    "Run",
    "caching_engine",
    "config_text",
    "input_cost",
    "run_conversation",
    "system_prompt",
    "tool_list",
]

#: The model each emulated provider is asked for.
MODELS = {"anthropic": "claude-sonnet-4-5", "openai": "gpt-4.1", "gemini": "gemini-2.5-flash"}
_EPOCH = 1_800_000_000.0  # the engine's wall clock at the servers' time zero


def system_prompt(tokens: int = 3000) -> str:
    """A support agent's system prompt of about ``tokens`` tokens (cl100k)."""
    rules = []
    i = 0
    while len(" ".join(rules)) < tokens * 4.4:
        rules.append(
            f"Policy {i}: orders in region {i % 9} with status code {i % 13} are refunded "
            f"within {3 + i % 5} days; escalate disputes over {100 + i * 7} dollars."
        )
        i += 1
    return "You are the support agent of an online shop. Follow every policy.\n" + "\n".join(rules)


def tool_list() -> list[Tool]:
    """Five tools with JSON Schema arguments."""
    names = ("lookup_order", "refund_order", "track_parcel", "find_customer", "open_ticket")
    return [
        Tool(
            name,
            f"{name.replace('_', ' ').capitalize()} by its identifier and return the record.",
            {
                "type": "object",
                "properties": {
                    "id": {"type": "string", "description": "the identifier"},
                    "reason": {"type": "string", "description": "why, in a few words"},
                },
                "required": ["id"],
            },
        )
        for name in names
    ]


def config_text(kind: str, base_url: str, extra: str = "", provider: str = "") -> str:
    """A config whose one tier is ``kind`` at ``base_url`` (cache and sampling off);
    ``provider``: more lines for its ``[providers.p]``."""
    model = MODELS["openai" if kind == "openai-compatible" else kind]
    return f"""
[cache]
enabled = false
[observability]
quality_sampling_rate = 0
[providers.p]
kind = "{kind}"
base_url = "{base_url}"
max_attempts = 1
{provider}
[[routing.tiers]]
id = "only"
provider = "p"
model = "{model}"
max_complexity = 10
{extra}
"""


def caching_engine(
    kind: str, base_url: str, data_dir: Path, clock: FakeClock, extra: str = "", provider: str = ""
) -> Engine:
    """An engine whose one tier is ``kind`` at ``base_url``, on ``clock``."""
    return Engine.open(
        parse_config(config_text(kind, base_url, extra, provider), "bench.toml"),
        data_dir,
        clock=lambda: _EPOCH + clock(),
        key_lookup=lambda name: Secret("test-key"),
        client_factory=lambda: make_client(NetworkConfig(), trust_env=False),
        warm_tokenizer=False,
    )


@dataclass(frozen=True, slots=True)
class Injection:
    """A prefix change made at turn ``turn`` (and, for a timestamp, every turn after)."""

    turn: int
    what: str  # "system_edit" | "tools_reordered" | "timestamp"


@dataclass
class Run:
    records: list[RequestRecord] = field(default_factory=list)

    def input_usd(self, engine: Engine) -> Decimal:
        return sum((input_cost(engine, r) for r in self.records), Decimal(0))

    def uncached_input_usd(self, engine: Engine) -> Decimal:
        out = Decimal(0)
        for r in self.records:
            price = engine.services.price_for(r.provider or "", r.model or "")
            assert price is not None and price.input_cost_per_token is not None
            out += r.usage.input_tokens * price.input_cost_per_token
        return out


def input_cost(engine: Engine, rec: RequestRecord) -> Decimal:
    """What the request's input cost, as the provider reported it (cached reads and
    writes at their own rates)."""
    price = engine.services.price_for(rec.provider or "", rec.model or "")
    assert price is not None
    u = rec.usage
    usage = Usage(
        u.input_tokens, 0, u.cached_input_tokens, u.cache_write_tokens, 0, u.cache_write_1h_tokens
    )
    cost = cost_of(usage, price)
    assert cost is not None
    return cost


async def run_conversation(
    engine: Engine,
    clock: FakeClock,
    turns: int,
    *,
    system: str,
    tools: Sequence[Tool],
    injections: Sequence[Injection] = (),
    gap_seconds: float = 20.0,
    client: str | None = None,
    on_turn: Callable[[int, RequestRecord], None] | None = None,
) -> Run:
    """``turns`` user turns of one conversation, each sending the whole history (as a
    gateway client does), ``gap_seconds`` apart on ``clock``."""
    run = Run()
    history: list[Message] = []
    current_system, current_tools = system, list(tools)
    for turn in range(turns):
        for inj in injections:
            if inj.turn == turn and inj.what == "system_edit":
                current_system = current_system.replace("Policy 40:", "Policy 40 (updated):")
            elif inj.turn == turn and inj.what == "tools_reordered":
                current_tools = current_tools[1:] + current_tools[:1]
        sent_system = current_system
        stamp = next((i for i in injections if i.what == "timestamp" and i.turn <= turn), None)
        if stamp is not None:
            sent_system = f"Current time: 2026-12-03 10:{turn:02d}:00.\n" + current_system
        prompt = f"Turn {turn}: the customer asks about order {1000 + turn}; what now?"
        rec = await engine.ask(
            prompt, system=sent_system, history=history, tools=current_tools, client=client
        ).collect()
        assert rec.status == "ok", rec.error
        run.records.append(rec)
        if on_turn is not None:
            on_turn(turn, rec)
        history += [Message("user", prompt), Message("assistant", rec.response or "noted")]
        clock.advance(gap_seconds)
    return run
