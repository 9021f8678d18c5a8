"""A scorer worker process for the crash test: `python scorer_worker_main.py NATS_URL DB_URL MODELS_ROOT
LOG KILL_AFTER READY`. Scores crucible.records.scrubbed -> crucible.records.scored with the real models
and the persisted diversity state, appends every decision to LOG (JSON lines), and SIGKILLs itself
right after the KILL_AFTER-th batch is persisted: after the sink, before the publish and the ack."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

from google.protobuf.json_format import MessageToDict

from crucible.common.artifacts import ArtifactStore
from crucible.common.bus import Bus
from crucible.common.config import BusPolicy
from crucible.common.registry import Registry
from crucible.common.serving import install_stop_signals
from crucible.common.stage import Sink, StageResult
from crucible.common.worker import StageWorker
from crucible.scorer.core import ScorerStage
from crucible.scorer.models import load_models
from crucible.scorer.policy import ScorerPolicy
from crucible.scorer.store import ScorerSink, diversity_ledger


class LoggingSink(Sink):
    def __init__(self, inner: ScorerSink, log: Path, kill_after: int) -> None:
        self.inner, self.log, self.kill_after, self.batches = inner, log, kill_after, 0

    def persist(self, result: StageResult) -> None:
        self.inner.persist(result)
        outcomes = [("kept", r) for r in result.kept]
        outcomes += [("rejected", x.record) for x in result.rejected] + [("held", x.record) for x in result.held]
        with self.log.open("a") as fh:
            for outcome, r in outcomes:
                line = {"id": r.record_id, "outcome": outcome, "quality": MessageToDict(r.quality)}
                fh.write(json.dumps(line) + "\n")
        self.batches += 1
        if self.batches == self.kill_after:
            os.kill(os.getpid(), signal.SIGKILL)


async def main(nats_url: str, db_url: str, models_root: str, log: Path, kill_after: int, ready: Path) -> None:
    policy = ScorerPolicy()
    models = load_models(ArtifactStore(Path(models_root).as_uri()), policy)
    registry = Registry(db_url)
    registry.migrate()
    ledger = diversity_ledger(registry, policy.diversity)
    bus_policy = BusPolicy(batch_size=1, ack_wait_seconds=2.0, backoff_seconds=[0.2])
    bus = await Bus.connect(nats_url, bus_policy)
    stop = asyncio.Event()
    install_stop_signals(stop)
    stage = ScorerStage(policy, models, ledger.current, ledger)
    sink = LoggingSink(ScorerSink(registry, "crash-test", ledger), log, kill_after)
    worker = StageWorker(
        stage, bus, consumes="records.scrubbed", produces="records.scored", sink=sink, policy=bus_policy
    )
    ready.write_text("ready")
    await worker.run(stop)
    await bus.close()


if __name__ == "__main__":
    a = sys.argv
    asyncio.run(main(a[1], a[2], a[3], Path(a[4]), int(a[5]), Path(a[6])))
