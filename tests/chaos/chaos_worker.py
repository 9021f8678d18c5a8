"""A pipeline process for the chaos suite: `python chaos_worker.py ROLE NATS_URL REGISTRY_URL LOG [hang]`.

- `scrub`: crucible.records.raw -> crucible.records.scrubbed (a pass-through core under the real worker).
  With `hang`, the process stops dead right after its first output publish is acknowledged and before it
  acks its inputs (it writes LOG.hung and waits to be SIGKILLed): the kill between publish and ack.
- `curate`: crucible.records.scrubbed -> the curated store (the dataset service's real `CuratedSink`,
  idempotent by record id), appending every record id it is handed to LOG (to count bus copies).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from crucible.common import subjects
from crucible.common.bus import Bus
from crucible.common.config import BusPolicy
from crucible.common.registry import Registry
from crucible.common.serving import install_stop_signals
from crucible.common.stage import Sink, StageResult
from crucible.common.worker import StageWorker
from crucible.dataset.store import CuratedSink
from crucible.v1 import records_pb2

# Small batches and a little work per batch, so that kills land mid-stream.
POLICY = BusPolicy(batch_size=2, ack_wait_seconds=2.0, backoff_seconds=[0.2, 0.5])
DELAY = float(os.environ.get("CRUCIBLE_CHAOS_STAGE_DELAY", "0.1"))


class Keep:
    version = "chaos"

    def __init__(self, name: str) -> None:
        self.name = name

    def process(self, batch: Sequence[records_pb2.Record]) -> StageResult:
        time.sleep(DELAY)
        return StageResult(kept=list(batch))


class LoggedSink(Sink):
    def __init__(self, inner: Sink, log: Path) -> None:
        self.inner, self.log = inner, log

    def persist(self, result: StageResult) -> None:
        self.inner.persist(result)
        with self.log.open("a") as fh:
            fh.write("".join(r.record_id + "\n" for r in result.kept))


async def main(role: str, url: str, registry_url: str, log: Path, hang: bool) -> None:
    bus = await Bus.connect(url, POLICY)
    stop = asyncio.Event()
    install_stop_signals(stop)
    if role == "scrub":
        if hang:
            publish_many = bus.publish_many

            async def publish_then_hang(items):  # type: ignore[no-untyped-def]
                await publish_many(items)
                published = [
                    r.record_id
                    for subject, data, *_ in items
                    if subject == subjects.SCRUBBED
                    for r in records_pb2.RecordBatch.FromString(data).records
                ]
                if published:
                    # The ids published and not acked: the test waits for exactly these at the sink.
                    Path(f"{log}.hung.tmp").write_text("\n".join(published))
                    os.replace(f"{log}.hung.tmp", f"{log}.hung")  # whole, never read half-written
                    await asyncio.Event().wait()  # until SIGKILL

            bus.publish_many = publish_then_hang  # type: ignore[method-assign]
        worker = StageWorker(Keep("scrubber"), bus, consumes="records.raw", produces="records.scrubbed", policy=POLICY)
    else:
        registry = Registry(registry_url)
        sink = LoggedSink(CuratedSink(registry), log)
        worker = StageWorker(Keep("curator"), bus, consumes="records.scrubbed", produces=None, sink=sink, policy=POLICY)
    Path(f"{log}.ready").write_text("ready")
    await worker.run(stop)
    await bus.close()


if __name__ == "__main__":
    a = sys.argv
    asyncio.run(main(a[1], a[2], a[3], Path(a[4]), len(a) > 5 and a[5] == "hang"))
