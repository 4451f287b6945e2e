"""``centwise cache``: stats, search, clear, and tuning the threshold on your pairs."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from core.cache.tune import Pair, load_pairs, render_table, report_to_json
from core.cli.common import EXIT_OK, open_engine, parse_date, print_json
from core.errors import InputError
from core.money import format_usd, usd_str

__all__ = ["register"]


def register(sub: Any) -> None:
    p = sub.add_parser("cache", help="the semantic cache")
    csub = p.add_subparsers(dest="cache_command", metavar="ACTION", required=True)
    st = csub.add_parser("stats", help="entries, hits and savings per namespace")
    st.add_argument("--json", action="store_true")
    st.set_defaults(handler=run_stats)
    se = csub.add_parser("search", help="cached prompts most similar to TEXT")
    se.add_argument("text")
    se.add_argument("-k", type=int, default=10)
    se.add_argument("--json", action="store_true")
    se.set_defaults(handler=run_search)
    cl = csub.add_parser("clear", help="remove every cached answer")
    cl.set_defaults(handler=run_clear)
    bad = csub.add_parser("invalidate", help="never serve the answer of REQUEST_ID again")
    bad.add_argument("request_id")
    bad.set_defaults(handler=run_invalidate)
    tu = csub.add_parser("tune", help="hit and false-hit rates by threshold on labelled pairs")
    tu.add_argument("pairs", help='JSONL lines of {"a", "b", "same"}')
    tu.add_argument("--no-guard", action="store_true", help="measure without the guard")
    tu.add_argument("--json", action="store_true")
    tu.set_defaults(handler=run_tune)
    tr = csub.add_parser(
        "train-verifier", help="fit the pair verifier on labelled pairs (the dev split only)"
    )
    tr.add_argument("pairs", nargs="+", help="JSONL pair files; a pair's 'source' groups it")
    tr.add_argument(
        "--source",
        action="append",
        default=None,
        help="only pairs of this source (repeat for several); pairs without a source "
        "key belong to their file's name",
    )
    tr.add_argument("--out", required=True, help="where to write the model (JSON)")
    tr.set_defaults(handler=run_train_verifier)
    pr = csub.add_parser(
        "provider-report",
        help="the providers' prompt caches: hit ratio, savings, breaks by cause and where",
    )
    pr.add_argument("--since", metavar="DATE", help="only requests on or after YYYY-MM-DD")
    pr.add_argument(
        "--what-if",
        action="store_true",
        help="also re-price those requests with caching off, and on with either TTL",
    )
    pr.add_argument("--json", action="store_true")
    pr.set_defaults(handler=run_provider_report)


def run_stats(args: argparse.Namespace) -> int:
    engine = open_engine(args)
    try:
        stats = engine.cache().stats()
        threshold = engine.config.cache.similarity_threshold
    finally:
        engine.close()
    if args.json:
        print_json(
            {
                "entries": stats.entries,
                "hits": stats.hits,
                "saved_usd": usd_str(stats.saved_usd),
                "threshold": threshold,
                "namespaces": [
                    {
                        "namespace": n.namespace,
                        "entries": n.entries,
                        "hits": n.hits,
                        "saved_usd": usd_str(n.saved_usd),
                    }
                    for n in stats.namespaces
                ],
            }
        )
        return EXIT_OK
    print(
        f"{stats.entries} entries, {stats.hits} hits, saved {format_usd(stats.saved_usd)} "
        f"(threshold {threshold})"
    )
    for n in stats.namespaces:
        print(f"  {n.namespace[:16]:<16} {n.entries:>7} entries {n.hits:>7} hits")
    return EXIT_OK


def run_search(args: argparse.Namespace) -> int:
    engine = open_engine(args)
    try:
        results = engine.cache().search(args.text, args.k)
    finally:
        engine.close()
    rows = [
        {
            "similarity": round(r.similarity, 4),
            "prompt": r.entry.prompt,
            "tier": r.entry.tier,
            "model": r.entry.model,
            "hits": r.entry.hits,
            "request_id": r.entry.request_id,
        }
        for r in results
    ]
    if args.json:
        print_json({"query": args.text, "results": rows})
    else:
        for r in results:
            print(f"{r.similarity:.3f}  {r.entry.tier or '-':<9} {r.entry.prompt[:90]}")
    return EXIT_OK


def run_clear(args: argparse.Namespace) -> int:
    engine = open_engine(args)
    try:
        n = engine.cache().clear()
    finally:
        engine.close()
    print(f"removed {n} cached answers")
    return EXIT_OK


def run_invalidate(args: argparse.Namespace) -> int:
    engine = open_engine(args)
    try:
        n = engine.mark_bad(args.request_id)
    finally:
        engine.close()
    print(f"{n} cached answer(s) from {args.request_id} will not be served again")
    return EXIT_OK


def run_tune(args: argparse.Namespace) -> int:
    engine = open_engine(args)
    try:
        report = engine.cache_tune(Path(args.pairs), guard=not args.no_guard)
    finally:
        engine.close()
    if args.json:
        print_json(report_to_json(report))
    else:
        print(render_table(report))
    return EXIT_OK


def _training_pairs(files: list[str], sources: list[str] | None) -> list[Pair]:
    out = []
    for name in files:
        for p in load_pairs(name):
            pair = p if p.source else dataclasses.replace(p, source=Path(name).stem)
            if sources is None or pair.source in sources or Path(name).stem in sources:
                out.append(pair)
    return out


def run_train_verifier(args: argparse.Namespace) -> int:
    from core.cache.minilm import MiniLMEmbedder  # loading the model takes a second
    from core.cache.verifier_training import train

    pairs = _training_pairs(args.pairs, args.source)
    if not pairs:
        raise InputError("no pairs left after the --source filter")
    model = train(pairs, MiniLMEmbedder())
    model.save(Path(args.out))
    same = sum(p.same for p in pairs)
    print(
        f"trained on {len(pairs)} pairs ({same} same) from {len(model.trained_on['sources'])} sources"
    )
    for bound in (0.005, 0.01, 0.02, 0.05):
        point = model.point_for(bound)
        if point is None:
            print(f"  max_error_rate {bound:.1%}: serves nothing")
        else:
            print(
                f"  max_error_rate {bound:.1%}: threshold {point.threshold:.3f}, dev (out of fold)"
                f" hits {point.hit_rate:.1%}, false hits {point.false_hit_rate:.1%}"
            )
    print(f"wrote {args.out}")
    return EXIT_OK


def run_provider_report(args: argparse.Namespace) -> int:
    since = parse_date(args.since)
    engine = open_engine(args)
    try:
        report = engine.provider_cache_report(since)
        whatif = engine.prompt_cache_whatif(since) if args.what_if else None
    finally:
        engine.close()
    if args.json:
        body = report.as_json()
        if whatif is not None:
            body["what_if"] = whatif.as_json()
        print_json(body)
        return EXIT_OK
    scope = f" since {args.since}" if args.since else ""
    if not report.requests:
        print(
            f"No requests to a provider with a prompt cache{scope} (Anthropic, OpenAI,"
            " OpenAI-compatible or Gemini with a cache-read price; the Simulator and"
            " Ollama keep none)."
        )
        return EXIT_OK
    print(
        f"Provider prompt caching{scope}: {report.requests} requests,"
        f" {report.cached_tokens:,} of {report.input_tokens:,} input tokens read from"
        f" cache ({report.hit_ratio:.1%}; {report.expected_tokens:,} expected),"
        f" {report.write_tokens:,} written"
    )
    print(
        f"  saved {format_usd(report.saved_usd)} (net of write premiums),"
        f" lost to breaks and misses {format_usd(report.lost_usd)}"
    )
    print(
        f"  apart from: semantic cache {format_usd(report.semantic_saved_usd)},"
        f" context management {format_usd(report.context_saved_usd)}"
    )
    for m in report.models:
        print(
            f"  {m.provider}/{m.model}: {m.requests} requests, {m.hit_ratio:.1%} cached,"
            f" saved {format_usd(m.saved_usd)}"
        )
    if report.causes:
        print("Misses by cause:")
        for c in report.causes:
            print(
                f"  {c.cause:<16} {c.requests:>5} requests  {c.lost_tokens:>9,} tokens"
                f"  {format_usd(c.lost_usd):>12}  {c.why}"
            )
    if report.conversations:
        print("Conversations (context trimmed vs cached tokens lost):")
        for v in report.conversations[:20]:
            print(
                f"  {v.conversation_id[:16]:<16} {v.requests:>4} requests"
                f"  trimmed {v.tokens_trimmed:,} tokens ({format_usd(v.trim_saved_usd)})"
                f"  cut the cache {v.context_breaks} times, {v.cached_tokens_lost:,} tokens"
                f" ({format_usd(v.lost_usd)})"
            )
    if report.breaks:
        print("Recent breaks:")
        for b in report.breaks[:10]:
            where = f" at {b.where}" if b.where else ""
            print(f"  {b.request_id}  {b.cause}{where}  lost {format_usd(b.lost_usd)}")
            if b.before or b.after:
                print(f"      was: {b.before!r}")
                print(f"      now: {b.after!r}")
    if whatif is not None:
        print(
            f"What if (input cost of the same {whatif.requests} requests;"
            f" recorded {format_usd(whatif.recorded_input_usd)}):"
        )
        for s in whatif.scenarios:
            print(
                f"  {s.name:<20} {format_usd(s.input_usd):>12}"
                f"  {s.cached_tokens:>10,} cached  {s.write_tokens:>10,} written"
            )
    return EXIT_OK
