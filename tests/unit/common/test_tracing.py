"""The OpenTelemetry resource: the deployment's OTEL_SERVICE_NAME wins over the code's default name."""

from __future__ import annotations

import pytest

from crucible.common.tracing import tracing_resource


def test_default_service_name_without_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    assert tracing_resource("scrubber").attributes["service.name"] == "crucible-scrubber"


def test_otel_service_name_from_the_chart_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "crucible-gateway-eu")
    assert tracing_resource("gateway").attributes["service.name"] == "crucible-gateway-eu"
