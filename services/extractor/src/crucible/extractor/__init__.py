"""Extractor: app database rows -> Records on crucible.records.raw."""
