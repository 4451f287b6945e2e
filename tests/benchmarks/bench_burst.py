"""A burst under a hard daily budget: learned against worst-case reservations.

    python -m tests.benchmarks.bench_burst [--requests 200] [--budget-share 0.5]

The same burst of concurrent requests (varied real-language prompts, premium and
balanced tiers, on the Simulator, whose answers are the lengths its tiers really give;
at a twentieth of its real pace by default, so the whole burst is in flight at once) is first run with no budget to learn what it costs. Then, for each
reservation mode, a fresh data folder gets yesterday's history (the same kind of
prompts, so the learned lengths have something to start from; it costs nothing
today) and the burst runs under a hard daily budget of ``--budget-share`` of its
real cost. Reported: requests admitted and refused, answers the budget cap cut short,
and the spend against the budget (which must never be exceeded).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from core.accounting import budget as budget_rule
from core.config import parse_config
from core.engine import Engine
from core.errors import BudgetExceededError
from core.money import format_usd
from tests.benchmarks.sentences import sentences

BASE = """
[cache]
enabled = false
[observability]
quality_sampling_rate = 0
[providers.simulator]
kind = "simulator"
"""


@dataclass(frozen=True, slots=True)
class Outcome:
    admitted: int
    refused: int
    cut_short: int
    capped: int
    spent: Decimal


def _config(budget: str = "", latency: float = 0) -> str:
    text = BASE + f"latency_scale = {latency}\n"
    return text + ("[budget]\n" + budget + "\n" if budget else "")


async def burst(engine: Engine, prompts: list[str]) -> Outcome:
    """All of ``prompts`` at once; premium for even ones, balanced for odd ones."""

    async def one(i: int, prompt: str) -> tuple[bool, bool, bool, Decimal]:
        try:
            rec = await engine.ask(prompt, model="premium" if i % 2 == 0 else "balanced").collect()
        except BudgetExceededError:
            return False, False, False, Decimal(0)
        cut = any("the budget cap cut the answer short" in w for w in rec.warnings)
        capped = any(w.startswith("max_tokens capped") for w in rec.warnings)
        return True, cut, capped, rec.cost_usd or Decimal(0)

    results = await asyncio.gather(*(one(i, p) for i, p in enumerate(prompts)))
    admitted = sum(r[0] for r in results)
    return Outcome(
        admitted=admitted,
        refused=len(prompts) - admitted,
        cut_short=sum(r[1] for r in results),
        capped=sum(r[2] for r in results),
        spent=sum((r[3] for r in results), Decimal(0)),
    )


async def history(data: Path, prompts: list[str]) -> None:
    """Yesterday's requests, so the learned lengths are warm and today costs nothing."""
    engine = Engine.open(parse_config(_config("")), data, clock=lambda: time.time() - 86400)
    for i, p in enumerate(prompts):
        await engine.ask(p, model="premium" if i % 2 == 0 else "balanced").collect()
    await engine.aclose()


async def run(
    n: int, share: float, warm: int, latency: float
) -> tuple[Decimal, Decimal, dict[str, Outcome]]:
    texts = sentences(n + warm, seed=20)
    prompts, past = texts[:n], texts[n:]
    with tempfile.TemporaryDirectory() as tmp:
        free = Engine.open(parse_config(_config("")), Path(tmp) / "free")
        real = (await burst(free, prompts)).spent
        await free.aclose()
        budget = (real * Decimal(str(share))).quantize(Decimal("0.000001"))
        out: dict[str, Outcome] = {}
        for mode in ("worst_case", "learned"):
            data = Path(tmp) / mode
            await history(data, past)
            cfg = _config(f'daily_usd = {budget}\nreservation = "{mode}"', latency)
            engine = Engine.open(parse_config(cfg), data)
            out[mode] = await burst(engine, prompts)
            day = engine.ledger.period_spend(engine.services.clock())
            assert day.day_spent_pusd <= int(budget * 10**12), "the budget was overshot"
            await engine.aclose()
    return real, budget, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--budget-share", type=float, default=0.5)
    parser.add_argument("--history", type=int, default=200, help="yesterday's requests")
    parser.add_argument(
        "--latency-scale",
        type=float,
        default=0.05,
        help="the Simulator's latency (1 = real pace); above 0 every request of the"
        " burst is in flight, and holding money, at once",
    )
    parser.add_argument(
        "--plentiful",
        type=int,
        default=budget_rule.PLENTIFUL,
        help="money counts as plentiful (the worst case is held, uncapped) while at least"
        " this many worst cases are left; to explore the rule's threshold",
    )
    args = parser.parse_args()
    budget_rule.PLENTIFUL = args.plentiful
    real, budget, out = asyncio.run(
        run(args.requests, args.budget_share, args.history, args.latency_scale)
    )
    print(
        f"burst of {args.requests} concurrent requests; its real cost {format_usd(real)};"
        f" hard daily budget {format_usd(budget)} ({args.budget_share:.0%});"
        f" plentiful at {args.plentiful} worst cases\n"
    )
    print("| reservation | admitted | refused | capped | cut short | spent | of budget |")
    print("|---|---|---|---|---|---|---|")
    for mode, o in out.items():
        print(
            f"| {mode} | {o.admitted} | {o.refused} | {o.capped} | {o.cut_short} |"
            f" {format_usd(o.spent)} | {o.spent / budget:.1%} |"
        )


if __name__ == "__main__":
    main()
