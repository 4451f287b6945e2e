"""Provider prompt caching, measured against loopback servers that emulate each
provider's caching rule (tests/integration/servers/prompt_cache).

1. **Savings**: a 30-turn conversation with a ~3,000-token system prompt and five tools
   on each emulated provider (Anthropic, OpenAI, Gemini), with ``[prompt_cache] mode``
   auto and off: the input cost as the servers reported it, against the same tokens
   uncached.
2. **Break detector**: the same conversation with changes injected (the system prompt
   edited at turn 10, the tool list reordered at turn 18, a timestamp put at the top of
   the system prompt from turn 24 on): which turns the detector flags, with which
   cause and where, against where the changes were made.
3. **Context trade-off**: a stored conversation of 40 turns with a 10-message window,
   sliding one message at a time against moving in steps of five: tokens trimmed
   against cached tokens lost.

Run: ``python -m tests.benchmarks.bench_prompt_cache [--turns 30] [--json] [--keep DIR]``
(``--keep``: each run's data dir stays in DIR, for ``centwise cache provider-report``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from decimal import Decimal
from pathlib import Path

from core.money import usd_str
from tests.integration.prompt_cache_support import (
    Injection,
    caching_engine,
    run_conversation,
    system_prompt,
    tool_list,
)
from tests.integration.servers.prompt_cache import FakeClock, caching_servers

KINDS = ("anthropic", "openai", "gemini")
INJECTIONS = (
    Injection(10, "system_edit"),
    Injection(18, "tools_reordered"),
    Injection(24, "timestamp"),
)


async def savings(turns: int, root: Path) -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {}
    for kind in KINDS:
        row: dict[str, object] = {}
        for mode in ("auto", "off"):
            clock = FakeClock()
            with caching_servers(clock=clock) as servers:
                engine = caching_engine(
                    kind,
                    servers.server(kind).base_url,
                    root / f"{kind}-{mode}",
                    clock,
                    f'[prompt_cache]\nmode = "{mode}"\n',
                )
                try:
                    run = await run_conversation(
                        engine, clock, turns, system=system_prompt(), tools=tool_list()
                    )
                    totals = servers.totals(kind)
                    row[mode] = {
                        "input_usd": run.input_usd(engine),
                        "uncached_usd": run.uncached_input_usd(engine),
                        "prompt_tokens": totals.prompt_tokens,
                        "read_tokens": totals.read_tokens,
                        "write_tokens": totals.write_tokens,
                        "expected_tokens": sum(
                            int(str(r.prompt_cache.get("expected_cached_tokens", 0)))
                            for r in run.records
                        ),
                    }
                finally:
                    await engine.aclose()
        auto, off = row["auto"], row["off"]
        assert isinstance(auto, dict) and isinstance(off, dict)
        row["reduction_vs_off"] = 1 - auto["input_usd"] / off["input_usd"]
        row["reduction_vs_uncached"] = 1 - auto["input_usd"] / auto["uncached_usd"]
        out[kind] = row
    return out


def _expected(turn: int) -> tuple[str, str, int] | None:
    """The cause, part and index the detector should report at ``turn``."""
    if turn == 10 or turn >= 24:
        return ("system_changed", "messages", 0)
    if turn == 18:
        return ("tools_changed", "tools", 0)
    return None


async def detector(turns: int, root: Path) -> dict[str, object]:
    out: dict[str, object] = {}
    for kind in KINDS:
        clock = FakeClock()
        with caching_servers(clock=clock) as servers:
            engine = caching_engine(
                kind, servers.server(kind).base_url, root / f"det-{kind}", clock
            )
            try:
                run = await run_conversation(
                    engine,
                    clock,
                    turns,
                    system=system_prompt(),
                    tools=tool_list(),
                    injections=INJECTIONS,
                    client="shop-bot",
                )
            finally:
                await engine.aclose()
        found, missed, wrong, false = [], [], [], []
        for turn, rec in enumerate(run.records):
            want = _expected(turn)
            cause = rec.prompt_cache_break
            where = rec.prompt_cache.get("divergence") or {}
            got = (cause, where.get("part"), where.get("index")) if cause else None
            if want is None and cause in ("system_changed", "tools_changed", "history_changed"):
                false.append((turn, got))
            elif want is not None and got is None:
                missed.append(turn)
            elif want is not None and got != want:
                wrong.append((turn, got, want))
            elif want is not None:
                found.append(
                    {
                        "turn": turn,
                        "cause": cause,
                        "where": f"{where.get('part')}[{where.get('index')}]",
                        "offset": where.get("offset"),
                        "lost_usd": usd_str(rec.prompt_cache_lost_usd),
                    }
                )
        injected = sum(_expected(t) is not None for t in range(turns))
        out[kind] = {
            "injected": injected,
            "found": len(found),
            "missed": missed,
            "wrong": wrong,
            "false_alarms": false,
            "examples": found[:3],
        }
    return out


async def trade_off(root: Path) -> dict[str, object]:
    out: dict[str, object] = {}
    for step in (1, 5):
        clock = FakeClock()
        with caching_servers(clock=clock) as servers:
            extra = (
                f"[context]\nmax_history_messages = 10\nwindow_step = {step}\nsummarize = false\n"
            )
            engine = caching_engine(
                "anthropic",
                servers.server("anthropic").base_url,
                root / f"ctx-{step}",
                clock,
                extra,
            )
            try:
                cid = engine.start_conversation(system=system_prompt())
                for turn in range(40):
                    rec = await engine.ask(
                        f"Turn {turn}: order {2000 + turn} again, please explain in detail.",
                        conversation_id=cid,
                    ).collect()
                    assert rec.status == "ok", rec.error
                    clock.advance(20)
                report = engine.provider_cache_report()
                (conv,) = report.conversations
                out[f"step {step}"] = {
                    "tokens_trimmed": conv.tokens_trimmed,
                    "trim_saved_usd": usd_str(conv.trim_saved_usd),
                    "context_breaks": conv.context_breaks,
                    "cached_tokens_lost": conv.cached_tokens_lost,
                    "lost_usd": usd_str(conv.lost_usd),
                    "cached_tokens": conv.cached_tokens,
                    "cost_usd": usd_str(
                        sum(
                            (
                                r.cost_usd or Decimal(0)
                                for r in engine.history(0, 100)
                                if r.conversation_id == cid
                            ),
                            Decimal(0),
                        )
                    ),
                }
            finally:
                await engine.aclose()
    return out


def _plain(value: object) -> object:
    if isinstance(value, Decimal):
        return usd_str(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=30)
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--keep", metavar="DIR", help="keep the runs' data dirs here (e.g. for the CLI report)"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.keep) if args.keep else Path(tmp)
        result = {
            "savings": await savings(args.turns, root),
            "detector": await detector(args.turns, root),
            "context": await trade_off(root),
        }
    if args.json:
        print(json.dumps(_plain(result), indent=2))
        return 0
    print(f"Savings over {args.turns} turns (~3,000-token system prompt, 5 tools):")
    for kind, row in result["savings"].items():
        auto, off = row["auto"], row["off"]
        print(
            f"  {kind:<9} input auto ${usd_str(auto['input_usd'])} vs off ${usd_str(off['input_usd'])}"
            f" ({row['reduction_vs_off']:.1%} lower; {row['reduction_vs_uncached']:.1%} below"
            f" uncached); server read {auto['read_tokens']:,} of {auto['prompt_tokens']:,}"
            f" prompt tokens, wrote {auto['write_tokens']:,}; we expected"
            f" {auto['expected_tokens']:,}"
        )
    print("Break detector (system edit at 10, tools reordered at 18, timestamp from 24):")
    for kind, row in result["detector"].items():
        print(
            f"  {kind:<9} {row['found']}/{row['injected']} found with the right cause and"
            f" index; missed {row['missed']}, wrong {row['wrong']},"
            f" false alarms {row['false_alarms']}"
        )
    print("Context window (40 turns, 10 messages, Anthropic):")
    for name, row in result["context"].items():
        print(f"  {name}: {row}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
