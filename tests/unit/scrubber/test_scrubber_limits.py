"""Slow inputs (issue 25, item 10): a record over policy `scrubber.max_record_chars` is rejected with a
reason (and carries no text), and the scrubber's work grows linearly with PII-dense text. Work is
counted as Python function calls, which are deterministic for a given input (no clock involved)."""

from __future__ import annotations

import random
import sys

import pytest

from crucible.common.config import ConfigError, load_policy
from crucible.scrubber.core import TOO_LARGE, Scrubber
from crucible.scrubber.detect import Detector
from crucible.scrubber.offline import use_bundled_suffix_list
from crucible.scrubber.policy import ScrubberPolicy
from crucible.scrubber.spans import Span, SpanIndex, resolve_overlaps
from crucible.v1 import records_pb2

FIRST = ["John", "Maria", "Ahmed", "Priya", "Chen", "Olga", "Kwame", "Lucia", "Sven", "Aiko"]
LAST = ["Smith", "Garcia", "Khan", "Patel", "Wong", "Ivanova", "Mensah", "Rossi", "Berg", "Tanaka"]


def pii_dense(chars: int, seed: int = 1) -> str:
    """A name, a phone number, an email and a street address every ~150 characters."""
    rng = random.Random(seed)
    parts: list[str] = []
    size = 0
    while size < chars:
        f, last = rng.choice(FIRST), rng.choice(LAST)
        part = (
            f"My partner {f} {last} said to call {rng.randint(200, 999)}-555-{rng.randint(1000, 9999)} or write to "
            f"{f.lower()}.{last.lower()}{rng.randint(1, 99)}@example.com, we live at {rng.randint(1, 999)} Elm "
            "Street, Springfield. "
        )
        parts.append(part)
        size += len(part)
    return "".join(parts)[:chars]


@pytest.fixture(scope="module")
def detector() -> Detector:
    use_bundled_suffix_list()  # offline: tldextract would try to download the suffix list
    return Detector.create()


def record(rid: str, text: str) -> records_pb2.Record:
    r = records_pb2.Record(record_id=rid)
    r.turns.add(role="user", text=text)
    return r


def test_a_record_over_the_cap_is_rejected_with_a_reason_and_no_text(detector: Detector) -> None:
    scrubber = Scrubber(detector=detector, max_record_chars=5_000)
    big = record("big", pii_dense(6_000))
    small = record("small", pii_dense(400))
    result = scrubber.process([big, small])
    assert [r.record_id for r in result.kept] == ["small"]
    (rej,) = result.rejected
    assert (rej.record.record_id, rej.reason, rej.dlq) == ("big", TOO_LARGE, False)
    assert "6000 characters" in rej.detail and "max_record_chars" in rej.detail
    assert all(t.text == "" for t in rej.record.turns)
    assert "@example.com" not in rej.detail


def test_the_cap_comes_from_policy(tmp_path) -> None:
    path = tmp_path / "crucible.yaml"
    path.write_text("scrubber:\n  max_record_chars: 12345\n")
    policy = load_policy(path, section_models={"scrubber": ScrubberPolicy})
    assert policy.section("scrubber").max_record_chars == 12345
    path.write_text("scrubber:\n  max_record_chars: 10\n")
    with pytest.raises(ConfigError, match="max_record_chars"):
        load_policy(path, section_models={"scrubber": ScrubberPolicy})


def calls(fn) -> int:  # type: ignore[no-untyped-def]
    """Python-level calls (and generator resumptions) made while `fn()` runs."""
    n = 0

    def count(frame, event, arg):  # type: ignore[no-untyped-def]
        nonlocal n
        if event == "call":
            n += 1

    sys.setprofile(count)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return n


def test_scrubbing_work_grows_linearly_with_pii_dense_text(detector: Detector) -> None:
    scrubber = Scrubber(detector=detector, max_record_chars=10**7)
    small, large = record("s", pii_dense(10_000)), record("l", pii_dense(40_000))
    scrubber.process([small])  # warm caches
    ratio = calls(lambda: scrubber.process([large])) / calls(lambda: scrubber.process([small]))
    # 4x the text: linear work is about 4x the calls; the quadratic overlap checks made it about 10x.
    assert ratio < 5.5, ratio


def brute_resolve(spans: list[Span]) -> list[Span]:
    chosen: list[Span] = []
    for span in sorted(spans, key=lambda s: (-len(s), s.start)):
        if len(span) > 0 and not any(span.overlaps(c) for c in chosen):
            chosen.append(span)
    return sorted(chosen)


def test_the_fast_overlap_rules_match_the_plain_ones() -> None:
    rng = random.Random(3)
    for _ in range(300):
        spans = []
        for _ in range(rng.randint(0, 40)):
            start = rng.randint(0, 200)
            spans.append(Span(start, start + rng.randint(0, 25), "PERSON"))
        assert resolve_overlaps(spans) == brute_resolve(spans)
        index = SpanIndex(spans)
        a = rng.randint(0, 220)
        b = a + rng.randint(0, 30)
        expected = sorted(i for i, s in enumerate(spans) if s.start < b and s.end > a)
        assert sorted(i for i, _ in index.overlapping(a, b)) == expected
        if b > a:
            assert index.covers(a, b) == any(s.start <= a and b <= s.end for s in spans)
