"""``centwise ask``: one prompt, or a JSONL batch, through the full pipeline."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from core.cli.common import (
    EXIT_OK,
    EXIT_USAGE,
    open_engine,
    print_json,
    read_text_file,
)
from core.content.images import image_from_path
from core.content.tools import (
    ToolDefinitionError,
    check_json_schema,
    parse_tool_choice,
    parse_tools,
)
from core.engine import Engine
from core.errors import CentwiseError, InputError
from core.ledger.serialize import record_to_json
from core.money import format_usd
from core.pipeline.request import Reply
from core.types import (
    ImagePart,
    RequestRecord,
    ResponseFormat,
    Sampling,
    SamplingValueError,
    Tool,
    ToolChoice,
    parse_sampling,
)

__all__ = ["register"]


def register(sub: Any) -> None:
    p = sub.add_parser("ask", help="send a prompt through budgets, cache, routing and the ledger")
    p.add_argument("prompt", nargs="?", help="the prompt ('-' reads stdin)")
    p.add_argument("--system", help="a system prompt")
    p.add_argument(
        "--model", default="auto", help="auto, a tier id, a tier's model, or PROVIDER/MODEL"
    )
    p.add_argument("--max-output-tokens", type=int, metavar="N")
    p.add_argument("--temperature", type=float, metavar="T")
    p.add_argument("--top-p", type=float, metavar="P", help="nucleus sampling, 0 to 1")
    p.add_argument(
        "--stop", action="append", metavar="TEXT", help="a stop sequence (repeat for several)"
    )
    p.add_argument("--seed", type=int, metavar="N", help="a sampling seed")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json-object", action="store_true", help="ask for a JSON object")
    out.add_argument(
        "--json-schema", metavar="FILE.json", help="ask for JSON that follows this JSON Schema"
    )
    p.add_argument(
        "--tools",
        metavar="FILE.json",
        help="tools the model may call: a JSON list in OpenAI's or Anthropic's shape",
    )
    p.add_argument(
        "--tool-choice",
        metavar="CHOICE",
        help="auto, none, required, or the name of the tool the model must call",
    )
    p.add_argument(
        "--image",
        action="append",
        metavar="PATH",
        help="an image to send with the prompt (PNG, JPEG, GIF or WebP; repeat for several)",
    )
    p.add_argument(
        "--batch",
        metavar="FILE.jsonl",
        help="lines of {prompt, system?, model?, top_p?, stop?, seed?, tools?, tool_choice?,"
        " json_schema?, json_object?, images?}",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object per request")
    p.set_defaults(handler=run)


_LINE_KEYS = frozenset(
    {"prompt", "system", "model", "top_p", "stop", "seed", "tools", "tool_choice"}
    | {"json_schema", "json_object", "images"}
)


@dataclass(frozen=True, slots=True)
class Job:
    prompt: str
    system: str | None
    model: str
    sampling: Sampling | None = None  # None: the command line's
    tools: tuple[Tool, ...] = ()
    tool_choice: ToolChoice | None = None
    response_format: ResponseFormat | None = None
    images: tuple[ImagePart, ...] = ()


def run(args: argparse.Namespace) -> int:
    if args.max_output_tokens is not None and args.max_output_tokens <= 0:
        raise InputError(f"--max-output-tokens must be positive, got {args.max_output_tokens}")
    if args.batch:
        if args.prompt:
            raise InputError("give either a PROMPT or --batch FILE, not both")
        jobs = parse_batch(read_text_file(args.batch, "batch file"), args)
    else:
        if args.prompt is None:
            raise InputError("no prompt given: centwise ask \"your prompt\" (or '-' for stdin)")
        prompt = read_text_file("-", "stdin") if args.prompt == "-" else args.prompt
        tools = _tools_file(args.tools) if args.tools else ()
        jobs = [
            Job(
                prompt,
                args.system,
                args.model,
                tools=tools,
                tool_choice=_choice(args.tool_choice, tools, "--tool-choice"),
                response_format=_response_format(args),
                images=tuple(image_from_path(p) for p in args.image or ()),
            )
        ]
    return asyncio.run(_run_jobs(args, jobs))


def _tools_file(path: str, where: str = "") -> tuple[Tool, ...]:
    """Tools from a JSON file; errors name the file and the field."""
    text = read_text_file(path, "tools file")
    try:
        items = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"{where}{path}: not valid JSON ({e.msg}, line {e.lineno})") from None
    if isinstance(items, dict) and "tools" in items:
        items = items["tools"]  # a request body's "tools" field, as saved from an app
    try:
        return parse_tools(items, f"{where}{path}: tools")
    except ToolDefinitionError as e:
        raise InputError(str(e)) from None


def _choice(value: str | None, tools: tuple[Tool, ...], where: str) -> ToolChoice | None:
    if value is None:
        return None
    if value not in ("auto", "none", "required"):
        value_obj: object = {"type": "function", "function": {"name": value}}
    else:
        value_obj = value
    try:
        return parse_tool_choice(value_obj, tools, where)
    except ToolDefinitionError as e:
        raise InputError(str(e)) from None


def parse_batch(text: str, args: argparse.Namespace) -> list[Job]:
    """Validate every line before running any, so a bad file costs nothing."""
    jobs = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"batch line {n}: not valid JSON ({e.msg})") from None
        if not isinstance(obj, dict):
            raise InputError(f'batch line {n}: expected an object like {{"prompt": ...}}')
        unknown = set(obj) - _LINE_KEYS
        if unknown:
            raise InputError(f"batch line {n}: unknown key(s) {', '.join(sorted(unknown))}")
        prompt, system, model = obj.get("prompt"), obj.get("system"), obj.get("model")
        if not isinstance(prompt, str):
            raise InputError(f'batch line {n}: "prompt" must be a string')
        for key, val in (("system", system), ("model", model)):
            if val is not None and not isinstance(val, str):
                raise InputError(f'batch line {n}: "{key}" must be a string')
        sampling = _line_sampling(obj, n) if {"top_p", "stop", "seed"} & set(obj) else None
        jobs.append(
            _line_job(
                obj, n, args, Job(prompt, system or args.system, model or args.model, sampling)
            )
        )
    if not jobs:
        raise InputError("the batch file has no requests")
    return jobs


async def _run_jobs(args: argparse.Namespace, jobs: list[Job]) -> int:
    engine = open_engine(args)
    code = EXIT_OK
    try:
        for job in jobs:
            rc = await _run_one(engine, job, args)
            code = code or rc
    finally:
        await engine.aclose()
    return code


async def _run_one(engine: Engine, job: Job, args: argparse.Namespace) -> int:
    reply = engine.ask(
        job.prompt,
        system=job.system,
        model=job.model,
        max_output_tokens=args.max_output_tokens,
        temperature=args.temperature,
        sampling=job.sampling if job.sampling is not None else _sampling(args),
        response_format=job.response_format,
        tools=job.tools,
        tool_choice=job.tool_choice,
        images=job.images,
    )
    return await print_reply(reply, json_out=args.json)


def _line_job(obj: dict[str, Any], n: int, args: argparse.Namespace, job: Job) -> Job:
    """A batch line's tools, tool choice, JSON output and images (else the command
    line's): tools inline or a file path, a JSON Schema inline or a file path, images
    as file paths."""
    where = f"batch line {n}: "
    raw_tools = obj.get("tools")
    if isinstance(raw_tools, str):
        tools = _tools_file(raw_tools, where)
    elif raw_tools is not None:
        try:
            tools = parse_tools(raw_tools, f"{where}tools")
        except ToolDefinitionError as e:
            raise InputError(str(e)) from None
    else:
        tools = _tools_file(args.tools) if args.tools else ()
    choice = obj.get("tool_choice", args.tool_choice)
    if choice is not None and not isinstance(choice, str):
        raise InputError(f'{where}"tool_choice" must be auto, none, required or a tool name')
    fmt = _response_format(args)
    schema = obj.get("json_schema")
    if isinstance(schema, str):
        fmt = _schema_file(schema, where)
    elif schema is not None:
        fmt = _schema(schema, f"{where}json_schema", "response")
    elif obj.get("json_object") is True:
        fmt = ResponseFormat()
    elif obj.get("json_object") not in (None, False):
        raise InputError(f'{where}"json_object" must be true or false')
    paths = obj.get("images", args.image or [])
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise InputError(f'{where}"images" must be a list of file paths')
    return replace(
        job,
        tools=tools,
        tool_choice=_choice(choice, tools, f"{where}tool_choice"),
        response_format=fmt,
        images=tuple(image_from_path(p) for p in paths),
    )


def _line_sampling(obj: dict[str, object], n: int) -> Sampling:
    """A batch line's sampling settings, checked as the gateway checks them."""
    try:
        return parse_sampling(obj.get("top_p"), obj.get("stop"), obj.get("seed"))
    except SamplingValueError as e:
        raise InputError(f'batch line {n}: "{e.setting}" {e.message}') from None


