"""Issue 25 item 5 on a real nats-server: a record whose `extraction.run_id` climbs out of the
artifact root (`../../…`) is dead-lettered as `invalid_id` at decode, before the stage or its sink
sees it; its batch-mates flow on, and nothing is written outside the root."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from bus_reading import batch_records, drain_messages
from worker_stages import PassThrough

from crucible.common import subjects
from crucible.common.artifacts import ArtifactStore
from crucible.common.bus import H_REASON, H_RECORD_ID, Bus
from crucible.common.config import BusPolicy
from crucible.common.worker import StageWorker
from crucible.v1 import records_pb2


def test_a_traversing_run_id_is_dead_lettered_and_writes_nothing_outside(embedded_nats, tmp_path: Path) -> None:
    from crucible.scrubber.tally import TallySink

    root = tmp_path / "deep" / "er" / "artifacts"
    store = ArtifactStore(root.as_uri())
    good = [records_pb2.Record(record_id=f"ok{i}", extraction=records_pb2.Extraction(run_id="run-1")) for i in range(3)]
    evil = records_pb2.Record(record_id="evil", extraction=records_pb2.Extraction(run_id="../../../escaped"))
    evil_id = records_pb2.Record(record_id="../../x\r\nNats-Msg-Id: forged")

    async def scenario() -> None:
        bus = await Bus.connect(embedded_nats.url, BusPolicy())
        worker = StageWorker(
            PassThrough(), bus, consumes=subjects.RAW, produces=subjects.SCRUBBED, sink=TallySink(store)
        )
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        batch = records_pb2.RecordBatch(records=[good[0], evil, good[1], evil_id, good[2]])
        await bus.publish(subjects.RAW, batch.SerializeToString(), msg_id="b1")
        deadline = time.monotonic() + 30
        while worker.stats.records_in < 5 or worker.stats.batches < 1:
            assert time.monotonic() < deadline, worker.stats.as_dict()
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        stop.set()
        await task
        out = [r.record_id for m in await drain_messages(bus, subjects.SCRUBBED, subjects.STREAM_RECORDS, "t-out")
               for r in batch_records(m)]  # fmt: skip
        dlq = await drain_messages(bus, subjects.dlq("scrubber"), subjects.STREAM_DLQ, "t-dlq")
        await bus.close()
        assert sorted(out) == ["ok0", "ok1", "ok2"]
        assert [m.headers[H_REASON] for m in dlq] == ["invalid_id", "invalid_id"]
        assert dlq[0].headers[H_RECORD_ID] == "evil"
        assert dlq[1].headers[H_RECORD_ID].startswith("invalid-")  # never the raw id in a header
        assert worker.stats.dlq["invalid_id"] == 2

    asyncio.run(scenario())
    written = list(tmp_path.rglob("*.json"))
    assert written and all(root in p.parents for p in written), written
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "deep" / "escaped").exists()
