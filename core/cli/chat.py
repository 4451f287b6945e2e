"""``centwise chat``: an interactive conversation in the terminal, through the full
pipeline, stored in the ledger's database so it can be resumed after a restart.

Lines are read from stdin (a terminal or a pipe). ``/new`` starts a new conversation,
``/exit`` (or end of input) quits. Each reply streams to stdout; a one-line account
of its cost and of what context management did goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from core.cli.ask import print_reply, summary_line
from core.cli.common import EXIT_OK, open_engine
from core.engine import Engine
from core.errors import InputError
from core.money import format_usd
from core.types import RequestRecord

__all__ = ["context_line", "register"]


def register(sub: Any) -> None:
    p = sub.add_parser("chat", help="a conversation in the terminal (/new, /exit)")
    p.add_argument("--conversation", metavar="ID", help="resume a stored conversation")
    p.add_argument("--system", help="the system prompt of a new conversation")
    p.add_argument(
        "--model", default="auto", help="auto, a tier id, a tier's model, or PROVIDER/MODEL"
    )
    p.add_argument("--max-output-tokens", type=int, metavar="N")
    p.add_argument("--json", action="store_true", help="print one JSON object per turn")
    p.add_argument("--list", action="store_true", help="list recent conversations and quit")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.max_output_tokens is not None and args.max_output_tokens <= 0:
        raise InputError(f"--max-output-tokens must be positive, got {args.max_output_tokens}")
    return asyncio.run(_session(args))


async def _session(args: argparse.Namespace) -> int:
    engine = open_engine(args)
    try:
        if args.list:
            _list(engine)
            return EXIT_OK
        return await _repl(engine, args)
    finally:
        await engine.aclose()


def _list(engine: Engine) -> None:
    for c in engine.conversations(50):
        print(f"{c.id}  {c.message_count:4d} msgs  {format_usd(c.cost_usd)}  {c.title}")


async def _repl(engine: Engine, args: argparse.Namespace) -> int:
    conversation_id = _start(engine, args)
    interactive = sys.stdin.isatty()
    code = EXIT_OK
    while True:
        if interactive:
            print("you> ", end="", file=sys.stderr, flush=True)
        line = await asyncio.to_thread(sys.stdin.readline)
        if not line:
            break
        text = line.strip()
        if text in ("/exit", "/quit"):
            break
        if text == "/new":
            args.conversation = None
            conversation_id = _start(engine, args)
            continue
        if text:
            code = code or await _turn(engine, conversation_id, text, args)
    return code


def _start(engine: Engine, args: argparse.Namespace) -> str:
    if args.conversation:
        n = len(engine.conversation(args.conversation))  # InputError when unknown
        print(f"conversation {args.conversation} ({n} messages)", file=sys.stderr)
        return str(args.conversation)
    conversation_id = engine.start_conversation(system=args.system)
    print(f"conversation {conversation_id} (new)", file=sys.stderr)
    return conversation_id


async def _turn(engine: Engine, conversation_id: str, text: str, args: argparse.Namespace) -> int:
    reply = engine.ask(
        text,
        model=args.model,
        max_output_tokens=args.max_output_tokens,
        conversation_id=conversation_id,
    )
    return await print_reply(
        reply, json_out=args.json, describe=lambda rec: summary_line(rec) + " " + context_line(rec)
    )


def context_line(rec: RequestRecord) -> str:
    """What context management did, e.g. ``[context 2,410→880 tokens, saved $0.0003 …]``."""
    if rec.context_tokens_before is None:
        return "[context -]"
    after = rec.context_tokens_after
    shown = f"{after:,}" if after is not None else "-"
    parts = [f"context {rec.context_tokens_before:,}→{shown} tokens"]
    if rec.context_saved_usd:
        parts.append(f"saved {format_usd(rec.context_saved_usd)}")
    if rec.context_actions:
        parts.append(", ".join(rec.context_actions))
    return "[" + " · ".join(parts) + "]"
