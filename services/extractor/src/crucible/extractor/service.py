"""Extractor service shell (placeholder until the extraction shell lands)."""

from crucible.common.services import ServiceSpec

SPEC = ServiceSpec(name="extractor", version="0.1.0", description="App database -> raw records", order=0)
