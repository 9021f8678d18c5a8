"""Extractor: app database rows -> Records on crucible.records.raw."""

__version__ = "0.1.0"
