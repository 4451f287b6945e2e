"""What the History detail pane says about a request beyond its text: the tools it
offered, the tool choice, JSON output, sampling, images (hash, size, tokens), the tool
results it sent, the tool calls its reply made and its provider prompt cache
(:mod:`app.history.prompt_cache`); and the record's JSON with them.

All of it comes from the record (``request_detail`` and ``tool_calls``, which the
ledger keeps as plain JSON values), so an old row without them shows nothing extra.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from app.history.prompt_cache import prompt_cache_lines
from app.widgets.content.tool_calls import pretty_arguments
from app.widgets.formatting import fmt_tokens
from core.ledger.serialize import record_to_json
from core.types import RequestRecord

__all__ = ["detail_json", "request_content_text"]

_INDENT = "    "


def detail_json(rec: RequestRecord) -> dict[str, Any]:
    """The record's JSON (the CLI's shape) with its tool calls and request detail."""
    out = record_to_json(rec)
    out.setdefault("tool_calls", [c.as_dict() for c in rec.tool_calls])
    out.setdefault("request", rec.request_detail)
    return out


def _indented(text: str, depth: int = 1) -> list[str]:
    return [_INDENT * depth + line for line in text.splitlines()]


def _compact(value: object) -> str:
    """A schema on one (wrapped) line: the pane is for reading what was sent at a glance;
    the JSON beside it has the full, indented form."""
    return json.dumps(value, ensure_ascii=False, default=str)


def _tools(detail: Mapping[str, Any]) -> list[str]:
    tools = detail.get("tools") or []
    if not tools:
        return []
    choice = detail.get("tool_choice")
    head = f"Tools ({len(tools)})" + (f" · tool choice: {choice}" if choice else "")
    if detail.get("parallel_tool_calls") is not None:
        head += f" · parallel calls: {detail['parallel_tool_calls']}"
    lines = [head]
    for tool in tools:
        if not isinstance(tool, Mapping):
            continue
        strict = " (strict)" if tool.get("strict") else ""
        description = f" — {tool['description']}" if tool.get("description") else ""
        lines.append(f"{_INDENT}{tool.get('name', '?')}{strict}{description}")
        lines.append(_INDENT * 2 + _compact(tool.get("parameters", {})))
    return lines


def _response_format(detail: Mapping[str, Any]) -> list[str]:
    fmt = detail.get("response_format")
    if not isinstance(fmt, Mapping):
        return []
    if fmt.get("type") != "json_schema":
        return ["Response format: any JSON object"]
    strict = " (strict)" if fmt.get("strict") else ""
    head = f"Response format: JSON Schema {fmt.get('name', '')!r}{strict}"
    return [head, _INDENT + _compact(fmt.get("schema", {}))]


def _images(detail: Mapping[str, Any]) -> list[str]:
    images = [i for i in detail.get("images") or [] if isinstance(i, Mapping)]
    if not images:
        return []
    total = sum(int(i.get("tokens") or 0) for i in images)
    lines = [f"Images ({len(images)}, {fmt_tokens(total)} tokens)"]
    for image in images:
        size = f"{image['width']}×{image['height']}" if image.get("width") else "size unknown"
        parts = [
            f"sha256 {str(image.get('sha256', '?'))[:16]}…",
            image.get("media_type") or "?",
            size,
        ]
        if image.get("bytes") is not None:
            parts.append(f"{int(image['bytes']) / 1024:.0f} KB")
        if image.get("tokens") is not None:
            parts.append(f"{fmt_tokens(int(image['tokens']))} tokens")
        parts.append(f"detail {image.get('detail', 'auto')}")
        if image.get("url"):
            parts.append(str(image["url"]))
        lines.append(_INDENT + " · ".join(parts))
    return lines


def _tool_results(detail: Mapping[str, Any]) -> list[str]:
    results = [r for r in detail.get("tool_results") or [] if isinstance(r, Mapping)]
    if not results:
        return []
    lines = [f"Tool results sent ({len(results)})"]
    for result in results:
        lines.append(f"{_INDENT}{result.get('tool_call_id', '?')} →")
        lines.extend(_indented(str(result.get("content", "")), 2))
    return lines


def _tool_calls(rec: RequestRecord) -> list[str]:
    if not rec.tool_calls:
        return []
    lines = [f"Tool calls in the reply ({len(rec.tool_calls)})"]
    for call in rec.tool_calls:
        text, problem = pretty_arguments(call.arguments)
        lines.append(f"{_INDENT}{call.name} ({call.id})")
        if problem:
            lines.append(f"{_INDENT * 2}⚠ arguments {problem}")
        lines.extend(_indented(text, 2))
    return lines


def _others(detail: Mapping[str, Any]) -> list[str]:
    lines = []
    sampling = detail.get("sampling")
    if isinstance(sampling, Mapping):
        asked = [f"{k} {json.dumps(v)}" for k, v in sampling.items() if v not in (None, [])]
        lines.append("Sampling: " + " · ".join(asked))
    for key, label in (("reasoning_effort", "Reasoning effort"), ("end_user", "End user")):
        if detail.get(key) is not None:
            lines.append(f"{label}: {detail[key]}")
    if detail.get("metadata"):
        lines.append(f"Metadata: {json.dumps(detail['metadata'], ensure_ascii=False)}")
    return lines


def request_content_text(rec: RequestRecord) -> str:
    """The request's tools, JSON output, images, tool results, the reply's tool calls
    and its provider prompt cache, as readable text; empty when it had none of them."""
    detail = rec.request_detail if isinstance(rec.request_detail, Mapping) else {}
    sections = [  # the short, telling parts first; the tools' schemas last
        _tool_calls(rec),
        _tool_results(detail),
        _images(detail),
        _response_format(detail),
        prompt_cache_lines(rec),
        _tools(detail),
        _others(detail),
    ]
    return "\n\n".join("\n".join(lines) for lines in sections if lines)
