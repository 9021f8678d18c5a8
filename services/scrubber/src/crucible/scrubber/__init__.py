"""Scrubber: PII out of every record before it leaves the raw stream."""
