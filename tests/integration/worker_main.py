"""A stage worker process for the kill/drain tests: `python worker_main.py NATS_URL DELAY READY_FILE`.
Runs the PassThrough core on crucible.records.raw -> crucible.records.scrubbed until SIGTERM."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from worker_stages import PassThrough

from crucible.common.bus import Bus
from crucible.common.config import BusPolicy
from crucible.common.serving import install_stop_signals
from crucible.common.worker import StageWorker


async def main(url: str, delay: float, ready: Path) -> None:
    policy = BusPolicy(batch_size=8, ack_wait_seconds=5.0, backoff_seconds=[0.2])
    bus = await Bus.connect(url, policy)
    stop = asyncio.Event()
    install_stop_signals(stop)
    worker = StageWorker(PassThrough(delay), bus, consumes="records.raw", produces="records.scrubbed", policy=policy)
    ready.write_text("ready")
    await worker.run(stop)
    await bus.close()
    print(f"drained: {worker.stats.as_dict()}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], float(sys.argv[2]), Path(sys.argv[3])))
