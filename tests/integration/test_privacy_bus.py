"""Privacy on a real bus: an opted-out person's rows never reach crucible.records.raw; forget
removes exactly their DLQ and EVENTS messages; retention removes exactly the messages older
than policy, and a dry run removes nothing."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from pathlib import Path

from crucible.common import subjects
from crucible.common.bus import Bus
from crucible.common.optout import add_optout, remove_optout
from crucible.common.privacy_keys import subject_token
from crucible.common.retention import run_retention
from crucible.common.stream_privacy import BUS_STORE, stream_messages
from crucible.common.subject_stores import ForgetRequest
from crucible.extractor.demo.generator import write_demo
from crucible.extractor.extraction import extract
from crucible.extractor.watermarks import reset_watermarks
from crucible.v1 import events_pb2, records_pb2


async def _raw_tokens(bus: Bus) -> list[str]:
    tokens = []
    async for msg in stream_messages(bus, subjects.STREAM_RAW):
        tokens += [r.subject_token for r in records_pb2.RecordBatch.FromString(msg.data).records]
    return tokens


def test_opted_out_rows_never_reach_raw(tmp_path: Path, runtime, nats_url: str) -> None:
    db = tmp_path / "demo.db"
    write_demo(db, 12, 5)
    con = sqlite3.connect(db)
    user_ids = [str(r[0]) for r in con.execute("SELECT DISTINCT user_id FROM conversations")]
    con.close()
    secret = runtime.subject_secret()
    out, stays = subject_token(secret, user_ids[0]), subject_token(secret, user_ids[1])
    add_optout(runtime.registry, out)

    async def main() -> None:
        bus = await runtime.connect(nats_url)
        report = (await extract(runtime, bus, source=str(db), days=3650)).to_dict()
        tokens = await _raw_tokens(bus)
        assert out not in tokens and stays in tokens
        assert report["excluded_subjects"] > 0
        assert report["rows"] == report["extracted"] + sum(report["failed"].values()) + report["excluded_subjects"]
        # Taken off the list, they are extracted again (the list is read at every run).
        remove_optout(runtime.registry, out)
        reset_watermarks(runtime.registry, report["source"])
        again = (await extract(runtime, bus, source=str(db), days=3650)).to_dict()
        assert again["excluded_subjects"] == 0 and out in await _raw_tokens(bus)
        await runtime.close()

    asyncio.run(main())


def _batch(rid: str, token: str) -> bytes:
    return records_pb2.RecordBatch(records=[records_pb2.Record(record_id=rid, subject_token=token)]).SerializeToString()


def test_forget_removes_exactly_their_dlq_and_event_messages(runtime, nats_url: str) -> None:
    async def main() -> None:
        bus = await runtime.connect(nats_url)
        await bus.publish(subjects.dlq("scorer"), _batch("theirs-1", "tok-a"))
        await bus.publish(subjects.dlq("scorer"), b"opaque", headers={"Crucible-Record-Id": "theirs-2"})
        await bus.publish(subjects.dlq("scorer"), _batch("other-1", "tok-b"))
        await bus.publish_event(subjects.SUBJECT_FORGET, events_pb2.SubjectForget(subject_token="tok-a"))
        await bus.publish_event(subjects.SUBJECT_FORGET, events_pb2.SubjectForget(subject_token="tok-b"))
        request = ForgetRequest(subject_token="tok-a", record_ids=frozenset({"theirs-1", "theirs-2"}))
        removed = await BUS_STORE.forget(runtime, request)
        assert removed == {"dlq_messages": 2, "events_messages": 1}
        left = [m.data async for m in stream_messages(bus, subjects.STREAM_DLQ)]
        assert left == [_batch("other-1", "tok-b")]
        events = [m.data async for m in stream_messages(bus, subjects.STREAM_EVENTS)]
        assert len(events) == 1 and b"tok-b" in events[0]
        await runtime.close()

    asyncio.run(main())


def test_retention_removes_exactly_what_is_older_and_dry_run_nothing(runtime, nats_url: str) -> None:
    async def main() -> None:
        bus = await runtime.connect(nats_url)
        for i in range(3):
            await bus.publish(subjects.dlq("scorer"), _batch(f"old-{i}", "t"))
            await bus.publish(subjects.RAW, _batch(f"old-raw-{i}", "t"))
        await asyncio.sleep(0.3)
        boundary = dt.datetime.now(dt.UTC)
        await asyncio.sleep(0.3)
        for i in range(2):
            await bus.publish(subjects.dlq("scorer"), _batch(f"new-{i}", "t"))
            await bus.publish(subjects.RAW, _batch(f"new-raw-{i}", "t"))
        # "Now" is such that the cutoff for both ages falls exactly between the two groups.
        policy = runtime.policy.privacy.retention
        policy.raw_days = policy.dlq_days
        now = boundary + dt.timedelta(days=policy.dlq_days)
        dry = await run_retention(runtime, dry_run=True, now=now, stores=[BUS_STORE])
        assert dry["stores"]["bus"]["dlq_messages"] == 3 and dry["stores"]["bus"]["raw_messages"] == 3
        assert len([m async for m in stream_messages(bus, subjects.STREAM_DLQ)]) == 5
        done = await run_retention(runtime, now=now, stores=[BUS_STORE])
        assert done["stores"]["bus"] == dry["stores"]["bus"]
        left = [records_pb2.RecordBatch.FromString(m.data).records[0].record_id
                async for m in stream_messages(bus, subjects.STREAM_DLQ)]  # fmt: skip
        assert left == ["new-0", "new-1"]
        assert len([m async for m in stream_messages(bus, subjects.STREAM_RAW)]) == 2
        await runtime.close()

    asyncio.run(main())


def test_forget_queues_a_retrain_on_the_redacted_version_when_policy_says(settings, nats_url: str) -> None:
    from crucible.common.config import load_policy
    from crucible.common.registry import ModelVersion
    from crucible.common.runtime import Runtime
    from crucible.dataset.policy import DatasetPolicy
    from crucible.dataset.sample_records import generate_curated_records
    from crucible.dataset.store import upsert_records
    from crucible.dataset.subject_store import STORE
    from crucible.dataset.versions import build_dataset_version

    policy = load_policy(None, {"dataset": DatasetPolicy}, overrides={"privacy.forget.retrain": True})
    rt = Runtime.create(settings, policy=policy)
    records = generate_curated_records(300, seed=4)
    token = records[0].subject_token
    upsert_records(rt.registry, records)
    version = build_dataset_version(rt).version
    with rt.registry.session() as s:
        s.add(ModelVersion(name="m1", dataset_version=version))

    async def main() -> None:
        bus = await rt.connect(nats_url)
        ids = frozenset(r.record_id for r in records if r.subject_token == token)
        report = await STORE.forget(rt, ForgetRequest(subject_token=token, record_ids=ids))
        assert report["marked_models"] == ["m1"] and report["retrain_queued"] == [version]
        subject = subjects.event(subjects.TRAIN_REQUESTED)
        queued = [events_pb2.TrainRequested.FromString(m.data) async for m in stream_messages(bus, "EVENTS", subject)]
        assert [q.dataset_version for q in queued] == [version]
        await rt.close()

    asyncio.run(main())
