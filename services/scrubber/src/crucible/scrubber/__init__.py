"""Scrubber: PII out of every record before it leaves the raw stream."""

from importlib.metadata import version

__version__ = version("crucible-scrubber")
