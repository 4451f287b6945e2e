"""One JSON shape for a request record, shared by the CLI, exports and the gateway."""

from __future__ import annotations

from typing import Any

from core.ledger.codec import context_json
from core.money import usd_str
from core.types import RequestRecord

__all__ = ["record_to_json"]


def record_to_json(rec: RequestRecord, *, include_text: bool = True) -> dict[str, Any]:
    """The ``--json`` object: money as decimal strings, never floats."""
    out: dict[str, Any] = {
        "request_id": rec.request_id,
        "purpose": rec.purpose,
        "provider": rec.provider,
        "model": rec.model,
        "tier": rec.tier,
        "simulated": rec.simulated,
        "status": rec.status,
        "error": rec.error,
        "error_kind": rec.error_kind,
        "cost_usd": usd_str(rec.cost_usd),
        "cost_known": rec.cost_known,
        "saved_usd": usd_str(rec.saved_usd),
        "latency_ms": rec.latency_ms,
        "ttft_ms": rec.ttft_ms,
        "finish_reason": rec.finish_reason,
        "route": {"score": rec.route_score, "mode": rec.route_mode, "reasons": rec.route_reasons},
        "cache": {
            "outcome": rec.cache_outcome,
            "similarity": rec.cache_similarity,
            "matched_request_id": rec.cache_matched_request_id,
        },
        "usage": {
            "input_tokens": rec.usage.input_tokens,
            "output_tokens": rec.usage.output_tokens,
            "cached_input_tokens": rec.usage.cached_input_tokens,
            "cache_write_tokens": rec.usage.cache_write_tokens,
            "reasoning_tokens": rec.usage.reasoning_tokens,
            "cache_write_1h_tokens": rec.usage.cache_write_1h_tokens,
            "estimated_input_tokens": rec.estimated_input_tokens,
            "estimated": rec.usage_estimated,
        },
        "context": context_json(rec),
        "routing_saved_usd": usd_str(rec.routing_saved_usd),
        "prompt_cache": _prompt_cache(rec),
        "conversation_id": rec.conversation_id,
        "retries": rec.retries,
        "degraded": rec.degraded,
        "attempts": [
            {
                "provider": a.provider,
                "model": a.model,
                "status": a.status,
                "error": a.error,
                "cost_usd": usd_str(a.cost_usd),
                "latency_ms": None if a.latency_ms is None else round(a.latency_ms, 3),
            }
            for a in rec.attempts
        ],
        "tool_calls": [c.as_dict() for c in rec.tool_calls],
        "request": rec.request_detail,
        "warnings": rec.warnings,
        "started_at": rec.started_at,
        "finished_at": rec.finished_at,
    }
    if include_text:
        out["text"] = rec.response
        out["prompt"] = rec.prompt
    return out


def _prompt_cache(rec: RequestRecord) -> dict[str, object]:
    """The provider prompt cache's figures for a record (no digests)."""
    detail = {k: v for k, v in rec.prompt_cache.items() if k != "blocks"}
    return {
        **detail,
        "saved_usd": usd_str(rec.prompt_cache_saved_usd),
        "lost_usd": usd_str(rec.prompt_cache_lost_usd),
    }
