"""A server span per HTTP request, with the caller's W3C trace context, when traces are exported.

Installed by `create_app` only when `OTEL_EXPORTER_OTLP_ENDPOINT` is set: building a span per
request costs CPU on the serving path, worth it only when someone collects the spans.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.trace import SpanKind, Status, StatusCode

from crucible.common.tracing import extract_trace_context, tracer


class TracingMiddleware:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.tracer = tracer("gateway.http")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", ())}
        name = f"{scope['method']} {scope['path']}"
        with self.tracer.start_as_current_span(
            name, context=extract_trace_context(headers), kind=SpanKind.SERVER
        ) as span:
            span.set_attribute("http.request.method", scope["method"])
            span.set_attribute("url.path", scope["path"])

            async def traced_send(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(Status(StatusCode.ERROR))
                await send(message)

            await self.app(scope, receive, traced_send)
