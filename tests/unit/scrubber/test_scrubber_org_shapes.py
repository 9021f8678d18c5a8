"""Company names the capital-word scanner cannot see, after a workplace cue (org_shapes.py)."""

from __future__ import annotations

import pytest

from crucible.scrubber.detect import Detector


def _typed(detector: Detector, text: str) -> list[tuple[str, str]]:
    return [(text[s.start : s.end], s.entity_type) for s in detector.detect(text)]


@pytest.mark.parametrize(
    ("text", "org"),
    [
        ("I just got a promotion at Q&R Plumbing Supply!", "Q&R Plumbing Supply"),
        ("My shift at B&K starts at 9.", "B&K"),
        ("i got promoted at k&l today", "k&l"),
        ("I got a job at 9-Lanterns last week.", "9-Lanterns"),
        ("He works for van Drunen Logistics in the harbour.", "van Drunen Logistics"),
        ("I start at de Vries Bakkerij on Monday.", "de Vries Bakkerij"),
    ],
)
def test_shaped_names_after_a_cue_are_organisations(detector: Detector, text: str, org: str) -> None:
    assert (org, "ORGANIZATION") in _typed(detector, text)


@pytest.mark.parametrize(
    "text",
    [
        "I bought a coat from Q&R yesterday.",  # no workplace cue
        "We met at 5-ish, then left.",
        "I got a job offer from eBay sellers.",  # lower-case first letters are not taken
    ],
)
def test_shapes_without_a_workplace_cue_stay(detector: Detector, text: str) -> None:
    assert [t for _, t in _typed(detector, text) if t == "ORGANIZATION"] == []


def test_a_particle_surname_after_with_stays_a_person(detector: Detector) -> None:
    assert ("van Drunen", "ORGANIZATION") not in _typed(detector, "I had an interview with van Drunen today.")
