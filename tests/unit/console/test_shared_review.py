"""`crucible.common.review`: the one way a held record is decided (CLI and console). Exactly one of two
reviewers wins an item, the other is told who did; a failed publish leaves the item pending."""

import asyncio
import threading

import pytest

from crucible.common import review, subjects
from crucible.common.registry import RejectionRow, ReviewItem
from crucible.console.bench import seed_review_items
from crucible.v1 import records_pb2


class RecordingBus:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[str, bytes, str | None]] = []
        self.fail = fail

    async def publish(self, subject: str, payload: bytes, *, msg_id: str | None = None) -> None:
        if self.fail:
            raise ConnectionError("nats: no servers available")
        self.sent.append((subject, payload, msg_id))


def test_second_decision_is_refused_naming_who_decided(runtime) -> None:
    (rid,) = seed_review_items(runtime.registry, 1)
    bus = RecordingBus()
    asyncio.run(review.approve(runtime.registry, bus, rid, by="ana", note="ok", stage_version="0.1.0"))
    with pytest.raises(review.AlreadyDecided, match="already approved by ana") as err:
        review.reject(runtime.registry, rid, by="bo")
    assert err.value.by == "ana" and err.value.status == "approved"
    ((subject, payload, msg_id),) = bus.sent
    assert subject == subjects.SCORED and msg_id == f"{rid}:scorer"
    (rec,) = records_pb2.RecordBatch.FromString(payload).records
    assert rec.record_id == rid and rec.provenance[-1].stage == "scorer" and rec.provenance[-1].version == "0.1.0"
    with pytest.raises(LookupError):
        review.reject(runtime.registry, "nope", by="bo")


def test_racing_reviewers_one_wins(runtime) -> None:
    (rid,) = seed_review_items(runtime.registry, 1)
    outcomes: list[str] = []
    gate = threading.Barrier(6)

    def decide(k: int) -> None:
        gate.wait()
        try:
            review.reject(runtime.registry, rid, by=f"reviewer{k}")
            outcomes.append("won")
        except review.AlreadyDecided:
            outcomes.append("told")

    threads = [threading.Thread(target=decide, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["told"] * 5 + ["won"]
    with runtime.registry.session() as s:
        item = s.get(ReviewItem, rid)
        assert item.status == "rejected" and item.decided_by.startswith("reviewer")
        assert s.get(RejectionRow, ("scorer", rid)).reason == "rejected_in_review"


def test_a_failed_publish_leaves_the_item_pending(runtime) -> None:
    (rid,) = seed_review_items(runtime.registry, 1)
    with pytest.raises(ConnectionError):
        asyncio.run(review.approve(runtime.registry, RecordingBus(fail=True), rid, by="ana", stage_version="0.1.0"))
    with runtime.registry.session() as s:
        item = s.get(ReviewItem, rid)
        assert (item.status, item.decided_by) == ("pending", "")
    ok = RecordingBus()
    asyncio.run(review.approve(runtime.registry, ok, rid, by="bo", stage_version="0.1.0"))
    assert len(ok.sent) == 1
