"""Scrubber: PII out of every record before it leaves the raw stream."""

from importlib.metadata import version

from crucible.scrubber.native import activate

__version__ = version("crucible-scrubber")
# The compiled rules (native.py) when they are current; before any of those modules is imported.
NATIVE = activate(__path__)
