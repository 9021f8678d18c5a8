"""The demo-database figure labels as crisis exactly the rows the generator planted, from the data alone."""

from __future__ import annotations

import pytest

from crucible.scorer.demo_shift import demo_messages, is_crisis_reply


def test_resource_replies_are_crisis_and_everyday_replies_are_not() -> None:
    assert is_crisis_reply("Please call or text 988, or your local emergency number.")
    assert is_crisis_reply("A domestic violence hotline can help you plan next steps.")
    assert not is_crisis_reply("That sounds like a lovely evening. What made it work for you both?")


def test_detected_crisis_rows_match_what_the_generator_planted() -> None:
    # Tests may look inside the generator (the scorer itself never imports another service).
    demo_db = pytest.importorskip("crucible.extractor.demo_db")
    planted = demo_db.generate_demo(users=40, seed=7).planted
    messages = demo_messages(users=40, seed=7)
    detected = sum(c for _, _, c in messages)
    expected = planted["crisis_self_harm"] + planted["crisis_abuse"]
    # Near-duplicates may copy a crisis row (counted again); deleted accounts keep their rows.
    assert expected <= detected <= expected + max(3, expected // 5)
    assert not any(c for kind, _, c in messages if kind == "activity")
