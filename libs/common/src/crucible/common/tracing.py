"""OpenTelemetry tracing: W3C trace context in message headers, OTLP export when configured.

A record's trace follows it from the extractor to the dataset: each stage extracts the
context from the incoming message's headers, processes inside a span, and injects the
context into the outgoing message's headers.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

_configured = False


def setup_tracing(service_name: str) -> None:
    """Install a tracer provider once per process; export over OTLP when
    OTEL_EXPORTER_OTLP_ENDPOINT is set (otherwise spans exist only for propagation)."""
    global _configured
    if _configured:
        return
    provider = TracerProvider(resource=tracing_resource(service_name))
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _configured = True


def tracing_resource(service_name: str) -> Resource:
    """`crucible-<service>` unless OTEL_SERVICE_NAME is set: the deployment (the chart) names the service, and
    attributes given to Resource.create would override the environment's."""
    own = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": f"crucible-{service_name}"}
    return Resource.create(own)


def tracer(name: str) -> trace.Tracer:
    return trace.get_tracer(f"crucible.{name}")


def inject_trace_headers(headers: dict[str, str]) -> dict[str, str]:
    """Add `traceparent`/`tracestate` of the current span to `headers` (in place) and return it."""
    propagate.inject(headers)
    return headers


def extract_trace_context(headers: Mapping[str, str] | None) -> otel_context.Context:
    return propagate.extract(dict(headers or {}))
