"""The scorer under the common stage worker on a real nats-server, and the review queue's approve path:
kept records reach crucible.records.scored, weak ones stay in the registry, crisis ones wait for a person
and reach crucible.records.scored only once approved."""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

import pytest
from bus_reading import batch_records, drain_messages

from crucible.common import subjects
from crucible.common.artifacts import ArtifactStore
from crucible.common.bus import H_MSG_ID
from crucible.common.worker import StageWorker
from crucible.scorer.core import ScorerStage
from crucible.scorer.models import load_models
from crucible.scorer.policy import ScorerPolicy
from crucible.scorer.review import approve
from crucible.scorer.store import ScorerSink, rejection_counts, review_counts, review_items
from crucible.scorer.training import inputs_digest
from crucible.v1 import records_pb2

# A reply that engages the message (MiniLM cosine 0.86). The generic "...you'd feel unheard. It seems like..."
# (0.43) earned the coherence point from v3's MiniLM replies, not from v4's static reply encoder (0.75).
EMPATHIC = ("That sounds really frustrating, and it makes sense you'd feel unheard when your partner doesn't listen "
            "about work. It seems like being listened to matters a lot to you. Would you like to think about how to "
            "share that with them?")  # fmt: skip


@pytest.fixture(scope="module")
def scorer_models():
    # Same cache as tests/unit/scorer/conftest.py: trained once per version of the training inputs.
    root = Path(tempfile.gettempdir()) / f"crucible-scorer-test-models-{inputs_digest()[:16]}"
    return load_models(ArtifactStore(root.as_uri()), ScorerPolicy(), train_if_missing=True)


def record(rid: str, user: str, reply: str, **signals: object) -> records_pb2.Record:
    r = records_pb2.Record(record_id=rid, subject_token="tok-" + rid)
    r.turns.add(role="user", text=user)
    r.turns.add(role="assistant", text=reply)
    r.context.update({"relationship_stage": "married", "relationship_type": "heterosexual"})
    for k, v in signals.items():
        setattr(r.signals, k, v)
    return r


async def drain(bus, subject: str) -> list[tuple[str, records_pb2.Record]]:
    msgs = await drain_messages(bus, subject, subjects.STREAM_RECORDS, "test-drain")
    return [((m.headers or {}).get(H_MSG_ID, ""), r) for m in msgs for r in batch_records(m)]


def test_worker_scores_and_approve_publishes(embedded_nats, runtime, scorer_models) -> None:
    stage = ScorerStage(ScorerPolicy(), scorer_models)
    inputs = [
        record("good", "I feel like my partner doesn't listen to me when I talk about work.", EMPATHIC,
               satisfaction=9.0, action_taken=True, positive_outcome=True),
        record("weak", "date idea?", "Go bowling.", satisfaction=2.0),
        record("crisis", "I have the pills ready and I'm going to take them all tonight.", "Please call 988 now."),
    ]  # fmt: skip

    async def scenario() -> None:
        bus = await runtime.connect(embedded_nats.url)
        worker = StageWorker(
            stage, bus, consumes="records.scrubbed", produces="records.scored", sink=ScorerSink(runtime.registry)
        )
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        await bus.publish(subjects.SCRUBBED, records_pb2.RecordBatch(records=inputs).SerializeToString(), msg_id="in-1")
        deadline = time.monotonic() + 60
        while worker.stats.records_in < 3:
            assert time.monotonic() < deadline, worker.stats.as_dict()
            await asyncio.sleep(0.1)
        stop.set()
        await task
        scored = await drain(bus, subjects.SCORED)
        assert [r.record_id for _, r in scored] == ["good"]
        assert scored[0][1].quality.total >= 7 and scored[0][1].provenance[-1].stage == "scorer"
        assert rejection_counts(runtime.registry) == {"below_quality": 1}
        assert [i["record_id"] for i in review_items(runtime.registry)] == ["crisis"]

        result = await approve(runtime, "crisis", by="alice", note="handled by the safety team", bus=bus)
        assert result["status"] == "approved"
        published = await drain(bus, subjects.SCORED)
        assert [(mid, r.record_id) for mid, r in published] == [("crisis:scorer", "crisis")]
        assert published[0][1].safety[0].label in ("self_harm_high", "self_harm_low")
        assert review_counts(runtime.registry) == {"approved": 1}
        with pytest.raises(ValueError, match="already approved"):
            await approve(runtime, "crisis", by="alice", bus=bus)
        await runtime.close()

    asyncio.run(scenario())
