"""The scorer core with the real trained models: what happens to a record."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scorer_helpers import make_record

from crucible.scorer.core import BELOW_REASON, REVIEW_REASON, ScorerStage
from crucible.scorer.policy import ScorerPolicy

# A reply that engages the message (MiniLM cosine 0.86). The generic "...you'd feel unheard. It seems like..."
# (0.43) earned the coherence point from v3's MiniLM replies, not from v4's static reply encoder (0.75).
EMPATHIC = ("That sounds really frustrating, and it makes sense you'd feel unheard when your partner doesn't listen "
            "about work. It seems like being listened to matters a lot to you. Would you like to think about how to "
            "share that with them?")  # fmt: skip
CTX = {"relationship_stage": "married", "relationship_type": "heterosexual", "culture": "us"}


def stage(models, **policy: object) -> ScorerStage:
    return ScorerStage(ScorerPolicy(**policy), models)


def good_record(rid: str = "good"):
    return make_record(rid, "I feel like my partner doesn't listen to me when I talk about work.", EMPATHIC,
                       context=CTX, satisfaction=9.0, action_taken=True, positive_outcome=True)  # fmt: skip


def test_a_good_record_is_kept_with_its_breakdown(scorer_models) -> None:
    result = stage(scorer_models).process([good_record()])
    assert len(result.kept) == 1 and not result.rejected and not result.held
    record = result.kept[0]
    q = record.quality
    assert q.total >= 8.0
    assert q.total == pytest.approx(sum(q.components.values()))
    assert {"coherence", "empathy", "response_chars", "turns"} <= set(q.measures)
    assert 0.0 <= q.measures["coherence"] <= 1.0 and q.measures["empathy"] >= 0.7
    assert record.category == "empathetic_dialogue"
    assert record.safety and all(0 <= s.score <= 1 for s in record.safety)


def test_a_weak_record_is_rejected_with_the_breakdown_as_reason(scorer_models) -> None:
    result = stage(scorer_models).process([make_record("weak", "date idea?", "Go bowling.", satisfaction=3.0)])
    assert len(result.rejected) == 1 and not result.kept and not result.held
    rej = result.rejected[0]
    assert rej.reason == BELOW_REASON
    detail = json.loads(rej.detail)
    assert detail["total"] < detail["threshold"] == 7.0
    assert set(detail["components"]) >= {"engagement.response_length", "content.coherence", "diversity.unique_context"}
    assert rej.record.quality.total == detail["total"]


@pytest.mark.parametrize(
    "text",
    [
        "I have the pills ready and I'm going to take them all tonight.",
        "He hit me again last night and I'm scared to go home.",
        "We planned a picnic. Honestly I don't want to be alive anymore, I keep thinking about ending it.",
    ],
)
def test_crisis_records_are_held_never_dropped_whatever_their_score(scorer_models, text: str) -> None:
    result = stage(scorer_models).process([make_record("crisis", text, "ok.", satisfaction=1.0)])
    assert not result.rejected and not result.kept
    (held,) = result.held
    assert held.reason == REVIEW_REASON
    detail = json.loads(held.detail)
    assert any(why.startswith("safety:") for why in detail["review"])
    assert detail["total"] < 7.0  # it would have been rejected on its score alone
    assert {s.label for s in held.record.safety} & {"self_harm_high", "self_harm_low", "unsafe_environment"}


def test_a_borderline_score_is_held(scorer_models) -> None:
    # Threshold moved to the good record's score: |score - threshold| = 0 <= 0.5.
    probe = stage(scorer_models).score([good_record()])[0]
    total = probe.record.quality.total
    result = stage(scorer_models, threshold=total).process([good_record()])
    assert [h.reason for h in result.held] == [REVIEW_REASON]
    assert json.loads(result.held[0].detail)["review"] == ["near_threshold"]
    # Far from the threshold, kept; with the margin off, kept at the threshold too.
    assert stage(scorer_models, threshold=max(0.0, total - 2)).process([good_record()]).kept
    assert stage(scorer_models, threshold=total, review_margin=0.0).process([good_record()]).kept


def test_the_run_threshold_overrides_the_policy(scorer_models) -> None:
    record = make_record("r", "date idea?", "Go bowling.", satisfaction=3.0)
    record.extraction.min_quality = 0.5
    scored = stage(scorer_models).score([record])[0]
    assert scored.threshold == 0.5 and scored.outcome in ("kept", "held")


def test_a_synthetic_record_meets_the_same_bar_on_the_points_it_can_earn(scorer_models) -> None:
    """No app signals can exist for a generated conversation (4 of the 10 points): its bar is 7.0 on
    the other 6 (4.2), so the same conversation passes as synthetic and not as a real record
    whose user gave no signals; a run's own min_quality still wins."""
    real = make_record("real", "I feel like my partner doesn't listen to me when I talk about work.", EMPATHIC,
                       context=CTX)  # fmt: skip
    synthetic = make_record("syn", "I feel like my partner doesn't listen to me when I talk about work.", EMPATHIC,
                            context=CTX)  # fmt: skip
    synthetic.source.table = "synthetic"
    for record in (real, synthetic):  # a longer exchange: the turns point too
        record.turns.add(role="user", text="I feel like my partner doesn't listen to me when I talk about work.")
        record.turns.add(role="assistant", text=EMPATHIC)
    scored_real, scored_synthetic = stage(scorer_models, review_margin=0.0).score([real, synthetic])
    assert scored_real.threshold == 7.0 and scored_synthetic.threshold == pytest.approx(4.2)
    assert scored_real.record.quality.total == scored_synthetic.record.quality.total < 7.0
    assert scored_real.outcome == "rejected" and scored_synthetic.outcome == "kept", scored_synthetic.detail
    synthetic.extraction.min_quality = 6.5
    assert stage(scorer_models).score([synthetic])[0].threshold == 6.5


