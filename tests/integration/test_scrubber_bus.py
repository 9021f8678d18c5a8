"""The scrubber under the common stage worker on a real nats-server, fed the demo database's own
records (the extractor's real mapping) plus one record built to slip past the recognizers:
no planted value appears in any crucible.records.scrubbed message or in the logs; the slipping
record lands in the scrubber's DLQ with reason residual_pii and no value in its headers; the
run summary has the counts."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import re
import time
from pathlib import Path

import pytest
from bus_reading import batch_records, drain_messages

from crucible.common import subjects
from crucible.common.bus import H_DETAIL, H_REASON
from crucible.common.worker import StageWorker
from crucible.v1 import records_pb2

pytest.importorskip("crucible.extractor.demo.generator")


def _demo_records(tmp_path: Path, users: int, run_id: str) -> list[records_pb2.Record]:
    from crucible.extractor.demo.generator import write_demo
    from crucible.extractor.mapping import ExtractionContext, map_rows
    from crucible.extractor.source import SOURCE_TABLES, SourceDatabase, assemble

    path = tmp_path / "demo.db"
    write_demo(path, users, 11)
    db = SourceDatabase(f"sqlite:///{path}")
    ctx = ExtractionContext(db.label, b"test-secret", run_id, dt.datetime.now(dt.UTC), 0.0, "test")
    out: list[records_pb2.Record] = []
    try:
        for name, spec in SOURCE_TABLES.items():
            for rows in db.chunks(db.check(spec), dt.datetime(1970, 1, 1, tzinfo=dt.UTC), None, 512):
                out.extend(map_rows(assemble(db, name, rows), ctx).records)
    finally:
        db.close()
    return out


def _planted(rec: records_pb2.Record) -> list[str]:
    names = [n for ns in json.loads(rec.private_context["known_entities"]).values() for n in ns]
    return [v for v in names + json.loads(rec.private_context.get("known_identifiers", "[]")) if len(v) >= 3]


def _mentioned(value: str, text: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(value.lower())}(?!\w)", text.lower()) is not None


def test_planted_pii_never_reaches_the_scrubbed_stream_or_logs(embedded_nats, runtime, tmp_path, caplog) -> None:
    from crucible.scrubber.service import SPEC

    raw = _demo_records(tmp_path, users=12, run_id=runtime.run_id)
    slipping = records_pb2.Record(record_id="slip", extraction=records_pb2.Extraction(run_id=runtime.run_id))
    slipping.turns.add(role="user", text="we met at blue-heron bistro, right by 12, linden street")
    slipping.private_context["known_entities"] = json.dumps({"User": ["Tomasz"]})
    slipping.private_context["known_identifiers"] = json.dumps(["Blue Heron Bistro", "12 Linden Street"])
    inputs = [*raw, slipping]
    planted = {r.record_id: _planted(r) for r in inputs}
    caplog.set_level(logging.DEBUG)

    async def scenario() -> None:
        bus = await runtime.connect(embedded_nats.url)
        block = SPEC.build_stage(runtime)
        worker = StageWorker(block.stage, bus, consumes=SPEC.consumes, produces=SPEC.produces, sink=block.sink)
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        for i in range(0, len(inputs), 64):
            batch = records_pb2.RecordBatch(records=inputs[i : i + 64])
            await bus.publish(subjects.RAW, batch.SerializeToString(), msg_id=f"raw-{i}")
        deadline = time.monotonic() + 120
        while worker.stats.records_in < len(inputs):
            assert time.monotonic() < deadline, worker.stats.as_dict()
            await asyncio.sleep(0.1)
        stop.set()
        await task

        scrubbed = [
            r
            for m in await drain_messages(bus, subjects.SCRUBBED, subjects.STREAM_RECORDS, "test-scrubbed")
            for r in batch_records(m)
        ]
        assert len(scrubbed) == len(raw)
        for rec in scrubbed:
            assert not rec.private_context and rec.provenance[-1].stage == "scrubber"
            text = "\n".join(t.text for t in rec.turns)
            for value in planted[rec.record_id]:
                assert not _mentioned(value, text), (rec.record_id, value)

        dlq = await drain_messages(bus, subjects.dlq("scrubber"), subjects.STREAM_DLQ, "test-dlq")
        assert len(dlq) == 1
        headers = dlq[0].headers or {}
        assert headers[H_REASON] == "residual_pii"
        assert "heron" not in headers.get(H_DETAIL, "").lower() and "linden" not in headers.get(H_DETAIL, "").lower()

        summary = SPEC.run_summary(runtime, runtime.run_id)
        assert summary["records_scrubbed"] == len(raw)
        assert summary["residual_rejections"] == 1
        assert summary["redactions"].get("User", 0) > 0
        await runtime.close()

    asyncio.run(scenario())
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for values in planted.values():
        for value in values:
            assert not _mentioned(value, logged), value
