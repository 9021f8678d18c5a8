"""Crucible's shared kernel: config, bus, stage worker, registry, artifacts, telemetry, CLI."""

__version__ = "0.1.0"