def test_bad_signals_and_empty_records_never_crash(scorer_models) -> None:
    bad = make_record("bad", "What should we do this weekend?", "Try a picnic in the park with a book.",
                      satisfaction=42.0, helpfulness=-1.0)  # fmt: skip
    nan = make_record("nan", "hello", "hi", satisfaction=float("nan"))
    empty = make_record("empty", None, None)
    only_reply = make_record("reply", None, "Thanks for checking in today!")
    scored = {s.record.record_id: s for s in stage(scorer_models).score([bad, nan, empty, only_reply])}
    assert scored["bad"].record.quality.components["engagement.satisfaction"] == 0.0
    assert scored["bad"].record.quality.measures["signal_invalid.satisfaction"] == 1.0
    assert any("satisfaction 42" in i for i in scored["bad"].issues)
    assert any("satisfaction nan" in i for i in scored["nan"].issues)
    assert scored["empty"].outcome == "rejected" and "no assistant reply" in scored["empty"].issues
    assert scored["empty"].record.category == ""
    assert scored["reply"].outcome == "rejected"
    assert json.loads(scored["bad"].detail)["issues"]


def test_scores_do_not_depend_on_the_batch(scorer_models) -> None:
    records = [good_record(f"g{i}") for i in range(3)] + [
        make_record("w", "date idea?", "Go bowling."),
        make_record("x", "He hit me again. I'm scared to go home tonight.", "Your safety comes first."),
        make_record(
            "y", "We argued about the dishes and then laughed about it.", "It sounds like you repaired it well."
        ),
    ]

    def readings(scored) -> tuple:
        r = scored.record
        return (r.category, [s.label for s in r.safety], r.quality.measures["coherence"], [s.score for s in r.safety])

    one_by_one = [readings(stage(scorer_models).score([r])[0]) for r in records]
    batched = [readings(x) for x in stage(scorer_models).score(records)]
    reversed_batch = [readings(x) for x in stage(scorer_models).score(records[::-1])][::-1]
    # Per-token quantization: a sentence's vector depends on its own words, so neighbours change no label
    # and no number beyond float rounding (different padding widths sum in a different order).
    for alone, first, second in zip(one_by_one, batched, reversed_batch, strict=True):
        assert alone[:2] == first[:2] == second[:2]
        assert np.allclose([alone[2], *alone[3]], [first[2], *first[3]], atol=1e-5)
        assert np.allclose([alone[2], *alone[3]], [second[2], *second[3]], atol=1e-5)


def test_sentence_vectors_do_not_depend_on_batch_or_padding(scorer_models) -> None:
    encoder = scorer_models.encoder
    texts = ["I hope tomorrow is calmer.", "He checks my phone every night and won't let me see friends.", "Hi."]
    alone = np.stack([encoder.encode([t])[0] for t in texts])
    together = encoder.encode(texts)  # one call, the short ones padded to the longest
    assert np.abs(alone - together).max() < 1e-5
    # A dynamically quantized graph (one activation scale per batch) moved these by up to 0.03 in cosine.


def test_the_input_record_is_not_modified(scorer_models) -> None:
    record = good_record()
    before = record.SerializeToString()
    stage(scorer_models).process([record])
    assert record.SerializeToString() == before
