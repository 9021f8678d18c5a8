"""Crucible's shared kernel: config, bus, stage worker, registry, artifacts, telemetry, CLI."""

from importlib.metadata import version

__version__ = version("crucible-common")
