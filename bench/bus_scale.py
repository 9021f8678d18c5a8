"""The bus path at scale: N records through scrubber -> scorer -> dedup -> dataset, 2 replicas per
stage (each its own process, sharing the stage's durable consumer), on a private nats-server.

    python bench/bus_scale.py --json                  # 1,000,000 records offered at 5,000 records/s
    python bench/bus_scale.py --records 20000 --json  # a short run

What it isolates: the path itself (fetch, decode, stamp, encode, publish with PubAck, ack, four
times over), with each stage's core a pass-through. The stages' own costs are measured one core
at a time by their benches; the capacity model (`bench/capacity.py`) adds them. A path whose
capacity is far above every stage's own rate is no bottleneck.

Reports records/s per stage and per replica, consumer lag (pending + unacked messages) sampled
every second, and end-to-end latency (publish to the dataset stage's sink) p50/p99. The driver
offers records at a fixed rate (`--rate`), so latency is the path's, not a queue built by a burst;
the baseline is the offered rate itself (a path that keeps up reports a ratio near 1).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

STAGES = (  # (stage name, consumes, produces)
    ("scrubber", "records.raw", "records.scrubbed"),
    ("scorer", "records.scrubbed", "records.scored"),
    ("dedup", "records.scored", "records.curated"),
    ("dataset", "records.curated", None),
)
PER_MESSAGE = 64


class PassThrough:
    """A stage core that keeps every record (the path's cost only)."""

    version = "bench"

    def __init__(self, name: str) -> None:
        self.name = name

    def process(self, batch: Sequence[Any]) -> Any:
        from crucible.common.stage import StageResult

        return StageResult(kept=list(batch))


class ArrivalSink:
    """The last stage's sink: when each record (by its index) arrived."""

    def __init__(self) -> None:
        self.keys: list[int] = []
        self.times: list[float] = []

    def persist(self, result: Any) -> None:
        now = time.time()
        for record in result.kept:
            self.keys.append(int(record.source.key))
            self.times.append(now)


def _replica(url: str, stage: int, replica: int, stop: Any, reports: Any, out_dir: str) -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    asyncio.run(_replica_async(url, stage, replica, stop, reports, out_dir))


async def _replica_async(url: str, stage: int, replica: int, stop: Any, reports: Any, out_dir: str) -> None:
    import numpy as np

    from crucible.common.bus import Bus
    from crucible.common.config import BusPolicy
    from crucible.common.worker import StageWorker

    name, consumes, produces = STAGES[stage]
    policy = BusPolicy(records_per_message=PER_MESSAGE)
    bus = await Bus.connect(url, policy, name=f"bench-{name}-{replica}")
    sink = ArrivalSink() if produces is None else None
    worker = StageWorker(PassThrough(name), bus, consumes=consumes, produces=produces, sink=sink, policy=policy)
    halt = asyncio.Event()
    task = asyncio.create_task(worker.run(halt))
    while not stop.is_set():
        reports.put((name, replica, time.time(), worker.stats.kept))
        await asyncio.sleep(0.5)
    halt.set()
    await task
    reports.put((name, replica, time.time(), worker.stats.kept))
    await bus.close()
    if sink is not None:
        np.save(Path(out_dir) / f"arrivals-{replica}.npy", np.array([sink.keys, sink.times], dtype=np.float64))


async def _drive(url: str, n: int, rate: float, stop: Any, reports: Any) -> dict[str, Any]:
    """Publish n records at `rate`, sample lag every second, until the dataset stage has them all."""
    from crucible.common import subjects
    from crucible.common.bus import Bus
    from crucible.common.config import BusPolicy
    from crucible.v1 import records_pb2

    bus = await Bus.connect(url, BusPolicy(records_per_message=PER_MESSAGE), name="bench-driver")
    template = records_pb2.Record(subject_token="0" * 64, kind=records_pb2.RECORD_KIND_CONVERSATION)
    template.source.table = "conversations"
    template.turns.add(role="user", text="We keep arguing about chores and I feel unheard lately.")
    template.turns.add(role="assistant", text="That sounds frustrating. What would feeling heard look like?")
    template.context["relationship_stage"] = "married"
    # Start the clock once every replica runs and every durable consumer exists (spawned
    # replicas take seconds to import and connect; that start-up is not the path's latency).
    started: set[tuple[str, int]] = set()
    while len(started) < 2 * len(STAGES):
        name, replica, _, _ = await asyncio.to_thread(reports.get)
        started.add((name, replica))
    for name, consumes, _ in STAGES:
        while True:
            try:
                await bus.consumer_pending(subjects.stream_for(subjects.records(consumes)), subjects.durable(name))
                break
            except Exception:
                await asyncio.sleep(0.1)
    messages = -(-n // PER_MESSAGE)
    sent_at = [0.0] * messages
    kept: dict[tuple[str, int], int] = {}
    lag: list[dict[str, Any]] = []
    t0 = time.time()
    deadline = t0 + 3 * n / rate + 120  # a path that loses records must still end

    async def sample_lag() -> None:
        while not stop.is_set():
            row: dict[str, Any] = {"t": round(time.time() - t0, 2)}
            for name, consumes, _ in STAGES:
                try:
                    pending, unacked = await bus.consumer_pending(
                        subjects.stream_for(subjects.records(consumes)), subjects.durable(name)
                    )
                    row[name] = pending + unacked
                except Exception:  # the consumer is created when its first replica starts
                    row[name] = None
            lag.append(row)
            while not reports.empty():
                name, replica, _, count = reports.get()
                kept[(name, replica)] = count
            for name, _, _ in STAGES:
                row[f"{name}_done"] = sum(v for (s, _), v in kept.items() if s == name)
            if sum(v for (s, _), v in kept.items() if s == "dataset") >= n or time.time() > deadline:
                stop.set()
            await asyncio.sleep(1.0)

    lag_task = asyncio.create_task(sample_lag())
    batch: list[tuple[str, bytes, str | None, dict[str, str]]] = []
    for m in range(messages):
        records = []
        for i in range(m * PER_MESSAGE, min(n, (m + 1) * PER_MESSAGE)):
            r = records_pb2.Record()
            r.CopyFrom(template)
            r.record_id = f"bus-{i:09d}"
            r.source.key = str(i)
            records.append(r)
        payload = records_pb2.RecordBatch(records=records).SerializeToString()
        batch.append((subjects.RAW, payload, f"bus-{m}", {}))
        if len(batch) == 64 or m == messages - 1:
            # Hold the offered rate: never ahead of rate * elapsed.
            due = t0 + (m + 1) * PER_MESSAGE / rate
            await asyncio.sleep(max(0.0, due - time.time()))
            now = time.time()
            for k in range(m - len(batch) + 1, m + 1):
                sent_at[k] = now
            await bus.publish_many(batch)
            batch = []
    published_s = time.time() - t0
    await lag_task
    await bus.close()
    return {"sent_at": sent_at, "lag": lag, "published_seconds": published_s, "t0": t0}


def run(n: int, rate: float) -> dict[str, Any]:
    import numpy as np

    from crucible.common.embedded import EmbeddedNats

    ctx = mp.get_context("spawn")
    load_before = os.getloadavg()
    with (
        tempfile.TemporaryDirectory(prefix="crucible-bus-scale-") as tmp,
        EmbeddedNats(store_dir=Path(tmp) / "nats") as server,
    ):
        stop, reports = ctx.Event(), ctx.Queue()
        procs = [
            ctx.Process(target=_replica, args=(server.url, s, k, stop, reports, tmp), daemon=True)
            for s in range(len(STAGES))
            for k in range(2)
        ]
        for p in procs:
            p.start()
        drive = asyncio.run(_drive(server.url, n, rate, stop, reports))
        for p in procs:
            p.join(timeout=60)
        finals: dict[tuple[str, int], list[tuple[float, int]]] = {}
        while not reports.empty():
            name, replica, at, count = reports.get()
            finals.setdefault((name, replica), []).append((at, count))
        arrivals = [
            np.load(Path(tmp) / f"arrivals-{k}.npy") for k in range(2) if (Path(tmp) / f"arrivals-{k}.npy").exists()
        ]
    keys = np.concatenate([a[0] for a in arrivals]).astype(np.int64)
    times = np.concatenate([a[1] for a in arrivals])
    sent = np.array(drive["sent_at"])
    # A redelivered record counts once, at its first arrival.
    order = np.lexsort((times, keys))
    first = np.unique(keys[order], return_index=True)[1]
    latency = times[order][first] - sent[keys[order][first] // PER_MESSAGE]
    elapsed = float(times.max()) - drive["t0"]  # first publish to the last record's arrival
    per_stage = {}
    for name, _, _ in STAGES:
        counts = {k: max(c for _, c in rows) for (s, k), rows in finals.items() if s == name}
        total = sum(counts.values())
        # The stage's own window: from the first sample that saw it working to the first that saw it done.
        done = [(row["t"], row.get(f"{name}_done", 0)) for row in drive["lag"]]
        began = next((t for t, d in done if d > 0), None)
        ended = next((t for t, d in done if d >= n), None)
        window = (ended - began) if began is not None and ended is not None and ended > began else None
        per_stage[name] = {
            "records": total,
            "records_per_s": round(total / window, 1) if window else None,
            "window_seconds": window,
            "per_replica": {str(k): v for k, v in sorted(counts.items())},
        }
    received = len(first)
    return {
        "bench": "bus_scale",
        "records": n,
        "offered_records_per_s": rate,
        "replicas_per_stage": 2,
        "records_per_message": PER_MESSAGE,
        "seconds": round(elapsed, 2),
        "publish_seconds": round(drive["published_seconds"], 2),
        "received_at_dataset": received,
        "stages": per_stage,
        "end_to_end_records_per_s": round(received / elapsed, 1),
        "ratio_to_offered": round(received / elapsed / rate, 3),
        "latency_seconds": {
            "p50": round(float(np.percentile(latency, 50)), 4),
            "p99": round(float(np.percentile(latency, 99)), 4),
            "max": round(float(latency.max()), 4),
        },
        "max_lag_messages": {
            name: max((row[name] or 0) for row in drive["lag"]) if drive["lag"] else None for name, _, _ in STAGES
        },
        "lag_messages_over_time": drive["lag"],
        "baseline": "the offered rate (records/s the driver publishes); a path that keeps up reports ratio ~1",
        "what": "pass-through cores: the bus path's own cost and capacity (stage costs: each stage's bench)",
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--rate", type=float, default=5_000.0, help="records/s the driver offers")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    args = parser.parse_args(argv)
    if args.records < PER_MESSAGE or args.rate <= 0:
        parser.error(f"--records must be at least {PER_MESSAGE} and --rate positive")
    result = run(args.records, args.rate)
    print(json.dumps(result, indent=None if args.json else 2, sort_keys=True))
    return 0 if result["received_at_dataset"] == args.records else 1


if __name__ == "__main__":
    sys.exit(main())
