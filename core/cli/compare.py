"""``centwise compare``: one prompt, several tiers or models, side by side."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from core.cli.common import EXIT_OK, open_engine, print_json, read_text_file
from core.errors import InputError
from core.money import format_usd
from core.quality.compare import CompareEntry, CompareReport, compare_to_json

__all__ = ["register"]


def register(sub: Any) -> None:
    p = sub.add_parser("compare", help="send one prompt to several tiers or models at once")
    p.add_argument("prompt", help="the prompt ('-' reads stdin)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--tiers", metavar="A,B,C", help="tier ids (default: every tier)")
    which.add_argument("--models", metavar="A,B,C", help="tier models or PROVIDER/MODEL names")
    p.add_argument("--system", help="a system prompt")
    p.add_argument(
        "--judge",
        nargs="?",
        const=True,
        default=False,
        metavar="TIER",
        help="score each answer and name a winner (default judge: [routing] judge_tier)",
    )
    p.add_argument("--cache", action="store_true", help="allow answers from the cache")
    p.add_argument("--max-output-tokens", type=int, metavar="N")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=run)


def targets_from(args: argparse.Namespace, tier_ids: list[str]) -> list[str]:
    raw = args.tiers or args.models
    if raw is None:
        return tier_ids
    names = [n.strip() for n in raw.split(",") if n.strip()]
    if not names:
        raise InputError("--tiers/--models: give names separated by commas")
    return names


def run(args: argparse.Namespace) -> int:
    prompt = read_text_file("-", "stdin") if args.prompt == "-" else args.prompt
    return asyncio.run(_run(args, prompt))


async def _run(args: argparse.Namespace, prompt: str) -> int:
    engine = open_engine(args)
    try:
        targets = targets_from(args, [t.id for t in engine.config.routing.tiers])
        report = await engine.compare(
            prompt,
            targets,
            system=args.system,
            judge=args.judge,
            use_cache=args.cache,
            max_output_tokens=args.max_output_tokens,
        )
    finally:
        await engine.aclose()
    if args.json:
        print_json(compare_to_json(report))
    else:
        print(render(report))
    return EXIT_OK


def _header(e: CompareEntry) -> str:
    parts = [e.target, f"{e.provider}/{e.model}", e.status]
    if e.latency_ms is not None:
        parts.append(f"{e.latency_ms:.0f} ms")
    if e.ttft_ms is not None:
        parts.append(f"first token {e.ttft_ms:.0f} ms")
    parts.append(f"{e.input_tokens} in / {e.output_tokens} out")
    parts.append(format_usd(e.cost_usd))
    if e.cache_outcome != "miss":
        parts.append(f"cache {e.cache_outcome}")
    if e.simulated:
        parts.append("simulated")
    if e.verdict is not None:
        score = "unscored" if e.verdict.score is None else f"{e.verdict.score:g}/10"
        parts.append(f"judge {score}")
    return "── " + " · ".join(parts)


def render(report: CompareReport) -> str:
    """The side-by-side report as text, one block per target."""
    blocks = []
    for e in report.entries:
        body = e.text if e.status == "ok" else f"(failed: {e.error})"
        reason = f"\n   judge: {e.verdict.reason}" if e.verdict else ""
        blocks.append(f"{_header(e)}{reason}\n{body}\n")
    if report.judge_tier is not None:
        blocks.append(
            f"winner: {report.winner or 'none (no answer was scored)'}"
            f" · judged by {report.judge_tier} for {format_usd(report.judge_cost_usd)}"
        )
    return "\n".join(blocks)
