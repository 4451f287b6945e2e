"""Optional OpenTelemetry export: one span per request with GenAI attributes."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from core.engine import Engine
from core.gateway.otel import SpanExporter

sdk_trace = pytest.importorskip("opentelemetry.sdk.trace")
in_memory = pytest.importorskip("opentelemetry.sdk.trace.export.in_memory_span_exporter")
export = pytest.importorskip("opentelemetry.sdk.trace.export")


async def test_one_span_per_request_with_genai_attributes(
    make_engine: Callable[..., Engine],
) -> None:
    engine = make_engine("[observability]\notel = true\n")
    memory = in_memory.InMemorySpanExporter()
    provider = sdk_trace.TracerProvider()
    provider.add_span_processor(export.SimpleSpanProcessor(memory))
    spans = SpanExporter.from_config(engine.config, engine.events, provider)
    assert spans is not None
    rec = await engine.ask("hello there", model="fast").collect()
    spans.close()
    await engine.ask("not traced", model="fast").collect()
    (span,) = memory.get_finished_spans()
    attrs = dict(span.attributes or {})
    assert attrs["gen_ai.request.model"] == "gpt-4.1-nano"
    assert attrs["gen_ai.usage.input_tokens"] == rec.usage.input_tokens
    assert attrs["gen_ai.usage.output_tokens"] == rec.usage.output_tokens
    assert attrs["centwise.request_id"] == rec.request_id
    assert span.end_time is not None and span.start_time is not None
    assert span.end_time >= span.start_time


def test_off_by_default(make_engine: Callable[..., Engine]) -> None:
    engine = make_engine()
    assert SpanExporter.from_config(engine.config, engine.events) is None
