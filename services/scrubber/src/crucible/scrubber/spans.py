"""Detected spans and the one placeholder per entity type."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# entity type -> placeholder written into the scrubbed text. One placeholder per type, so a
# model trained on the output learns one token per kind of thing; documented in docs/scrubber.md.
PLACEHOLDERS: dict[str, str] = {
    "USER": "[User]",
    "PARTNER": "[Partner]",
    "PERSON": "[Person]",
    "ORGANIZATION": "[Workplace]",
    "STREET_ADDRESS": "[Address]",
    "EMAIL_ADDRESS": "[Email]",
    "PHONE_NUMBER": "[Phone]",
    "CREDIT_CARD": "[Card]",
    "IBAN_CODE": "[IBAN]",
    "US_SSN": "[SSN]",
    "IP_ADDRESS": "[IP]",
    "URL": "[URL]",
    "SOCIAL_HANDLE": "[Handle]",
    "ACCOUNT_ID": "[ID]",
    "US_DRIVER_LICENSE": "[License]",
    "NATIONAL_ID": "[NationalID]",
    "KNOWN_IDENTIFIER": "[Redacted]",
}

# `known_entities` labels (as the extractor and `crucible scrub` input spell them) -> entity type.
KNOWN_LABELS: dict[str, str] = {"user": "USER", "partner": "PARTNER", "person": "PERSON"}

# Where two detections overlap, the higher rank wins at equal length: exact, validated
# detectors beat heuristics.
RANK: dict[str, int] = {
    "EMAIL_ADDRESS": 10,
    "URL": 9,
    "IBAN_CODE": 9,
    "CREDIT_CARD": 9,
    "US_SSN": 9,
    "IP_ADDRESS": 9,
    "KNOWN_IDENTIFIER": 8,
    "USER": 8,
    "PARTNER": 8,
    "SOCIAL_HANDLE": 7,
    "ACCOUNT_ID": 7,
    "US_DRIVER_LICENSE": 7,
    "NATIONAL_ID": 7,
    "PHONE_NUMBER": 6,
    "STREET_ADDRESS": 5,
    "ORGANIZATION": 4,
    "PERSON": 3,
}


@dataclass(frozen=True, order=True)
class Span:
    start: int
    end: int
    entity_type: str
    score: float = 1.0

    def __len__(self) -> int:
        return self.end - self.start

    def overlaps(self, other: Span) -> bool:
        return self.start < other.end and other.start < self.end


def resolve_overlaps(spans: Iterable[Span]) -> list[Span]:
    """Non-overlapping spans, longest (then highest rank) first; the result is sorted by start.

    The chosen spans do not overlap, so kept in start order their ends are in order too: a
    candidate can only overlap the chosen span just before where its end would go (a bisection,
    not a scan of every chosen span: linear cost on PII-dense text)."""
    starts: list[int] = []
    chosen: list[Span] = []
    ordered = sorted(spans, key=lambda s: (s.start - s.end, -RANK.get(s.entity_type, 0), s.start))
    for span in ordered:
        if span.end <= span.start:
            continue
        i = bisect_left(starts, span.end)
        if i > 0 and chosen[i - 1].end > span.start:
            continue
        starts.insert(i, span.start)
        chosen.insert(i, span)
    # Already in order: each span went in where its start belongs, and non-empty spans that do
    # not overlap have distinct starts, so this is the order `sorted` would give.
    return chosen


class SpanIndex:
    """Spans (which may overlap one another) found by position: `overlapping(start, end)` yields
    those that overlap [start, end), each with its position in the list it was built from. A span
    overlapping [start, end) starts after `start - longest`, so only that window is looked at."""

    def __init__(self, spans: Sequence[Span]) -> None:
        self._order = sorted(range(len(spans)), key=lambda i: spans[i].start)
        self._spans = [spans[i] for i in self._order]
        self._starts = [s.start for s in self._spans]
        self._longest = max((len(s) for s in spans), default=0)

    def covers(self, start: int, end: int) -> bool:
        """Whether one span holds all of [start, end): it starts at or before `start` and, reaching
        `end`, at or after `end - longest` (no list is built: asked once per run found)."""
        lo = bisect_left(self._starts, end - self._longest)
        hi = bisect_right(self._starts, start)
        return any(self._spans[j].end >= end for j in range(lo, hi))

    def overlapping(self, start: int, end: int) -> list[tuple[int, Span]]:
        lo = bisect_right(self._starts, start - self._longest)
        hi = bisect_left(self._starts, end)
        return [(self._order[j], s) for j, s in enumerate(self._spans[lo:hi], lo) if s.end > start]


def placeholder(entity_type: str) -> str:
    return PLACEHOLDERS.get(entity_type, "[Redacted]")
