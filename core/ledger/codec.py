"""Turning a :class:`~core.types.RequestRecord` into ledger rows and back, exactly.

Money goes to integer picodollars; lists go to JSON text (an attempt's cost as a
decimal string); usage is split into one integer column per field.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from core.money import from_pusd, to_pusd, usd_str
from core.types import Attempt, RequestRecord, ToolCall, Usage

__all__ = [
    "COLUMNS",
    "CONTEXT_COLUMNS",
    "ROLLUP_DIMS",
    "ROLLUP_SUMS",
    "TEAM_COLUMNS",
    "V1_COLUMNS",
    "context_json",
    "dumps_json",
    "local_day",
    "local_month",
    "record_to_json",
    "record_to_row",
    "rollup_values",
    "row_to_record",
]

#: The columns of ``requests`` as schema version 1 created them ...
V1_COLUMNS: tuple[str, ...] = (
    "request_id", "started_at", "finished_at", "day", "month", "purpose",
    "provider", "model", "tier", "route_score", "route_reasons", "route_mode",
    "cache_outcome", "cache_similarity", "cache_matched_request_id",
    "input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens",
    "reasoning_tokens", "estimated_input_tokens", "estimated_output_tokens",
    "usage_estimated", "cost_pusd", "cost_known", "saved_pusd", "latency_ms",
    "ttft_ms", "retries", "attempts", "status", "error", "error_kind", "simulated",
    "degraded", "prompt", "system", "response", "finish_reason", "conversation_id",
    "warnings",
)  # fmt: skip
#: ... the ones migration 2 added (context management) ...
CONTEXT_COLUMNS: tuple[str, ...] = (
    "context_tokens_before", "context_tokens_after", "context_saved_pusd", "context_actions",
)  # fmt: skip
#: ... the one migration 4 added (routing savings) ...
ROUTING_COLUMNS: tuple[str, ...] = ("routing_saved_pusd",)
#: ... the ones migration 6 added (tool calls, and what the request asked for) ...
DETAIL_COLUMNS: tuple[str, ...] = ("tool_calls", "request_detail")
#: ... the ones migration 7 added (provider prompt caching) ...
PROMPT_CACHE_COLUMNS: tuple[str, ...] = (
    "cache_write_1h_tokens", "prompt_cache", "prompt_cache_expected_tokens",
    "prompt_cache_saved_pusd", "prompt_cache_lost_pusd", "prompt_cache_lost_tokens",
    "prompt_cache_break",
)  # fmt: skip
#: ... the ones migration 8 added (team mode: who sent it, through which gateway key) ...
TEAM_COLUMNS: tuple[str, ...] = ("member", "app")
#: ... and every column of ``requests`` in insert/select order.
COLUMNS: tuple[str, ...] = (
    V1_COLUMNS
    + CONTEXT_COLUMNS
    + ROUTING_COLUMNS
    + DETAIL_COLUMNS
    + PROMPT_CACHE_COLUMNS
    + TEAM_COLUMNS
)

#: What the rollups group by besides the period (NULL stored as '' so keys hold) ...
ROLLUP_DIMS: tuple[str, ...] = (
    "purpose", "tier", "model", "provider", "status", "cache_outcome", "simulated",
    "member", "app",
)  # fmt: skip
#: ... and what they sum.
ROLLUP_SUMS: tuple[str, ...] = (
    "n", "cost_pusd", "unknown_cost_n", "saved_pusd", "cache_hit_n", "input_tokens",
    "output_tokens", "cached_input_tokens", "cache_write_tokens", "reasoning_tokens",
)  # fmt: skip


def local_day(epoch: float) -> str:
    """The local calendar day of an epoch time, ``YYYY-MM-DD``."""
    return time.strftime("%Y-%m-%d", time.localtime(epoch))


def local_month(epoch: float) -> str:
    """The local calendar month of an epoch time, ``YYYY-MM``."""
    return time.strftime("%Y-%m", time.localtime(epoch))


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return usd_str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"cannot store {type(value).__name__} in the ledger")


def dumps_json(value: object) -> str:
    """Compact JSON text as stored in the ledger (Decimals as strings)."""
    return json.dumps(value, default=_json_default, ensure_ascii=False, separators=(",", ":"))


def _usage_dict(usage: Usage) -> dict[str, int]:
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cached_input_tokens": usage.cached_input_tokens,
        "cache_write_tokens": usage.cache_write_tokens,
        "reasoning_tokens": usage.reasoning_tokens,
        "cache_write_1h_tokens": usage.cache_write_1h_tokens,
    }


def _attempt_dict(att: Attempt) -> dict[str, object]:
    return {
        "provider": att.provider,
        "model": att.model,
        "status": att.status,
        "error": att.error,
        "usage": None if att.usage is None else _usage_dict(att.usage),
        "cost_usd": usd_str(att.cost_usd),
        "latency_ms": att.latency_ms,
    }


def _attempt_from(data: dict[str, Any]) -> Attempt:
    usage = data.get("usage")
    cost = data.get("cost_usd")
    return Attempt(
        provider=data["provider"],
        model=data["model"],
        status=data["status"],
        error=data.get("error"),
        usage=None if usage is None else Usage(**usage),
        cost_usd=None if cost is None else Decimal(cost),
        latency_ms=data.get("latency_ms"),
    )


def record_to_row(rec: RequestRecord) -> tuple[object, ...]:
    """The ``requests`` row for ``rec``, in :data:`COLUMNS` order."""
    u = rec.usage
    return (
        rec.request_id, rec.started_at, rec.finished_at,
        local_day(rec.finished_at), local_month(rec.finished_at), rec.purpose,
        rec.provider, rec.model, rec.tier, rec.route_score, dumps_json(rec.route_reasons),
        rec.route_mode, rec.cache_outcome, rec.cache_similarity,
        rec.cache_matched_request_id, u.input_tokens, u.output_tokens,
        u.cached_input_tokens, u.cache_write_tokens, u.reasoning_tokens,
        rec.estimated_input_tokens, rec.estimated_output_tokens, int(rec.usage_estimated),
        None if rec.cost_usd is None else to_pusd(rec.cost_usd), int(rec.cost_known),
        to_pusd(rec.saved_usd), rec.latency_ms, rec.ttft_ms, rec.retries,
        dumps_json([_attempt_dict(a) for a in rec.attempts]), rec.status, rec.error,
        rec.error_kind, int(rec.simulated), int(rec.degraded), rec.prompt, rec.system,
        rec.response, rec.finish_reason, rec.conversation_id, dumps_json(rec.warnings),
        rec.context_tokens_before, rec.context_tokens_after,
        to_pusd(rec.context_saved_usd), dumps_json(rec.context_actions),
        to_pusd(rec.routing_saved_usd),
        dumps_json([c.as_dict() for c in rec.tool_calls]), dumps_json(rec.request_detail),
        u.cache_write_1h_tokens, dumps_json(rec.prompt_cache),
        _expected_tokens(rec), to_pusd(rec.prompt_cache_saved_usd),
        to_pusd(rec.prompt_cache_lost_usd), _lost_tokens(rec), rec.prompt_cache_break,
        rec.member, rec.app,
    )  # fmt: skip


_IX = {name: i for i, name in enumerate(COLUMNS)}


def rollup_values(row: Sequence[Any]) -> tuple[tuple[object, ...], tuple[int, ...]]:
    """The rollup dimensions of one ``requests`` row and the amounts it adds.

    A request counts as unknown-cost when its price is unknown (NULL cost) or the
    record says its cost is not known; a known part of its cost still adds up.
    """
    key = tuple("" if row[_IX[k]] is None else row[_IX[k]] for k in ROLLUP_DIMS)
    cost = row[_IX["cost_pusd"]]
    unknown = cost is None or not row[_IX["cost_known"]]
    sums = (
        1,
        0 if cost is None else int(cost),
        int(unknown),
        row[_IX["saved_pusd"]],
        int(row[_IX["cache_outcome"]] != "miss"),
        row[_IX["input_tokens"]],
        row[_IX["output_tokens"]],
        row[_IX["cached_input_tokens"]],
        row[_IX["cache_write_tokens"]],
        row[_IX["reasoning_tokens"]],
    )
    return key, sums


def row_to_record(row: Sequence[Any]) -> RequestRecord:
    """Rebuild the record from a row selected as :data:`COLUMNS`."""
    r = dict(zip(COLUMNS, row, strict=True))
    return RequestRecord(
        request_id=r["request_id"], started_at=r["started_at"], finished_at=r["finished_at"],
        purpose=r["purpose"], provider=r["provider"], model=r["model"], tier=r["tier"],
        route_score=r["route_score"], route_reasons=json.loads(r["route_reasons"]),
        route_mode=r["route_mode"], cache_outcome=r["cache_outcome"],
        cache_similarity=r["cache_similarity"],
        cache_matched_request_id=r["cache_matched_request_id"],
        usage=Usage(
            r["input_tokens"], r["output_tokens"], r["cached_input_tokens"],
            r["cache_write_tokens"], r["reasoning_tokens"], r["cache_write_1h_tokens"],
        ),
        estimated_input_tokens=r["estimated_input_tokens"],
        estimated_output_tokens=r["estimated_output_tokens"],
        usage_estimated=bool(r["usage_estimated"]),
        cost_usd=None if r["cost_pusd"] is None else from_pusd(r["cost_pusd"]),
        cost_known=bool(r["cost_known"]), saved_usd=from_pusd(r["saved_pusd"]),
        latency_ms=r["latency_ms"], ttft_ms=r["ttft_ms"], retries=r["retries"],
        attempts=[_attempt_from(a) for a in json.loads(r["attempts"])],
        status=r["status"], error=r["error"], error_kind=r["error_kind"],
        simulated=bool(r["simulated"]), degraded=bool(r["degraded"]), prompt=r["prompt"],
        system=r["system"], response=r["response"], finish_reason=r["finish_reason"],
        conversation_id=r["conversation_id"], warnings=json.loads(r["warnings"]),
        context_tokens_before=r["context_tokens_before"],
        context_tokens_after=r["context_tokens_after"],
        context_saved_usd=from_pusd(r["context_saved_pusd"]),
        context_actions=json.loads(r["context_actions"]),
        routing_saved_usd=from_pusd(r["routing_saved_pusd"]),
        tool_calls=_tool_calls(r["tool_calls"]), request_detail=json.loads(r["request_detail"]),
        prompt_cache=json.loads(r["prompt_cache"]),
        prompt_cache_saved_usd=from_pusd(r["prompt_cache_saved_pusd"]),
        prompt_cache_lost_usd=from_pusd(r["prompt_cache_lost_pusd"]),
        member=r["member"], app=r["app"],
    )  # fmt: skip


def _expected_tokens(rec: RequestRecord) -> int | None:
    """The cached tokens expected; NULL when the provider keeps no prompt cache."""
    value = rec.prompt_cache.get("expected_cached_tokens")
    return int(str(value)) if value is not None else None


def _lost_tokens(rec: RequestRecord) -> int:
    found = rec.prompt_cache.get("break")
    return int(str(found.get("lost_tokens", 0))) if isinstance(found, dict) else 0


def _tool_calls(text: str) -> list[ToolCall]:
    return [ToolCall(c["id"], c["name"], c["arguments"]) for c in json.loads(text)]


def record_to_json(rec: RequestRecord) -> dict[str, object]:
    """The nested JSON shape of a record (usage, route, cache), money as strings."""
    return {
        "request_id": rec.request_id,
        "started_at": rec.started_at,
        "finished_at": rec.finished_at,
        "day": local_day(rec.finished_at),
        "purpose": rec.purpose,
        "status": rec.status,
        "provider": rec.provider,
        "model": rec.model,
        "route": {
            "tier": rec.tier,
            "score": rec.route_score,
            "mode": rec.route_mode,
            "reasons": json.loads(dumps_json(rec.route_reasons)),
        },
        "cache": {
            "outcome": rec.cache_outcome,
            "similarity": rec.cache_similarity,
            "matched_request_id": rec.cache_matched_request_id,
        },
        "usage": {
            **_usage_dict(rec.usage),
            "estimated": rec.usage_estimated,
            "estimated_input_tokens": rec.estimated_input_tokens,
            "estimated_output_tokens": rec.estimated_output_tokens,
        },
        "cost_usd": usd_str(rec.cost_usd),
        "cost_known": rec.cost_known,
        "saved_usd": usd_str(rec.saved_usd),
        "latency_ms": rec.latency_ms,
        "ttft_ms": rec.ttft_ms,
        "retries": rec.retries,
        "attempts": [_attempt_dict(a) for a in rec.attempts],
        "error": rec.error,
        "error_kind": rec.error_kind,
        "simulated": rec.simulated,
        "degraded": rec.degraded,
        "finish_reason": rec.finish_reason,
        "conversation_id": rec.conversation_id,
        "context": context_json(rec),
        "system": rec.system,
        "prompt": rec.prompt,
        "response": rec.response,
        "tool_calls": [c.as_dict() for c in rec.tool_calls],
        "request": json.loads(dumps_json(rec.request_detail)),
        "prompt_cache": {
            **json.loads(dumps_json(rec.prompt_cache)),
            "saved_usd": usd_str(rec.prompt_cache_saved_usd),
            "lost_usd": usd_str(rec.prompt_cache_lost_usd),
        },
        "member": rec.member,
        "app": rec.app,
        "warnings": list(rec.warnings),
    }


def context_json(rec: RequestRecord) -> dict[str, object]:
    """What context management did for ``rec``, money as a decimal string."""
    return {
        "tokens_before": rec.context_tokens_before,
        "tokens_after": rec.context_tokens_after,
        "saved_usd": usd_str(rec.context_saved_usd),
        "actions": list(rec.context_actions),
    }
