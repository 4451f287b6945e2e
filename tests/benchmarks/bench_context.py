"""Context management of a 200-message stored conversation, without summary calls.

    python tests/benchmarks/bench_context.py [--runs 300] [--messages 200]

What is timed is the two context stages around a routing stub: loading the
conversation from the ledger's database, stripping metadata, ranking and windowing
the history, counting the tokens before and after with the model's tokenizer, fitting
the history to the model's window, and pricing what was saved. "cold" counts every
message afresh (a new engine's first turn); "warm" reuses the per-message counts (every
later turn). "summary reused" has a stored summary covering the older turns.
Summarisation calls are not part of it (they go to a provider).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

from core.config import parse_config
from core.context.conversations import StoredSummary
from core.context.window import MessageTokens
from core.engine import Engine
from core.pipeline.request import Next, RequestContext, compose, new_request_id
from core.pipeline.stages.context import ContextStage
from core.pipeline.stages.fit import ContextFitStage
from core.types import Message

CONFIG = """
[cache]
enabled = false
[providers.simulator]
kind = "simulator"
latency_scale = 0
[context]
max_history_messages = 20
summarize = {summarize}
summarize_after_tokens = 4000
"""
TOPICS = ("indexes", "vacuum", "checkpoints", "replication", "partitions", "locks")


def conversation(n: int) -> list[Message]:
    out = []
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        role = "user" if i % 2 == 0 else "assistant"
        text = (
            f"Turn {i}: a question or answer about postgres {topic}, with enough words to be"
            f" a realistic chat message; it mentions {topic} settings, trade-offs and an"
            f" example query on table t{i % 17} that the user ran yesterday."
        )
        meta = {"ts": f"2026-01-01T10:{i % 60:02d}:00Z"} if i % 5 == 0 else None
        out.append(Message(role, text, metadata=meta))
    return out


class RouteStub:
    """What the route stage sets, without routing: the model, its price, max_tokens."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def __call__(self, ctx: RequestContext, call_next: Next) -> AsyncIterator[str]:
        ctx.provider_name, ctx.model = "simulator", "gpt-4.1-mini"
        ctx.price = self.engine.services.price_for("simulator", "gpt-4.1-mini")
        ctx.max_tokens = 1024
        async for delta in call_next(ctx):
            yield delta


async def time_turns(engine: Engine, cid: str, runs: int, cold: bool) -> list[float]:
    services = engine.services
    app = compose([ContextStage(services), RouteStub(engine), ContextFitStage(services)])
    times = []
    for i in range(runs):
        if cold:
            services.message_tokens = MessageTokens(services.tokens)
        ctx = RequestContext(
            new_request_id(), f"What about vacuum settings {i}?", 0.0, conversation_id=cid
        )
        t0 = time.perf_counter()
        async for _ in app(ctx):
            pass
        times.append((time.perf_counter() - t0) * 1000)
        assert ctx.context is not None and ctx.context.tokens_after is not None
    return times


async def scenario(n: int, runs: int, *, summary: bool, cold: bool) -> tuple[list[float], int, int]:
    with tempfile.TemporaryDirectory() as tmp:
        config = parse_config(CONFIG.format(summarize=str(summary).lower()))
        engine = Engine.open(config, Path(tmp))
        cid = engine.start_conversation(system="You are a database tutor.")
        store = engine.services.conversations()
        store.append(cid, conversation(n), 0.0)
        if summary:
            text = "The user is tuning postgres; covered indexes, vacuum and locks. " * 8
            store.save_summary(cid, StoredSummary(n - 16, text, None), 0.0)
        await time_turns(engine, cid, 20, cold)  # warm up
        times = await time_turns(engine, cid, runs, cold)
        rec_ctx = RequestContext(new_request_id(), "What about vacuum?", 0.0, conversation_id=cid)
        app = compose(
            [ContextStage(engine.services), RouteStub(engine), ContextFitStage(engine.services)]
        )
        async for _ in app(rec_ctx):
            pass
        state = rec_ctx.context
        assert state is not None and state.tokens_before and state.tokens_after
        await engine.aclose()
        return times, state.tokens_before, state.tokens_after


def report(name: str, times: list[float], before: int, after: int) -> None:
    times.sort()
    p50 = statistics.median(times)
    p95 = times[int(len(times) * 0.95) - 1]
    print(f"{name:<32} p50 {p50:6.2f} ms  p95 {p95:6.2f} ms  max {times[-1]:6.2f} ms"
          f"   tokens {before:,} -> {after:,}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--messages", type=int, default=200)
    args = parser.parse_args()
    print(f"{args.messages}-message conversation, {args.runs} turns each")
    for name, summary, cold in (
        ("window, cold counts", False, True),
        ("window, warm counts", False, False),
        ("summary reused, warm counts", True, False),
    ):
        times, before, after = asyncio.run(
            scenario(args.messages, args.runs, summary=summary, cold=cold)
        )
        report(name, times, before, after)


if __name__ == "__main__":
    main()
