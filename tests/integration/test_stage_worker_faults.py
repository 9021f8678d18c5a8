"""The stage worker's fault paths against a real nats-server (issue 25, items 8-10): a bad record
costs only itself, dead letters of raw records carry no content, long batches are not handed to a
second replica, a core that names its culprits is not rerun, outputs fit the server's max_payload."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Sequence

from bus_reading import drain_messages
from worker_stages import PassThrough, make_records

from crucible.common import subjects, telemetry
from crucible.common.bus import H_REASON, H_RECORD_ID, Bus
from crucible.common.config import BusPolicy
from crucible.common.dead_letters import H_TTL
from crucible.common.stage import StageResult, each_record
from crucible.common.worker import StageWorker
from crucible.v1 import records_pb2


async def wait_until(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached in time")


async def run_until(workers: Sequence[StageWorker], done) -> None:
    stop = asyncio.Event()
    tasks = [asyncio.create_task(w.run(stop)) for w in workers]
    try:
        await wait_until(done)
    finally:
        stop.set()
        await asyncio.gather(*tasks)


def dlq_count(stage: str) -> float:
    return telemetry.STAGE_RECORDS.labels(stage, "dlq")._value.get()


async def outputs(bus: Bus) -> list[str]:
    msgs = await drain_messages(bus, subjects.SCRUBBED, subjects.STREAM_RECORDS, "reader")
    return [r.record_id for m in msgs for r in records_pb2.RecordBatch.FromString(m.data).records]


async def dead_letters(bus: Bus) -> list:
    return await drain_messages(bus, subjects.dlq("scrubber"), subjects.STREAM_DLQ, "dlq-reader")


def with_pii(records: list[records_pb2.Record]) -> list[records_pb2.Record]:
    for r in records:
        r.turns[0].text = f"I am Jane Roe, call me on 555-0100 ({r.record_id})"
        r.private_context["known_entities"] = '{"USER": ["Jane Roe"]}'
    return records


def test_an_undecodable_record_costs_only_itself_and_is_counted(embedded_nats) -> None:
    async def scenario() -> None:
        bus = await Bus.connect(embedded_nats.url, BusPolicy())
        good = make_records(4)
        bad = records_pb2.Record(record_id="bad").SerializeToString().replace(b"bad", b"\xff\xfe\xfd")
        frame = lambda b: b"\x0a" + bytes([len(b)]) + b  # noqa: E731 - field 1, length-delimited (< 128 bytes)
        mixed = b"".join(frame(r.SerializeToString()) for r in good[:2]) + frame(bad)
        mixed += b"".join(frame(r.SerializeToString()) for r in good[2:])
        await bus.publish(subjects.RAW, mixed, msg_id="mixed")
        await bus.publish(subjects.RAW, b"\x0a\xff\xff\xff", msg_id="garbage")  # a frame that lies about its length
        before = dlq_count("scrubber")
        worker = StageWorker(PassThrough(), bus, consumes="records.raw", produces="records.scrubbed")

        async def done() -> bool:
            return worker.stats.messages_in >= 2 and not worker.busy

        await run_until([worker], done)
        assert sorted(await outputs(bus)) == sorted(r.record_id for r in good)
        dlq = await dead_letters(bus)
        assert [m.headers[H_REASON] for m in dlq] == ["undecodable", "undecodable"]
        assert all(m.data == b"" for m in dlq), "raw bytes dead-lettered without policy leave"
        assert dlq_count("scrubber") - before == 2
        assert worker.stats.dlq == {"undecodable": 2}
        await bus.close()

    asyncio.run(scenario())


def test_a_raw_stage_exception_dead_letters_a_content_free_reference(embedded_nats) -> None:
    async def scenario() -> None:
        bus = await Bus.connect(embedded_nats.url, BusPolicy())
        records = with_pii(make_records(3, marks={1: "poison"}))
        records[1].source.table = "messages"
        records[1].source.key = "42"
        await bus.publish(subjects.RAW, records_pb2.RecordBatch(records=records).SerializeToString(), msg_id="in")
        worker = StageWorker(PassThrough(), bus, consumes="records.raw", produces="records.scrubbed")

        async def done() -> bool:
            return worker.stats.records_in >= 3 and not worker.busy

        await run_until([worker], done)
        (entry,) = await dead_letters(bus)
        assert entry.headers[H_REASON] == "stage_exception"
        (ref,) = records_pb2.RecordBatch.FromString(entry.data).records
        assert ref.record_id == "r000001" and ref.source.key == "42" and ref.subject_token == "t"
        assert not ref.turns and not ref.private_context and not ref.context
        assert b"Jane" not in entry.data and b"555-0100" not in entry.data
        await bus.close()

    asyncio.run(scenario())


def test_policy_may_keep_the_raw_payload_with_a_ttl(embedded_nats) -> None:
    async def scenario() -> None:
        policy = BusPolicy(dlq_raw_payload_ttl_seconds=1.0)
        bus = await Bus.connect(embedded_nats.url, policy)
        records = with_pii(make_records(2, marks={0: "poison"}))
        await bus.publish(subjects.RAW, records_pb2.RecordBatch(records=records).SerializeToString(), msg_id="in")
        worker = StageWorker(PassThrough(), bus, consumes="records.raw", produces="records.scrubbed", policy=policy)
        seen = await bus.nc.subscribe(subjects.dlq("scrubber"))  # the entry as stored, before it expires

        async def done() -> bool:
            return worker.stats.records_in >= 2 and not worker.busy

        await run_until([worker], done)
        msg = await seen.next_msg(timeout=10)
        assert msg.headers[H_TTL] == "1s"
        assert records_pb2.RecordBatch.FromString(msg.data).records[0].turns[0].text.startswith("I am Jane")

        async def expired() -> bool:
            return (await bus.js.stream_info(subjects.STREAM_DLQ)).state.messages == 0

        await wait_until(expired, timeout=30)
        await bus.close()

    asyncio.run(scenario())


class Counting:
    """Counts how often each record is processed; sleeps per batch; raises on `poison`, per record."""

    name = "scrubber"
    version = "test"

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def _one(self, record: records_pb2.Record) -> StageResult:
        with self._lock:
            self.calls[record.record_id] += 1
        if record.context.get("mark") == "poison":
            raise ValueError(f"cannot process {record.record_id}")
        return StageResult(kept=[record])

    def process(self, batch: Sequence[records_pb2.Record]) -> StageResult:
        if self.delay:
            time.sleep(self.delay)
        return each_record(batch, self._one)


def test_a_batch_longer_than_ack_wait_is_not_handed_to_a_second_replica(embedded_nats) -> None:
    async def scenario() -> None:
        policy = BusPolicy(batch_size=4, ack_wait_seconds=1.0)
        bus = await Bus.connect(embedded_nats.url, policy)
        records = make_records(4)
        await bus.publish(subjects.RAW, records_pb2.RecordBatch(records=records).SerializeToString(), msg_id="in")
        stage = Counting(delay=3.0)
        kw = {"consumes": "records.raw", "produces": "records.scrubbed", "policy": policy, "fetch_timeout": 0.2}
        workers = [StageWorker(stage, bus, **kw), StageWorker(stage, bus, **kw)]

        async def done() -> bool:
            if sum(w.stats.records_in for w in workers) < 4:
                return False
            pending, unacked = await bus.consumer_pending(subjects.STREAM_RAW, subjects.durable("scrubber"))
            return pending == 0 and unacked == 0 and not any(w.busy for w in workers)

        await run_until(workers, done)
        assert stage.calls == Counter({r.record_id: 1 for r in records}), "a replica redid a batch in hand"
        await bus.close()

    asyncio.run(scenario())


def test_a_core_that_names_its_culprit_is_not_rerun(embedded_nats) -> None:
    async def scenario() -> None:
        bus = await Bus.connect(embedded_nats.url, BusPolicy())
        records = make_records(20, marks={7: "poison"})
        await bus.publish(subjects.RAW, records_pb2.RecordBatch(records=records).SerializeToString(), msg_id="in")
        stage = Counting()
        worker = StageWorker(stage, bus, consumes="records.raw", produces="records.scrubbed")

        async def done() -> bool:
            return worker.stats.records_in >= 20 and not worker.busy

        await run_until([worker], done)
        assert set(stage.calls.values()) == {1}, "a record was processed twice to find the poison"
        assert sorted(await outputs(bus)) == [r.record_id for i, r in enumerate(records) if i != 7]
        (entry,) = await dead_letters(bus)
        assert (entry.headers[H_REASON], entry.headers[H_RECORD_ID]) == ("stage_exception", "r000007")
        await bus.close()

    asyncio.run(scenario())


class Inflate:
    """Keeps every record, padding each to the size in its `inflate` context (bytes)."""

    name = "scrubber"
    version = "test"

    def process(self, batch: Sequence[records_pb2.Record]) -> StageResult:
        out = StageResult()
        for r in batch:
            kept = records_pb2.Record()
            kept.CopyFrom(r)
            kept.turns[0].text += "x" * int(r.context.get("inflate", "0"))
            out.kept.append(kept)
        return out


def test_outputs_are_cut_to_max_payload_and_a_record_over_it_is_dead_lettered(embedded_nats) -> None:
    async def scenario() -> None:
        bus = await Bus.connect(embedded_nats.url, BusPolicy())
        limit = bus.max_payload
        records = make_records(6)
        for r in records:
            r.context["inflate"] = str(limit // 3)  # three of them would already be too large
        records[4].context["inflate"] = str(limit + 10)  # alone over the limit
        await bus.publish(subjects.RAW, records_pb2.RecordBatch(records=records).SerializeToString(), msg_id="in")
        worker = StageWorker(Inflate(), bus, consumes="records.raw", produces="records.scrubbed")

        async def done() -> bool:
            return worker.stats.records_in >= 6 and not worker.busy

        await run_until([worker], done)
        assert sorted(await outputs(bus)) == [r.record_id for i, r in enumerate(records) if i != 4]
        (entry,) = await dead_letters(bus)
        assert (entry.headers[H_REASON], entry.headers[H_RECORD_ID]) == ("oversized", "r000004")
        assert len(entry.data) < 1024, "the oversized record itself was dead-lettered"
        assert worker.stats.dlq == {"oversized": 1} and worker.stats.kept == 5
        await bus.close()

    asyncio.run(scenario())
