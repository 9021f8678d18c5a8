"""The demo-database figure labels as crisis exactly the rows the generator planted, from the data alone."""

from __future__ import annotations

from crucible.scorer.core import ScorerStage
from crucible.scorer.demo_shift import demo_messages, demo_shift, is_crisis_reply
from crucible.scorer.policy import ScorerPolicy


def test_resource_replies_are_crisis_and_everyday_replies_are_not() -> None:
    assert is_crisis_reply("Please call or text 988, or your local emergency number.")
    assert is_crisis_reply("A domestic violence hotline can help you plan next steps.")
    assert not is_crisis_reply("That sounds like a lovely evening. What made it work for you both?")


def test_detected_crisis_rows_match_what_the_generator_planted() -> None:
    # Tests may look inside the generator (the scorer itself never imports another service).
    from crucible.extractor.demo import generator as demo_db

    planted = demo_db.generate_demo(users=40, seed=7).planted
    messages = demo_messages(users=40, seed=7)
    detected = sum(c for _, _, c in messages)
    expected = planted["crisis_self_harm"] + planted["crisis_abuse"]
    # Near-duplicates may copy a crisis row (counted again); deleted accounts keep their rows.
    assert expected <= detected <= expected + max(3, expected // 5)
    assert not any(c for kind, _, c in messages if kind == "activity")


def test_every_planted_crisis_message_of_the_demo_app_is_held(scorer_models) -> None:
    # Messages the classifier never saw. Measured (v4, 100 users): 34 of 34 crisis rows held, 3.5 % of
    # ordinary rows held for a safety label.
    figures = demo_shift(ScorerStage(ScorerPolicy(), scorer_models), users=40, seed=7)
    assert figures["planted_crisis"] >= 10
    assert figures["crisis_recall"] == 1.0
    assert figures["false_review_rate"] <= 0.08
