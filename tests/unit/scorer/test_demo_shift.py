"""The demo-database figure's crisis detector finds the generator's planted crisis rows, and only those."""

from __future__ import annotations

import pytest

from crucible.scorer.demo_shift import crisis_pieces, demo_messages, is_planted_crisis

demo_text = pytest.importorskip("crucible.extractor.demo_text")


def test_pieces_match_filled_fragments_and_not_everyday_text() -> None:
    pieces = crisis_pieces([*demo_text.CRISIS_SELF_HARM, *demo_text.CRISIS_ABUSE])
    for fragment in (*demo_text.CRISIS_SELF_HARM, *demo_text.CRISIS_ABUSE):
        filled = fragment.format_map({"partner": "[Partner]", "friend": "[Person]"})
        assert is_planted_crisis("Rough week. " + filled, pieces), fragment
    assert not is_planted_crisis("We cooked dinner together and it was lovely.", pieces)


def test_detected_crisis_rows_match_what_the_generator_planted() -> None:
    from crucible.extractor.demo_db import generate_demo

    planted = generate_demo(users=40, seed=7).planted
    messages = demo_messages(users=40, seed=7)
    detected = sum(c for _, _, c in messages)
    expected = planted["crisis_self_harm"] + planted["crisis_abuse"]
    # Near-duplicates may copy a crisis row (counted again); deleted accounts keep their rows.
    assert expected <= detected <= expected + max(3, expected // 5)
    assert not any(c for kind, _, c in messages if kind == "activity")
