"""Late feedback on a gateway interaction: merged into the stored interaction and scored with the real
scorer, so the satisfaction and outcome components count, exactly once however often it is redelivered."""

from __future__ import annotations

from crucible.scorer.core import ScorerStage
from crucible.scorer.feedback_merge import (
    FEEDBACK_TEXT,
    FEEDBACK_UPDATE,
    NO_INTERACTION,
    FeedbackMergingStage,
    merge_feedback,
)
from crucible.scorer.policy import ScorerPolicy
from crucible.v1 import records_pb2

REPLY = (
    "That sounds really frustrating, and it makes sense you'd feel unheard when your partner doesn't listen "
    "about work. Would you like to think about how to share that with them tonight?"
)


def interaction(rid: str = "i1") -> records_pb2.Record:
    r = records_pb2.Record(record_id=rid, kind=records_pb2.RECORD_KIND_INTERACTION, subject_token="tok")
    r.turns.add(role="user", text="I feel like my partner doesn't listen to me when I talk about work.", speaker="user")
    r.turns.add(role="assistant", text=REPLY, speaker="model")
    r.context.update({"variant": "canary", "model": "m2"})
    return r


def update(base_id: str = "i1", text: str = "that helped, thanks [PERSON_1]") -> records_pb2.Record:
    u = records_pb2.Record(record_id=f"{base_id}.feedback", kind=records_pb2.RECORD_KIND_INTERACTION)
    u.turns.add(role="user", text=text, speaker="feedback")
    u.context.update({FEEDBACK_UPDATE: base_id, "revision": "feedback"})
    u.signals.satisfaction = 9.0
    u.signals.action_taken = True
    u.signals.positive_outcome = True
    return u


def _stage(scorer_models, stored: dict[str, records_pb2.Record]) -> FeedbackMergingStage:
    core = ScorerStage(ScorerPolicy(threshold=1.0, review_margin=0.0), scorer_models)
    return FeedbackMergingStage(core, lambda ids: {i: stored[i] for i in ids if i in stored})


def test_merge_sets_signals_and_keeps_the_exchange() -> None:
    merged = merge_feedback(interaction(), update())
    assert merged.record_id == "i1" and [t.text for t in merged.turns] == [t.text for t in interaction().turns]
    assert merged.signals.satisfaction == 9.0 and merged.signals.positive_outcome
    assert merged.context[FEEDBACK_TEXT] == "that helped, thanks [PERSON_1]" and FEEDBACK_UPDATE not in merged.context
    assert merge_feedback(merged, update()) == merged  # applying it again changes nothing


def test_late_feedback_changes_the_score_exactly_once_under_redelivery(scorer_models) -> None:
    base_result = _stage(scorer_models, {}).process([interaction()])
    (base_scored,) = base_result.kept
    before = base_scored.quality
    assert before.components["engagement.satisfaction"] == 0.0 and before.components["outcome.action_taken"] == 0.0

    stage = _stage(scorer_models, {"i1": base_scored})  # the interaction as the curated store holds it
    first = stage.process([update()]).kept
    again = stage.process([update()]).kept  # a redelivery
    (merged,) = first
    assert merged.record_id == "i1"
    assert merged.quality.components["engagement.satisfaction"] > 0
    assert merged.quality.components["outcome.action_taken"] > 0
    assert merged.quality.components["outcome.positive_outcome"] > 0
    gained = merged.quality.total - before.total
    assert gained > 0
    assert [r.quality.total for r in again] == [merged.quality.total]  # the same score, not twice the gain

    # Redelivered *after* the merged version was stored: still the same score.
    stage_later = _stage(scorer_models, {"i1": merged})
    (later,) = stage_later.process([update()]).kept
    assert later.quality.total == merged.quality.total


def test_an_exchange_and_its_feedback_in_one_batch_score_once(scorer_models) -> None:
    out = _stage(scorer_models, {}).process([interaction(), update()]).kept
    assert [r.record_id for r in out] == ["i1"] and out[0].signals.satisfaction == 9.0


def test_feedback_without_its_interaction_is_rejected_with_a_reason(scorer_models) -> None:
    result = _stage(scorer_models, {}).process([update("nowhere")])
    assert result.kept == [] and [r.reason for r in result.rejected] == [NO_INTERACTION]
