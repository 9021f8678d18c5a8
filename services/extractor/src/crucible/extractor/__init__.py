"""Extractor: app database rows -> Records on crucible.records.raw."""

from importlib.metadata import version

__version__ = version("crucible-extractor")
