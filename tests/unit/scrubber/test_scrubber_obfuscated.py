"""Emails and handles written to dodge scrapers are as personal as the plain forms."""

from __future__ import annotations

import pytest

from crucible.scrubber.detect import Detector


def _typed(detector: Detector, text: str) -> list[tuple[str, str]]:
    return [(text[s.start : s.end], s.entity_type) for s in detector.detect(text)]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("email me at john dot smith at gmail dot com", "john dot smith at gmail dot com"),
        ("my email is jsmith [at] yahoo [dot] com", "jsmith [at] yahoo [dot] com"),
        ("reach me: anna.k(at)proton.me", "anna.k(at)proton.me"),
        ("write to anna at gmail dot com", "anna at gmail dot com"),
        ("Email: john @ gmail.com", "john @ gmail.com"),
        ("contact: j.smith at outlook dot com", "j.smith at outlook dot com"),
    ],
)
def test_spelled_out_emails(detector: Detector, text: str, value: str) -> None:
    assert (value, "EMAIL_ADDRESS") in _typed(detector, text)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("insta: jenny.k89", "jenny.k89"),
        ("my snap is jkl_22", "jkl_22"),
        ("discord - wolfie#2231", "wolfie#2231"),
        ("my ig handle is @bella.rose", "@bella.rose"),
        ("my insta is jennykowalska", "jennykowalska"),
    ],
)
def test_handles_named_by_their_platform(detector: Detector, text: str, value: str) -> None:
    assert (value, "SOCIAL_HANDLE") in _typed(detector, text)


@pytest.mark.parametrize(
    "text",
    [
        "look at google dot com",  # a plain " at " before a site that is no mail provider
        "i am at home.com",
        "meet me at 5.30",
        "my insta is private",  # an English word after the platform
        "add me on insta lol",
        "He said hi at 3 dot 5",
    ],
)
def test_sentences_that_only_look_like_them(detector: Detector, text: str) -> None:
    assert [t for _, t in _typed(detector, text) if t in ("EMAIL_ADDRESS", "SOCIAL_HANDLE")] == []


def test_a_plain_email_is_left_to_the_email_pattern(detector: Detector) -> None:
    assert _typed(detector, "write to anna.k@proton.me today") == [("anna.k@proton.me", "EMAIL_ADDRESS")]
