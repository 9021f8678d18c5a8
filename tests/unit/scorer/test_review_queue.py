"""The sink and the review queue against a real (SQLite) registry: idempotent writes, decisions round-trip."""

from __future__ import annotations

import json

import pytest
from scorer_helpers import make_record
from sqlalchemy import func, select

from crucible.common.registry import RejectionRow, ReviewItem
from crucible.common.stage import Rejection, StageResult
from crucible.scorer.core import ScorerStage
from crucible.scorer.policy import ScorerPolicy
from crucible.scorer.store import (
    ScorerSink,
    pending_record,
    record_decision,
    rejection_counts,
    review_counts,
    review_item,
    review_items,
)
from crucible.v1 import records_pb2


def scored_result(models) -> StageResult:
    stage = ScorerStage(ScorerPolicy(), models)
    crisis = make_record("crisis-1", "I am going to kill myself tonight, I have the pills.", "Please call 988 now.")
    weak = make_record("weak-1", "date idea?", "Go bowling.")
    return stage.process([crisis, weak])


def count(runtime, model) -> int:
    with runtime.registry.session() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_rejected_and_held_are_persisted_once_per_record(runtime, scorer_models) -> None:
    result = scored_result(scorer_models)
    assert [h.record.record_id for h in result.held] == ["crisis-1"]
    assert [r.record.record_id for r in result.rejected] == ["weak-1"]
    sink = ScorerSink(runtime.registry, run_id="run-1")
    sink.persist(result)
    sink.persist(result)  # a redelivered batch
    assert count(runtime, RejectionRow) == 1 and count(runtime, ReviewItem) == 1
    with runtime.registry.session() as s:
        row = s.get(RejectionRow, ("scorer", "weak-1"))
        assert row.reason == "below_quality" and json.loads(row.detail)["total"] < 7
        assert records_pb2.Record.FromString(row.record).quality.total == json.loads(row.detail)["total"]
        item = s.get(ReviewItem, "crisis-1")
        assert item.status == "pending" and item.reason == "flagged_for_review"
        assert item.subject_token == "tok-crisis-1"
    assert rejection_counts(runtime.registry) == {"below_quality": 1}
    assert review_counts(runtime.registry) == {"pending": 1}


def test_review_round_trip_list_show_reject(runtime, scorer_models) -> None:
    ScorerSink(runtime.registry).persist(scored_result(scorer_models))
    (listed,) = review_items(runtime.registry)
    assert listed["record_id"] == "crisis-1" and listed["status"] == "pending"
    assert any(w.startswith("safety:") for w in listed["why"])
    shown = review_item(runtime.registry, "crisis-1")
    assert shown["turns"][0]["role"] == "user" and "components" in shown["breakdown"]
    record_decision(runtime.registry, "crisis-1", "rejected", by="alice", note="crisis: route to the safety team")
    assert review_items(runtime.registry) == []
    (done,) = review_items(runtime.registry, "rejected")
    assert done["status"] == "rejected"
    assert review_item(runtime.registry, "crisis-1")["decided_by"] == "alice"
    assert rejection_counts(runtime.registry)["rejected_in_review"] == 1
    with pytest.raises(ValueError, match="already rejected"):
        record_decision(runtime.registry, "crisis-1", "approved", by="bob", note="")
    with pytest.raises(ValueError, match="already rejected"):
        pending_record(runtime.registry, "crisis-1")
    with pytest.raises(LookupError):
        review_item(runtime.registry, "nope")


def test_a_decided_item_is_not_reopened_by_a_redelivery(runtime, scorer_models) -> None:
    result = scored_result(scorer_models)
    sink = ScorerSink(runtime.registry)
    sink.persist(result)
    record_decision(runtime.registry, "crisis-1", "rejected", by="alice", note="")
    sink.persist(StageResult(held=[Rejection(result.held[0].record, "flagged_for_review", "{}")]))
    assert review_counts(runtime.registry) == {"rejected": 1}
