"""Prometheus metrics for the gateway, on a registry owned by one app (never global).

Every series is labelled by tier, model and provider (empty when a request was
refused before routing). Money is exported as a float only here, at the edge,
because the Prometheus exposition format has no other number type; the ledger keeps
the exact amount.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from core.types import RequestRecord

__all__ = ["CONTENT_TYPE_LATEST", "GatewayMetrics"]

_LABELS = ("tier", "model", "provider")
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class GatewayMetrics:
    """Counters and histograms fed from each finished request's ledger record."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "centwise_requests", "Requests finished", (*_LABELS, "status"), registry=r
        )
        self.tokens = Counter("centwise_tokens", "Tokens used", (*_LABELS, "direction"), registry=r)
        self.cost = Counter("centwise_cost_usd", "Spend in US dollars", _LABELS, registry=r)
        self.cache = Counter(
            "centwise_cache_lookups", "Cache outcomes", (*_LABELS, "outcome"), registry=r
        )
        self.latency = Histogram(
            "centwise_request_latency_seconds",
            "Time from request to the last byte",
            _LABELS,
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.ttft = Histogram(
            "centwise_time_to_first_token_seconds",
            "Time from request to the first text delta",
            _LABELS,
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )

        # Label children, bound once per label set (``labels()`` locks and hashes).
        self._children: dict[tuple[str, ...], Any] = {}

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (metric._name, *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def observe(self, rec: RequestRecord) -> None:
        labels = (rec.tier or "", rec.model or "", rec.provider or "")
        child = self._child
        child(self.requests, *labels, rec.status).inc()
        child(self.tokens, *labels, "input").inc(rec.usage.input_tokens)
        child(self.tokens, *labels, "output").inc(rec.usage.output_tokens)
        if rec.cost_usd:
            child(self.cost, *labels).inc(float(rec.cost_usd))
        if rec.status in ("ok", "cancelled") or rec.cache_outcome != "miss":
            outcome = "miss" if rec.cache_outcome == "miss" else "hit"
            child(self.cache, *labels, outcome).inc()
        if rec.latency_ms is not None:
            child(self.latency, *labels).observe(rec.latency_ms / 1000)
        if rec.ttft_ms is not None:
            child(self.ttft, *labels).observe(rec.ttft_ms / 1000)

    def render(self) -> bytes:
        return generate_latest(self.registry)
