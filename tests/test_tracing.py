"""OpenTelemetry spans through strawberry's extension, when tracing is on."""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

EXPORTER = InMemorySpanExporter()


def _provider() -> None:
    # The global provider can be set once per process; a deployment sets its own.
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(EXPORTER))
        trace.set_tracer_provider(provider)


async def test_an_operation_is_traced_when_tracing_is_on(start_api: Any) -> None:
    _provider()
    EXPORTER.clear()
    api = await start_api(tracing=True)
    await api.data('query Traced { product(id: "p1") { id } viewer { id } }')
    names = [span.name for span in EXPORTER.get_finished_spans()]
    assert "GraphQL Query: Traced" in names
    assert any("product" in name for name in names)


async def test_nothing_is_traced_by_default(start_api: Any) -> None:
    _provider()
    EXPORTER.clear()
    api = await start_api()
    await api.data('query Quiet { product(id: "p1") { id } }')
    assert EXPORTER.get_finished_spans() == ()