def _response_format(args: argparse.Namespace) -> ResponseFormat | None:
    if args.json_object:
        return ResponseFormat()
    if not args.json_schema:
        return None
    return _schema_file(args.json_schema)


def _schema_file(path: str, where: str = "") -> ResponseFormat:
    text = read_text_file(path, "JSON Schema file")
    try:
        schema = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"{where}{path}: not valid JSON ({e.msg}, line {e.lineno})") from None
    return _schema(schema, f"{where}{path}", Path(path).stem or "response")


def _schema(schema: object, where: str, name: str) -> ResponseFormat:
    """A checked JSON Schema (valid against the meta-schema) as a response format;
    OpenAI's names allow letters, digits, ``_`` and ``-`` only."""
    try:
        checked = check_json_schema(schema, where)
    except ToolDefinitionError as e:
        raise InputError(str(e)) from None
    clean = "".join(c if c.isascii() and (c.isalnum() or c in "_-") else "_" for c in name)
    return ResponseFormat(schema=dict(checked), name=clean[:64] or "response")


def _sampling(args: argparse.Namespace) -> Sampling:
    if args.top_p is not None and not 0 <= args.top_p <= 1:
        raise InputError(f"--top-p must be from 0 to 1, got {args.top_p}")
    if args.stop and not all(args.stop):
        raise InputError("--stop needs a non-empty text")
    return Sampling(top_p=args.top_p, stop=tuple(args.stop or ()), seed=args.seed)


