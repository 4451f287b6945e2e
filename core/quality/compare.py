"""Side by side: one prompt sent to several tiers or models at once.

Each answer goes through the whole pipeline (budgets apply; the cache only when asked)
as an explicit choice, so the ledger says ``explicit`` and the purpose is the user's.
With a judge, every answer gets a score and the best one wins; a tie goes to the
cheaper answer. The GUI's side-by-side view is built on :func:`compare`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from core.errors import CentwiseError, InputError
from core.money import usd_str
from core.quality.judge import Judge, Verdict

if TYPE_CHECKING:
    from core.quality.protocol import Asker

__all__ = [
    "CompareEntry",
    "CompareReport",
    "compare",
    "compare_to_json",
    "winner_index",
]


@dataclass(frozen=True, slots=True)
class CompareEntry:
    """One target's answer with its latency, first-token time, tokens and cost."""

    target: str
    request_id: str
    tier: str | None
    provider: str | None
    model: str | None
    text: str
    status: str
    error: str | None
    latency_ms: float | None
    ttft_ms: float | None
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal | None
    cache_outcome: str
    simulated: bool
    verdict: Verdict | None = None


@dataclass(frozen=True, slots=True)
class CompareReport:
    prompt: str
    entries: list[CompareEntry]
    judge_tier: str | None
    winner: str | None  # the winning target, when judged

    @property
    def judge_cost_usd(self) -> Decimal:
        return sum((e.verdict.cost_usd for e in self.entries if e.verdict), Decimal(0))


async def compare(
    engine: Asker,
    prompt: str,
    targets: Sequence[str],
    *,
    system: str | None = None,
    judge_tier: str | None = None,
    use_cache: bool = False,
    max_output_tokens: int | None = None,
) -> CompareReport:
    """Ask every target (tier id, tier model or ``provider/model``) concurrently."""
    if not targets:
        raise InputError("nothing to compare: name at least one tier or model")
    if len(set(targets)) != len(targets):
        raise InputError("each tier or model may be named once")
    for target in targets:
        engine.explain_route(prompt, model=target)  # unknown names fail before any call
    entries = await asyncio.gather(
        *(_one(engine, prompt, t, system, use_cache, max_output_tokens) for t in targets)
    )
    judged = list(entries)
    if judge_tier is not None:
        judge = Judge(engine.ask, judge_tier)
        verdicts = await asyncio.gather(
            *(judge.grade(prompt, e.text) if e.status == "ok" else _no_verdict() for e in entries)
        )
        judged = [_with_verdict(e, v) for e, v in zip(entries, verdicts, strict=True)]
    return CompareReport(prompt, judged, judge_tier, _winner(judged))


async def _no_verdict() -> Verdict | None:
    return None


def _with_verdict(entry: CompareEntry, verdict: Verdict | None) -> CompareEntry:
    return replace(entry, verdict=verdict)


def winner_index(scored: Sequence[tuple[float | None, Decimal | None]]) -> int | None:
    """Which of ``(score, cost)`` wins: the best score, a tie to the cheaper answer (then
    the first). None when nothing was scored. The GUI's compare view uses this too."""
    ranked = [
        (score, -(cost or Decimal(0)), -i)
        for i, (score, cost) in enumerate(scored)
        if score is not None
    ]
    return -max(ranked)[2] if ranked else None


def _winner(entries: list[CompareEntry]) -> str | None:
    i = winner_index([(e.verdict.score if e.verdict else None, e.cost_usd) for e in entries])
    return entries[i].target if i is not None else None


async def _one(
    engine: Asker,
    prompt: str,
    target: str,
    system: str | None,
    use_cache: bool,
    max_output_tokens: int | None,
) -> CompareEntry:
    reply = engine.ask(
        prompt,
        system=system,
        model=target,
        use_cache=use_cache,
        max_output_tokens=max_output_tokens,
    )
    with contextlib.suppress(CentwiseError):  # the record says what went wrong
        await reply.collect()
    r = reply.record
    assert r is not None
    return CompareEntry(
        target, r.request_id, r.tier, r.provider, r.model, r.response, r.status, r.error,
        r.latency_ms, r.ttft_ms, r.usage.input_tokens, r.usage.output_tokens,
        r.cost_usd if r.cost_known else None, r.cache_outcome, r.simulated,
    )  # fmt: skip


def compare_to_json(report: CompareReport) -> dict[str, Any]:
    """JSON-ready data (money as exact decimal strings)."""
    return {
        "prompt": report.prompt,
        "judge_tier": report.judge_tier,
        "winner": report.winner,
        "judge_cost_usd": usd_str(report.judge_cost_usd),
        "entries": [
            {
                "target": e.target,
                "request_id": e.request_id,
                "tier": e.tier,
                "provider": e.provider,
                "model": e.model,
                "status": e.status,
                "error": e.error,
                "latency_ms": e.latency_ms,
                "ttft_ms": e.ttft_ms,
                "input_tokens": e.input_tokens,
                "output_tokens": e.output_tokens,
                "cost_usd": usd_str(e.cost_usd),
                "cache_outcome": e.cache_outcome,
                "simulated": e.simulated,
                "judge_score": e.verdict.score if e.verdict else None,
                "judge_reason": e.verdict.reason if e.verdict else None,
                "text": e.text,
            }
            for e in report.entries
        ],
    }
