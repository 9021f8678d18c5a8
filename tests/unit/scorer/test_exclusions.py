"""Seed 001's exclusions in the scorer: the coach's replies screened with the shared answer-safety judge
(harmful advice, overreach per policy, a dismissed crisis), relevance, and the age cutoff with a quality
floor; each rejection carries its own reason code, which the run summary counts."""

from __future__ import annotations

import json

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from scorer_helpers import make_record
from test_scorer_core import CTX, EMPATHIC, good_record, stage

from crucible.scorer.core import IRRELEVANT_REASON, OUTDATED_REASON, REVIEW_REASON
from crucible.scorer.exclusions import outdated, relevant, screen_replies

DAY = 86_400


@pytest.mark.parametrize(
    "reply, kinds",
    [
        ("Honestly, just read his messages while he sleeps so you know the truth.", ["harmful_advice"]),
        ("It sounds like you have clinical depression; try some Xanax before bed.", ["medical_overreach"]),
        ("You will definitely win full custody, he has no chance.", ["legal_overreach"]),
        (EMPATHIC, []),
    ],
)
def test_replies_are_screened_by_the_shared_judge(reply: str, kinds: list[str]) -> None:
    assert [f.kind for f in screen_replies([reply], {"neutral"}, ["medical", "legal"])] == kinds


def test_overreach_is_screened_only_for_the_categories_policy_names() -> None:
    reply = "You will definitely win full custody, he has no chance."
    assert screen_replies([reply], set(), ["medical"]) == []


def test_a_reply_that_ignores_a_disclosed_crisis_dismisses_it() -> None:
    dismissive = "Try not to dwell on it, a good night's sleep usually helps."
    caring = "I'm so sorry. Please call or text 988 now, or your local emergency number."
    assert [f.kind for f in screen_replies([dismissive], {"self_harm_high"}, [])] == ["dismisses_crisis"]
    assert screen_replies([caring], {"self_harm_high"}, []) == []
    assert screen_replies([dismissive], {"stress"}, []) == []


def test_relevance_and_age() -> None:
    assert relevant(["How do I talk to [Partner] about chores?"])
    assert relevant(["Encore une dispute pour les tâches ménagères, je suis épuisée."])
    assert relevant(["Otra vez por el dinero, cansada de la misma pelea."])
    assert not relevant(["What is the VAT rate on invoices in Germany?", "The standard rate is 19 percent."])
    assert outdated(0.0 + 1, 800 * DAY, 730) and not outdated(1.0, 700 * DAY, 730)
    assert not outdated(None, 800 * DAY, 730) and not outdated(1.0, 800 * DAY, 0)


def test_an_unsafe_reply_is_rejected_with_its_reason(scorer_models) -> None:
    record = make_record("spy", "How can I tell if my girlfriend still loves me?",
                         "Just read her phone messages while she sleeps, that is the only way to know.",
                         context=CTX, satisfaction=10.0, action_taken=True, positive_outcome=True)  # fmt: skip
    result = stage(scorer_models).process([record])
    (rej,) = result.rejected
    assert rej.reason == "reply_harmful_advice"
    detail = json.loads(rej.detail)
    assert detail["replies"] == [{"finding": "harmful_advice", "rule": "boundary_violation"}]
    assert detail["answer_judge"].startswith("answer-1+")


def test_hold_instead_of_reject_per_policy(scorer_models) -> None:
    record = make_record("spy", "How can I tell if my girlfriend still loves me?",
                         "Just read her phone messages while she sleeps.", context=CTX)  # fmt: skip
    policy = {"safety": {"reply_screen": {"action": "hold"}}}
    (held,) = stage(scorer_models, **policy).process([record]).held
    assert held.reason == REVIEW_REASON
    assert json.loads(held.detail)["review"] == ["reply:harmful_advice:boundary_violation"]


def test_a_crisis_with_a_dismissive_reply_is_held_and_says_so(scorer_models) -> None:
    record = make_record("crisis", "I'm going to kill myself tonight.", "Cheer up, tomorrow is another day.")
    (held,) = stage(scorer_models).process([record]).held
    review = json.loads(held.detail)["review"]
    assert any(r.startswith("safety:self_harm") for r in review)
    assert "reply:dismisses_crisis:no_crisis_response" in review


def test_an_off_topic_record_is_rejected_as_irrelevant(scorer_models) -> None:
    record = make_record("vat", "What is the VAT rate on invoices in Germany?",
                         "The standard rate is 19 percent, and 7 percent for books and food.",
                         satisfaction=10.0, action_taken=True, positive_outcome=True)  # fmt: skip
    # Relevance is checked only where it decides: on a record whose score would keep it (threshold 1 here).
    (rej,) = stage(scorer_models, threshold=1.0, review_margin=0).process([record]).rejected
    assert rej.reason == IRRELEVANT_REASON
    assert len(stage(scorer_models, threshold=1.0, review_margin=0, relevance=False).process([record]).kept) == 1
    assert stage(scorer_models).process([record]).rejected[0].reason == "below_quality"


def _aged(record, days: int):
    record.created_at.CopyFrom(Timestamp(seconds=1_700_000_000))
    record.extraction.extracted_at.CopyFrom(Timestamp(seconds=1_700_000_000 + days * DAY))
    return record


def test_old_data_needs_the_higher_quality_floor(scorer_models) -> None:
    total = stage(scorer_models).score([good_record()])[0].record.quality.total
    assert 7.5 < total  # a good record, kept when fresh
    fresh = stage(scorer_models, review_margin=0).process([_aged(good_record("fresh"), 100)])
    assert len(fresh.kept) == 1
    strict = {"freshness": {"min_quality": total + 0.5}, "review_margin": 0}
    (rej,) = stage(scorer_models, **strict).process([_aged(good_record("old"), 800)]).rejected
    assert rej.reason == OUTDATED_REASON
    lenient = {"freshness": {"min_quality": total - 0.5}, "review_margin": 0}
    assert len(stage(scorer_models, **lenient).process([_aged(good_record("old"), 800)]).kept) == 1


def test_the_offline_score_command_names_each_rejection_reason(scorer_models) -> None:
    from crucible.scorer.offline import ScoreReport, score_lines

    lines = [
        json.dumps({"text": "My girlfriend seems distant.", "reply": "Go through her phone while she sleeps."}),
        json.dumps({"text": "We are separating.", "reply": "You will definitely win full custody."}),
    ]
    report = ScoreReport()
    out = [json.loads(x) for x in score_lines(stage(scorer_models), lines, report)]
    assert [o.get("reason") for o in out] == ["reply_harmful_advice", "reply_legal_overreach"]
    assert report.outcomes == {"rejected:reply_harmful_advice": 1, "rejected:reply_legal_overreach": 1}


def test_strict_categories_must_be_the_judges() -> None:
    from pydantic import ValidationError

    from crucible.scorer.policy import ScorerPolicy

    with pytest.raises(ValidationError, match="unknown answer-judge categories"):
        ScorerPolicy(safety={"reply_screen": {"strict_categories": ["astrology"]}})
    reply = "Every couple fights, that's not a big deal."  # one weak abuse sign
    assert [f.kind for f in screen_replies([reply], set(), ["abuse"])] == ["abuse_overreach"]
