"""CSV (flat) and JSONL (nested, like the CLI's JSON) exports; money as decimal strings."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from typing import Literal, TextIO

from core.ledger.codec import dumps_json, local_day, record_to_json
from core.money import usd_str
from core.types import RequestRecord

__all__ = ["CSV_FIELDS", "ExportFormat", "csv_row", "write_export"]

ExportFormat = Literal["csv", "jsonl"]

CSV_FIELDS: tuple[str, ...] = (
    "request_id", "started_at", "finished_at", "day", "purpose", "status", "provider",
    "model", "tier", "route_score", "route_mode", "route_reasons", "cache_outcome",
    "cache_similarity", "cache_matched_request_id", "input_tokens", "output_tokens",
    "cached_input_tokens", "cache_write_tokens", "reasoning_tokens",
    "estimated_input_tokens", "estimated_output_tokens", "usage_estimated", "cost_usd",
    "cost_known", "saved_usd", "latency_ms", "ttft_ms", "retries", "attempts", "error",
    "error_kind", "simulated", "degraded", "finish_reason", "conversation_id", "system",
    "prompt", "response", "warnings", "tool_calls", "request_detail",
    "cache_write_1h_tokens", "prompt_cache_saved_usd", "prompt_cache_lost_usd",
    "prompt_cache_break", "prompt_cache", "member", "app",
)  # fmt: skip


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _csv_value(value: object) -> object:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def csv_row(rec: RequestRecord) -> dict[str, object]:
    """One flat CSV row; nested parts (reasons, attempts, warnings, tool calls, what
    the request asked for) as JSON text."""
    nested = record_to_json(rec)
    u = rec.usage
    return {
        "request_id": rec.request_id, "started_at": repr(rec.started_at),
        "finished_at": repr(rec.finished_at), "day": local_day(rec.finished_at),
        "purpose": rec.purpose, "status": rec.status, "provider": rec.provider,
        "model": rec.model, "tier": rec.tier, "route_score": rec.route_score,
        "route_mode": rec.route_mode,
        "route_reasons": dumps_json(rec.route_reasons),
        "cache_outcome": rec.cache_outcome, "cache_similarity": rec.cache_similarity,
        "cache_matched_request_id": rec.cache_matched_request_id,
        "input_tokens": u.input_tokens, "output_tokens": u.output_tokens,
        "cached_input_tokens": u.cached_input_tokens,
        "cache_write_tokens": u.cache_write_tokens, "reasoning_tokens": u.reasoning_tokens,
        "estimated_input_tokens": rec.estimated_input_tokens,
        "estimated_output_tokens": rec.estimated_output_tokens,
        "usage_estimated": rec.usage_estimated, "cost_usd": usd_str(rec.cost_usd),
        "cost_known": rec.cost_known, "saved_usd": usd_str(rec.saved_usd),
        "latency_ms": rec.latency_ms, "ttft_ms": rec.ttft_ms, "retries": rec.retries,
        "attempts": dumps_json(nested["attempts"]), "error": rec.error,
        "error_kind": rec.error_kind, "simulated": rec.simulated, "degraded": rec.degraded,
        "finish_reason": rec.finish_reason, "conversation_id": rec.conversation_id,
        "system": rec.system, "prompt": rec.prompt, "response": rec.response,
        "warnings": _dumps(rec.warnings),
        "tool_calls": _dumps(nested["tool_calls"]), "request_detail": _dumps(nested["request"]),
        "cache_write_1h_tokens": u.cache_write_1h_tokens,
        "prompt_cache_saved_usd": usd_str(rec.prompt_cache_saved_usd),
        "prompt_cache_lost_usd": usd_str(rec.prompt_cache_lost_usd),
        "prompt_cache_break": rec.prompt_cache_break,
        "prompt_cache": dumps_json(rec.prompt_cache),
        "member": rec.member, "app": rec.app,
    }  # fmt: skip


def write_export(fmt: ExportFormat, out: TextIO, records: Iterable[RequestRecord]) -> int:
    """Write ``records`` to ``out`` as ``fmt``; returns how many rows were written."""
    n = 0
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\n")
        writer.writeheader()
        for rec in records:
            writer.writerow({k: _csv_value(v) for k, v in csv_row(rec).items()})
            n += 1
    elif fmt == "jsonl":
        for rec in records:
            out.write(_dumps(record_to_json(rec)) + "\n")
            n += 1
    else:
        raise ValueError(f"unknown export format {fmt!r}; use 'csv' or 'jsonl'")
    return n
