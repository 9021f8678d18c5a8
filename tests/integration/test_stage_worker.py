"""The stage worker against a real nats-server: nothing lost, nothing duplicated, poison isolated."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from bus_reading import batch_records, drain_messages
from worker_stages import FlakySink, PassThrough, make_records

from crucible.common import subjects
from crucible.common.bus import H_DELIVERIES, H_REASON, H_RECORD_ID, Bus
from crucible.common.config import BusPolicy
from crucible.common.worker import StageWorker
from crucible.v1 import records_pb2

HERE = Path(__file__).parent


async def publish_inputs(bus: Bus, records: list[records_pb2.Record], per_message: int) -> None:
    for i in range(0, len(records), per_message):
        chunk = records[i : i + per_message]
        payload = records_pb2.RecordBatch(records=chunk).SerializeToString()
        await bus.publish(subjects.RAW, payload, msg_id=f"in-{chunk[0].record_id}")


async def drain_subject(bus: Bus, subject: str, durable: str, stream: str) -> list[tuple[dict, list[str]]]:
    """Read (and ack) every message on a subject: (headers, record ids) per message."""
    msgs = await drain_messages(bus, subject, stream, durable)
    return [(dict(m.headers or {}), [r.record_id for r in batch_records(m)]) for m in msgs]


async def wait_until(predicate, timeout: float = 60.0, poll: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(poll)
    raise AssertionError("condition not reached in time")


def start_worker(url: str, delay: float, tmp: Path) -> subprocess.Popen:
    ready = tmp / f"ready-{time.monotonic_ns()}"
    env = dict(os.environ, PYTHONPATH=str(HERE))
    log = (tmp / f"{ready.name}.log").open("w")  # a file, not a pipe: a full pipe would block the worker
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "worker_main.py"), url, str(delay), str(ready)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    proc.log_path = Path(log.name)  # type: ignore[attr-defined]
    deadline = time.monotonic() + 30
    while not ready.exists():
        assert proc.poll() is None, proc.log_path.read_text()
        assert time.monotonic() < deadline, "worker did not start"
        time.sleep(0.05)
    return proc


async def output_messages(bus: Bus) -> int:
    info = await bus.js.stream_info(subjects.STREAM_RECORDS)
    return int(info.state.messages)


def test_killed_worker_loses_no_record_and_duplicates_none(embedded_nats, tmp_path: Path) -> None:
    async def scenario() -> None:
        bus = await Bus.connect(embedded_nats.url, BusPolicy())
        records = make_records(2000)
        await publish_inputs(bus, records, per_message=10)
        # Kill the worker three times at different points of the stream, then let a last one finish.
        for kill_after in (3, 60, 120):
            proc = start_worker(embedded_nats.url, 0.05, tmp_path)

            async def enough(n: int = kill_after) -> bool:
                return await output_messages(bus) >= n

            await wait_until(enough)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        proc = start_worker(embedded_nats.url, 0.0, tmp_path)

        async def drained() -> bool:
            pending, unacked = await bus.consumer_pending(subjects.STREAM_RAW, subjects.durable("scrubber"))
            return pending == 0 and unacked == 0

        await wait_until(drained, timeout=120)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        out = await drain_subject(bus, subjects.SCRUBBED, "reader", subjects.STREAM_RECORDS)
        ids = [i for _, batch in out for i in batch]
        assert len(ids) == len(set(ids)), "a record was delivered downstream twice"
        assert sorted(ids) == sorted(r.record_id for r in records), "a record was lost"
        await bus.close()

    asyncio.run(scenario())


def test_poison_records_go_to_the_dlq_with_reasons_while_the_rest_flow(embedded_nats) -> None:
    async def scenario() -> None:
        policy = BusPolicy(batch_size=16)
        bus = await Bus.connect(embedded_nats.url, policy)
        marks = {3: "poison", 17: "poison", 5: "reject", 40: "residual"}
        records = make_records(100, marks=marks)
        await publish_inputs(bus, records, per_message=8)
        stop = asyncio.Event()
        worker = StageWorker(PassThrough(), bus, consumes="records.raw", produces="records.scrubbed", policy=policy)
        task = asyncio.create_task(worker.run(stop))

        async def done() -> bool:
            return worker.stats.records_in >= 100 and not worker.busy

        await wait_until(done)
        stop.set()
        await task
        out = await drain_subject(bus, subjects.SCRUBBED, "reader", subjects.STREAM_RECORDS)
        kept = sorted(i for _, batch in out for i in batch)
        expected = sorted(r.record_id for i, r in enumerate(records) if i not in marks)
        assert kept == expected
        dlq = await drain_subject(bus, subjects.dlq("scrubber"), "dlq-reader", subjects.STREAM_DLQ)
        by_id = {h[H_RECORD_ID]: h for h, _ in dlq}
        assert set(by_id) == {"r000003", "r000017", "r000040"}
        assert by_id["r000003"][H_REASON] == "stage_exception"
        assert "cannot process r000003" in by_id["r000003"]["Crucible-Detail"]
        assert by_id["r000040"][H_REASON] == "residual_pii"
        assert all(int(h[H_DELIVERIES]) >= 1 for h in by_id.values())
        assert worker.stats.rejected == {"marked_reject": 1, "residual_pii": 1}
        assert worker.stats.dlq == {"stage_exception": 2, "residual_pii": 1}
        await bus.close()

    asyncio.run(scenario())


def test_redelivery_honours_backoff_then_dead_letters_after_max_deliver(embedded_nats, tmp_path: Path) -> None:
    async def scenario() -> None:
        policy = BusPolicy(batch_size=4, max_deliver=3, backoff_seconds=[0.4, 0.8])
        bus = await Bus.connect(embedded_nats.url, policy)
        # First: a sink that fails twice, then works: the record arrives once, after the back-offs.
        attempts = tmp_path / "attempts"
        sink = FlakySink(failures=2, log_path=attempts)
        stop = asyncio.Event()
        worker = StageWorker(
            PassThrough(), bus, consumes="records.raw", produces="records.scrubbed", sink=sink, policy=policy
        )
        task = asyncio.create_task(worker.run(stop))
        await publish_inputs(bus, make_records(1, prefix="a"), per_message=1)

        async def persisted() -> bool:
            return worker.stats.kept == 1

        await wait_until(persisted, timeout=30)
        times = [float(x) for x in attempts.read_text().split()]
        assert len(times) == 3
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert gaps[0] >= 0.4 - 0.05 and gaps[1] >= 0.8 - 0.05, gaps
        assert worker.stats.redeliveries == 2

        # Then: a sink that never recovers: after max_deliver the record goes to the DLQ.
        sink.failures = 10**6
        await publish_inputs(bus, make_records(1, prefix="b"), per_message=1)

        async def dead() -> bool:
            return worker.stats.dlq.get("max_deliver_exceeded", 0) == 1

        await wait_until(dead, timeout=30)
        stop.set()
        await task
        dlq = await drain_subject(bus, subjects.dlq("scrubber"), "dlq-reader", subjects.STREAM_DLQ)
        assert [(h[H_REASON], h[H_DELIVERIES], ids) for h, ids in dlq] == [("max_deliver_exceeded", "3", ["b000000"])]
        out = await drain_subject(bus, subjects.SCRUBBED, "reader", subjects.STREAM_RECORDS)
        assert [i for _, ids in out for i in ids] == ["a000000"]
        await bus.close()

    asyncio.run(scenario())


def test_sigterm_drains_the_batch_in_hand(embedded_nats, tmp_path: Path) -> None:
    async def scenario() -> None:
        bus = await Bus.connect(embedded_nats.url, BusPolicy())
        proc = start_worker(embedded_nats.url, 2.0, tmp_path)  # each batch takes 2 s
        await publish_inputs(bus, make_records(5), per_message=5)

        async def in_hand() -> bool:
            try:
                _, unacked = await bus.consumer_pending(subjects.STREAM_RAW, subjects.durable("scrubber"))
            except Exception:
                return False
            return unacked == 1

        await wait_until(in_hand)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert "drained" in proc.log_path.read_text()
        pending, unacked = await bus.consumer_pending(subjects.STREAM_RAW, subjects.durable("scrubber"))
        assert (pending, unacked) == (0, 0)
        out = await drain_subject(bus, subjects.SCRUBBED, "reader", subjects.STREAM_RECORDS)
        assert sorted(i for _, ids in out for i in ids) == [f"r{i:06d}" for i in range(5)]
        await bus.close()

    asyncio.run(scenario())


@pytest.mark.parametrize("per_message", [1, 7])
def test_output_message_ids_are_stable_for_the_same_input(per_message: int) -> None:
    from crucible.common.worker import output_msg_id

    records = make_records(per_message)
    assert output_msg_id(records, "scorer") == output_msg_id(make_records(per_message), "scorer")
    if per_message == 1:
        assert output_msg_id(records, "scorer") == "r000000:scorer"


def test_a_worker_started_while_nats_is_down_waits_for_it_then_consumes(tmp_path: Path) -> None:
    """A pod starting during a NATS restart must not crash (nor report ready): it retries the
    subscription until the server is back, then processes what was published."""
    from crucible.common.embedded import EmbeddedNats

    server = EmbeddedNats(store_dir=tmp_path / "nats").start()

    async def scenario() -> None:
        policy = BusPolicy(batch_size=16)
        bus = await Bus.connect(server.url, policy)
        # A subscribe sent while the server is down is never answered: it waits out the JetStream API
        # timeout before the retry that finds the server back. 2 s instead of Bus's 10 shows the same.
        bus.js = bus.nc.jetstream(timeout=2.0)
        records = make_records(20)
        await publish_inputs(bus, records, per_message=4)
        server.stop()
        stop = asyncio.Event()
        worker = StageWorker(PassThrough(), bus, consumes="records.raw", produces="records.scrubbed", policy=policy)
        task = asyncio.create_task(worker.run(stop))
        await asyncio.sleep(3.0)
        assert not worker.subscribed and not task.done()
        server.start()

        async def consumed() -> bool:
            return worker.subscribed and worker.stats.records_in >= 20 and not worker.busy

        await wait_until(consumed, timeout=60)
        stop.set()
        await task
        out = await drain_subject(bus, subjects.SCRUBBED, "reader", subjects.STREAM_RECORDS)
        assert sorted(i for _, batch in out for i in batch) == sorted(r.record_id for r in records)
        await bus.close()

    try:
        asyncio.run(scenario())
    finally:
        server.stop()
