"""The feedback table: once per response id, forgotten by subject token, and joined to the scrubbed
interaction wherever the pipeline put it (curated store first, then the scorer's rejections, then the
review queue). Plus the message id of a revised record (an interaction with its feedback merged)."""

from __future__ import annotations

from crucible.common.feedback import FeedbackRow, feedback_examples, forget_feedback, store_feedback
from crucible.common.registry import CuratedRecord, Registry, RejectionRow, ReviewItem
from crucible.common.worker import output_msg_id
from crucible.v1 import records_pb2


def _interaction(rid: str, prompt: str, answer: str, **context: str) -> records_pb2.Record:
    r = records_pb2.Record(record_id=rid, kind=records_pb2.RECORD_KIND_INTERACTION, subject_token="tok")
    r.turns.add(role="user", text=prompt, speaker="user")
    r.turns.add(role="assistant", text=answer, speaker="model")
    r.context.update(context)
    r.quality.total = 6.5
    return r


def _row(response_id: str, record_id: str, rating: int, token: str = "tok") -> FeedbackRow:
    return FeedbackRow(
        response_id=response_id, record_id=record_id, variant="canary", model="m2", rollout_id="r1",
        stage_index=1, rating=rating, advice_accepted=rating > 5, positive_outcome=None, action_taken=None,
        text_chars=4, subject_token=token, caller="",
    )  # fmt: skip


def test_feedback_rows_join_their_scrubbed_interactions(tmp_path) -> None:
    registry = Registry(f"sqlite:///{tmp_path / 'r.db'}")
    registry.migrate()
    try:
        assert store_feedback(registry, _row("a", "ia", 9))
        assert not store_feedback(registry, _row("a", "ia", 1))  # the first feedback on an answer counts
        assert store_feedback(registry, _row("b", "ib", 2))
        assert store_feedback(registry, _row("c", "ic", 5))
        assert store_feedback(registry, _row("d", "", 7))  # exchange never published: nothing to join
        assert store_feedback(registry, _row("e", "ie", 7, token="other"))  # not through the pipeline yet
        curated = _interaction("ia", "[Person] never listens", "Try a walk.", feedback_text="great, thanks")
        with registry.session() as s:
            s.add(
                CuratedRecord(
                    record_id="ia",
                    subject_token="tok",
                    source_table="interactions",
                    source_key="a",
                    kind="RECORD_KIND_INTERACTION",
                    cluster_id="ia",
                    record=curated.SerializeToString(),
                )
            )
            s.add(
                RejectionRow(
                    stage="scorer",
                    record_id="ib",
                    reason="below_quality",
                    record=_interaction("ib", "hi", "no").SerializeToString(),
                )
            )
            s.add(
                ReviewItem(
                    record_id="ic",
                    stage="scorer",
                    reason="flagged_for_review",
                    record=_interaction("ic", "help", "call 988").SerializeToString(),
                )
            )
        examples = {e.response_id: e for e in feedback_examples(registry)}
        assert set(examples) == {"a", "b", "c"}
        a = examples["a"]
        assert (a.prompt, a.answer, a.rating, a.where, a.feedback_text) == (
            "[Person] never listens",
            "Try a walk.",
            9,
            "curated",
            "great, thanks",
        )
        assert (a.variant, a.model, a.subject_token, a.cluster_id, a.quality) == ("canary", "m2", "tok", "ia", 6.5)
        assert examples["b"].where == "rejected" and examples["c"].where == "held"
        assert forget_feedback(registry, "tok") == 4
        assert [e.response_id for e in feedback_examples(registry)] == []
    finally:
        registry.dispose()


def test_a_revised_record_gets_its_own_message_id() -> None:
    first = records_pb2.Record(record_id="i1")
    revised = records_pb2.Record(record_id="i1")
    revised.context["revision"] = "feedback"
    assert output_msg_id([first], "scorer") != output_msg_id([revised], "scorer")
    assert output_msg_id([revised], "scorer") == output_msg_id([revised], "scorer")  # still stable
    other = records_pb2.Record(record_id="x")
    assert output_msg_id([first, other], "s") != output_msg_id([revised, other], "s")