async def print_reply(
    reply: Reply, *, json_out: bool, describe: Callable[[RequestRecord], str] | None = None
) -> int:
    """Stream ``reply`` to stdout (or print its JSON record) and return the exit code;
    a one-line account goes to stderr. Shared by ``ask`` and ``chat``."""
    error: CentwiseError | None = None
    try:
        async for delta in reply:
            if not json_out and isinstance(delta, str):
                sys.stdout.write(delta)
                sys.stdout.flush()
    except CentwiseError as e:
        error = e
    record = reply.record
    assert record is not None
    if json_out:
        print_json(record_to_json(record))
    else:
        if record.response:
            sys.stdout.write("\n")
        for call in record.tool_calls:
            sys.stdout.write(f"tool call {call.id}: {call.name}({call.arguments})\n")
        sys.stdout.flush()
        if error is not None:
            print(f"centwise: {error}", file=sys.stderr)
        print((describe or summary_line)(record), file=sys.stderr)
    if error is None:
        return EXIT_OK
    return error.exit_code if error.exit_code in (2, 3, 4) else EXIT_USAGE


def summary_line(rec: RequestRecord) -> str:
    """A one-line account of a request, for people reading the terminal."""
    parts = [rec.tier or "-", f"{rec.provider}/{rec.model}"]
    if rec.simulated:
        parts.append("simulated, priced as the real model")
    if rec.cache_outcome != "miss":
        sim = f" {rec.cache_similarity:.3f}" if rec.cache_similarity is not None else ""
        parts.append(
            f"cache {rec.cache_outcome}{sim} (answer of {rec.cache_matched_request_id}), "
            f"saved {format_usd(rec.saved_usd)}"
        )
    else:
        est = " (estimated)" if rec.usage_estimated else ""
        parts.append(f"{rec.usage.input_tokens} in / {rec.usage.output_tokens} out tokens{est}")
    if rec.degraded:
        parts.append("degraded: a cheaper tier answered")
    if rec.retries:
        parts.append(f"{rec.retries} retries/fallbacks")
    parts.append(format_usd(rec.cost_usd) if rec.cost_known else "cost unknown")
    if rec.latency_ms is not None:
        parts.append(f"{rec.latency_ms:.0f} ms")
    parts.append(rec.status)
    return "[" + " · ".join(parts) + "]"
