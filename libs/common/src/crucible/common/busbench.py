"""`crucible bench bus`: records/s through one no-op stage over NATS JetStream, against the
same core run in-process on the same batches, in the same run, for several batch sizes
(records per message). Inputs are published before the clock starts; the clock stops when
the worker has published every output and acked every input."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Sequence
from typing import Any

from crucible.common import subjects
from crucible.common.bus import Bus
from crucible.common.config import BusPolicy
from crucible.common.embedded import EmbeddedNats
from crucible.common.stage import StageResult
from crucible.common.worker import StageWorker, stamp
from crucible.v1 import records_pb2


class NoOpStage:
    name = "scrubber"
    version = "bench"

    def process(self, batch: Sequence[records_pb2.Record]) -> StageResult:
        return StageResult(kept=list(batch))


def bench_records(n: int) -> list[records_pb2.Record]:
    out = []
    for i in range(n):
        r = records_pb2.Record(record_id=f"bench-{i:08d}", subject_token="0" * 64)
        r.source.table = "conversations"
        r.source.key = str(i)
        r.kind = records_pb2.RECORD_KIND_CONVERSATION
        r.turns.add(role="user", text="We keep arguing about chores and I feel unheard lately.")
        r.turns.add(role="assistant", text="That sounds frustrating. What would feeling heard look like for you?")
        r.context["relationship_stage"] = "married"
        out.append(r)
    return out


def in_process_rate(records: list[records_pb2.Record], per_message: int, repeat: int = 3) -> float:
    """The baseline: everything the worker does to a batch except the network — decode the
    RecordBatch, run the core, stamp provenance, encode the output."""
    stage = NoOpStage()
    payloads = [
        records_pb2.RecordBatch(records=records[i : i + per_message]).SerializeToString()
        for i in range(0, len(records), per_message)
    ]
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for payload in payloads:
            result = stage.process(list(records_pb2.RecordBatch.FromString(payload).records))
            for r in result.kept:
                stamp(r, stage)
            records_pb2.RecordBatch(records=result.kept).SerializeToString()
        best = min(best, time.perf_counter() - t0)
    return len(records) / best


async def over_nats_rate(url: str, records: list[records_pb2.Record], per_message: int) -> float:
    policy = BusPolicy(batch_size=max(1, min(256, 16_384 // per_message)))
    bus = await Bus.connect(url, policy)
    for stream in (subjects.STREAM_RAW, subjects.STREAM_RECORDS):
        await bus.js.purge_stream(stream)
    with contextlib.suppress(Exception):  # first run: no consumer yet
        await bus.js.delete_consumer(subjects.STREAM_RAW, subjects.durable("scrubber"))
    items = []
    for i in range(0, len(records), per_message):
        chunk = records[i : i + per_message]
        payload = records_pb2.RecordBatch(records=chunk).SerializeToString()
        items.append((subjects.RAW, payload, f"bench-in-{per_message}-{i}", {}))
    for i in range(0, len(items), 512):
        await bus.publish_many(items[i : i + 512])
    stop = asyncio.Event()
    worker = StageWorker(NoOpStage(), bus, consumes="records.raw", produces="records.scrubbed", policy=policy)
    t0 = time.perf_counter()
    task = asyncio.create_task(worker.run(stop))
    while worker.stats.kept < len(records):
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - t0
    stop.set()
    await task
    await bus.close()
    return len(records) / elapsed


def run_bus_bench(quick: bool = False) -> dict[str, Any]:
    """Records/s through one no-op stage over NATS vs in-process, batch sizes 1, 64, 512."""
    sizes = {1: 2_000 if quick else 10_000, 64: 20_000 if quick else 200_000, 512: 20_000 if quick else 200_000}
    results: dict[str, Any] = {}
    with EmbeddedNats() as server:
        for per_message, n in sizes.items():
            records = bench_records(n)
            nats_rate = asyncio.run(over_nats_rate(server.url, records, per_message))
            local_rate = in_process_rate(records, per_message)
            results[str(per_message)] = {
                "records": n,
                "over_nats_records_per_s": round(nats_rate),
                "in_process_records_per_s": round(local_rate),
                "ratio_nats_to_in_process": round(nats_rate / local_rate, 4),
            }
    best = max(results.values(), key=lambda r: r["over_nats_records_per_s"])
    return {
        "bench": "bus",
        "what": "one no-op stage over NATS: fetch, decode, process, stamp, encode, publish + PubAck, ack",
        "baseline": "the same core in-process on the same batches: decode, process, stamp, encode (no network)",
        "cpu_count": os.cpu_count(),
        "by_records_per_message": results,
        "best_over_nats_records_per_s": best["over_nats_records_per_s"],
        "target_over_nats_records_per_s": 20_000,
    }
