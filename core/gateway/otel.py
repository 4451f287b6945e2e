"""Optional OpenTelemetry export: one span per finished request, GenAI conventions.

Needs the ``otel`` extra (``pip install centwise[otel]``); without it, turning
``[observability] otel`` on logs one warning and exports nothing. The span is
created from the ledger record when the request finishes, with its real start and end
times, so the pipeline needs no tracing calls of its own. Spans go to the global
tracer provider, which the user configures the usual way (OTEL_* variables, or their
own SDK set-up); tests pass a provider in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from core.config import CentwiseConfig
from core.events import REQUEST_FINISHED, EventHub
from core.money import usd_str
from core.types import RequestRecord

__all__ = ["SpanExporter", "span_attributes"]

log = logging.getLogger("core.gateway.otel")


def span_attributes(rec: RequestRecord) -> dict[str, Any]:
    """GenAI semantic-convention attributes (plus ``centwise.*``) for one request."""
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": rec.model or "",
        "gen_ai.response.model": rec.model or "",
        "gen_ai.usage.input_tokens": rec.usage.input_tokens,
        "gen_ai.usage.output_tokens": rec.usage.output_tokens,
        "centwise.request_id": rec.request_id,
        "centwise.tier": rec.tier or "",
        "centwise.cache": rec.cache_outcome,
        "centwise.status": rec.status,
        "centwise.cost_usd": usd_str(rec.cost_usd) or "",
    }
    if rec.provider:
        attrs["gen_ai.system"] = rec.provider
    if rec.finish_reason:
        attrs["gen_ai.response.finish_reasons"] = [rec.finish_reason]
    return attrs


class SpanExporter:
    """Subscribes to ``REQUEST_FINISHED`` and turns each record into a span."""

    def __init__(self, events: EventHub, tracer: Any) -> None:
        self._tracer = tracer
        self._off: Callable[[], None] = events.on(REQUEST_FINISHED, self._on_request)

    @classmethod
    def from_config(
        cls, config: CentwiseConfig, events: EventHub, tracer_provider: Any = None
    ) -> SpanExporter | None:
        if not config.observability.otel:
            return None
        try:
            from opentelemetry import trace
        except ImportError:
            log.warning(
                "[observability] otel is on but OpenTelemetry is not installed: "
                "pip install 'centwise[otel]'"
            )
            return None
        provider = tracer_provider or trace.get_tracer_provider()
        return cls(events, provider.get_tracer("centwise"))

    def _on_request(self, rec: RequestRecord) -> None:
        from opentelemetry.trace import SpanKind, Status, StatusCode

        start_ns = int(rec.started_at * 1e9)
        end_ns = max(int(rec.finished_at * 1e9), start_ns)
        span = self._tracer.start_span(
            f"chat {rec.model or ''}".strip(),
            kind=SpanKind.CLIENT,
            start_time=start_ns,
            attributes=span_attributes(rec),
        )
        if rec.status not in ("ok", "cancelled"):
            span.set_status(Status(StatusCode.ERROR, rec.error_kind or rec.status))
        span.end(end_time=end_ns)

    def close(self) -> None:
        self._off()
