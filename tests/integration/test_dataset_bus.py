"""The dataset service on a real nats-server: curated records into the store through the common
stage worker, `dataset.ready` on a build, and `subject.forget` handled by the serve loop."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import select

from crucible.common import subjects
from crucible.common.config import load_policy
from crucible.common.registry import CuratedRecord, DatasetVersion
from crucible.common.runtime import Runtime
from crucible.common.serving import consume_events
from crucible.common.worker import StageWorker
from crucible.dataset.forget import subject_token_for
from crucible.dataset.policy import DatasetPolicy
from crucible.dataset.sample_records import generate_curated_records
from crucible.dataset.service import SPEC, build
from crucible.dataset.store import count_records
from crucible.v1 import events_pb2, records_pb2


@pytest.fixture
def rt(settings) -> Runtime:
    policy = load_policy(
        None, section_models={"dataset": DatasetPolicy}, overrides={"dataset.auto_build_check_seconds": 0.2}
    )
    runtime = Runtime.create(settings, policy=policy)
    yield runtime
    runtime.registry.dispose()


async def _wait(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not reached in time")


async def _next_event(bus, name: str, durable: str, timeout: float = 30.0) -> bytes:
    sub = await bus.js.pull_subscribe(subjects.event(name), durable=durable, stream=subjects.STREAM_EVENTS)
    msgs = await sub.fetch(1, timeout=timeout)
    await msgs[0].ack_sync()
    return msgs[0].data


def test_curated_records_flow_into_the_store_and_a_build_announces_itself(rt, embedded_nats) -> None:
    records = generate_curated_records(300, seed=6)
    bad = records_pb2.Record(record_id="bad", subject_token="t", category="gossip")

    async def scenario() -> None:
        bus = await rt.connect(embedded_nats.url)
        stop = asyncio.Event()
        block = SPEC.build_stage(rt)
        worker = StageWorker(block.stage, bus, consumes=SPEC.consumes, produces=SPEC.produces, sink=block.sink)
        task = asyncio.create_task(worker.run(stop))
        try:
            for i in range(0, len(records), 50):
                batch = records_pb2.RecordBatch(records=records[i : i + 50])
                await bus.publish(subjects.CURATED, batch.SerializeToString(), msg_id=f"c{i}")
            # The same batch again under another message id: redelivery must not duplicate.
            await bus.publish(
                subjects.CURATED, records_pb2.RecordBatch(records=[*records[:50], bad]).SerializeToString(),
                msg_id="again",
            )  # fmt: skip

            async def stored() -> bool:
                return count_records(rt.registry) == len(records) and worker.stats.rejected.get("unknown_category") == 1

            await _wait(stored)
            summary = await build(rt)
            data = await _next_event(bus, subjects.DATASET_READY, "test-dataset-ready")
            event = events_pb2.DatasetReady.FromString(data)
            assert event.dataset_version == summary["dataset_version"]
            assert dict(event.split_counts) == summary["split_counts"]
            assert event.manifest_uri == summary["manifest_uri"]
            assert summary["published"] == subjects.DATASET_READY
        finally:
            stop.set()
            await task
            await rt.close()

    asyncio.run(scenario())
    with rt.registry.session() as s:
        stamped = s.scalars(select(CuratedRecord.stage_versions)).first()
    assert stamped["dataset"] == SPEC.version and stamped["dedup"] == "0.1.0"


def test_serve_forgets_on_the_event_and_auto_builds(rt, embedded_nats) -> None:
    token = subject_token_for(rt.subject_secret(), "user-99")
    records = generate_curated_records(1200, seed=3)
    for r in records[:5]:
        r.subject_token = token

    async def scenario() -> None:
        from crucible.dataset.store import upsert_records

        upsert_records(rt.registry, records)  # 1,200 new records >= the 1,000 threshold
        bus = await rt.connect(embedded_nats.url)
        serve = asyncio.gather(SPEC.serve(rt), consume_events(rt, SPEC, asyncio.Event()))
        try:

            async def built() -> bool:
                with rt.registry.session() as s:
                    return s.scalar(select(DatasetVersion.version)) is not None

            await _wait(built)
            event = events_pb2.SubjectForget(subject_token=token, requested_by="test")
            await bus.publish_event(subjects.SUBJECT_FORGET, event)

            async def forgotten() -> bool:
                with rt.registry.session() as s:
                    return not s.scalars(select(CuratedRecord).where(CuratedRecord.subject_token == token)).all()

            await _wait(forgotten)
        finally:
            serve.cancel()
            await asyncio.gather(serve, return_exceptions=True)
            await rt.close()

    asyncio.run(scenario())
    with rt.registry.session() as s:
        (version,) = s.scalars(select(DatasetVersion)).all()
        assert version.contains_forgotten_subject is True
