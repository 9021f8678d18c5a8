"""HTTP spans: one server span per request, joined to the caller's trace, when traces are exported."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from crucible.gateway.http_tracing import TracingMiddleware


def test_a_span_per_request_in_the_callers_trace() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    async def fail(_: Request) -> Response:
        return Response(status_code=503)

    app = TracingMiddleware(Starlette(routes=[Route("/generate", fail, methods=["POST"])]))
    app.tracer = provider.get_tracer("test")
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    with TestClient(app) as client:
        client.post("/generate", headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"})
    (span,) = exporter.get_finished_spans()
    assert span.name == "POST /generate"
    assert format(span.context.trace_id, "032x") == trace_id
    assert span.attributes["http.response.status_code"] == 503
    assert not span.status.is_ok
