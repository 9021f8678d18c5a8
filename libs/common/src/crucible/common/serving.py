"""Running services: one service per process in production (`crucible serve NAME`), or every
service in one process for the embedded run. SIGTERM/SIGINT set a stop event: workers finish
the batch in hand (publish, ack) and return, so a rolling update loses and redoes nothing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterable

from crucible.common.bus import Bus
from crucible.common.runtime import Runtime
from crucible.common.services import ServiceSpec
from crucible.common.worker import StageWorker

log = logging.getLogger(__name__)


def install_stop_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, _request_stop, stop, sig)


def _request_stop(stop: asyncio.Event, sig: signal.Signals) -> None:
    if not stop.is_set():
        log.info("received %s: draining", sig.name)
    stop.set()


def stage_worker(runtime: Runtime, spec: ServiceSpec, bus: Bus) -> StageWorker | None:
    """The worker for a data-plane service, or None for a control-plane one."""
    if spec.build_stage is None or spec.consumes is None:
        return None
    block = spec.build_stage(runtime)
    return StageWorker(
        block.stage, bus, consumes=spec.consumes, produces=spec.produces, sink=block.sink, policy=runtime.policy.bus
    )


async def run_services(
    runtime: Runtime, specs: Iterable[ServiceSpec], stop: asyncio.Event
) -> tuple[list[StageWorker], list[asyncio.Task[None]]]:
    """Start the worker and/or serve loop of each service; returns the workers and the tasks."""
    bus = runtime.require_bus()
    workers: list[StageWorker] = []
    tasks: list[asyncio.Task[None]] = []
    for spec in specs:
        worker = stage_worker(runtime, spec, bus)
        if worker is not None:
            workers.append(worker)
            tasks.append(asyncio.create_task(worker.run(stop), name=f"worker:{spec.name}"))
        if spec.serve is not None:
            tasks.append(asyncio.create_task(_serve_until(spec, runtime, stop), name=f"serve:{spec.name}"))
    return workers, tasks


async def _serve_until(spec: ServiceSpec, runtime: Runtime, stop: asyncio.Event) -> None:
    assert spec.serve is not None
    task = asyncio.ensure_future(spec.serve(runtime))
    stopper = asyncio.ensure_future(stop.wait())
    done, _ = await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        stopper.cancel()
        task.result()  # surface a crash of the serve loop
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
