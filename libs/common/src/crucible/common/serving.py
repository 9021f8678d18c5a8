"""Running services: one service per process in production (`crucible serve NAME`), or every
service in one process for the embedded run. SIGTERM/SIGINT set a stop event: workers finish
the batch in hand (publish, ack) and event consumers the event in hand, then return, so a
rolling update loses and redoes nothing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterable
from dataclasses import dataclass, field

from crucible.common.bus import Bus
from crucible.common.events import EventConsumer
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
    from crucible.common.excluded_subjects import ExcludedSubjects

    return StageWorker(
        block.stage, bus, consumes=spec.consumes, produces=spec.produces, sink=block.sink, policy=runtime.policy.bus,
        excluded=ExcludedSubjects(runtime.registry, refresh_seconds=10.0),
    )  # fmt: skip


@dataclass
class Running:
    """What `run_services` started: the stage workers, the event consumers, and their tasks."""

    workers: list[StageWorker] = field(default_factory=list)
    consumers: list[EventConsumer] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def subscribed(self) -> bool:
        """Every worker and every event consumer is pulling from its durable consumer (readiness)."""
        return all(w.subscribed for w in self.workers) and all(c.subscribed for c in self.consumers)


def event_consumers(runtime: Runtime, spec: ServiceSpec, bus: Bus) -> list[EventConsumer]:
    """A consumer for each event the service handles under this policy."""
    return [
        EventConsumer(spec.name, event, handler, bus)
        for event, handler in spec.events.items()
        if handler.is_enabled(runtime)
    ]


async def consume_events(
    runtime: Runtime, spec: ServiceSpec, stop: asyncio.Event, consumers: list[EventConsumer] | None = None
) -> None:
    """Run the service's event consumers inside its lifespan until `stop`: each finishes the
    event in hand, then the lifespan is left (servers stopped). One failing consumer stops the
    others. `consumers`: the ones already made (`event_consumers`), else made here."""
    if consumers is None:
        consumers = event_consumers(runtime, spec, runtime.require_bus())
    lifespan = spec.lifespan(runtime) if spec.lifespan is not None else contextlib.nullcontext(runtime)
    async with lifespan as context, asyncio.TaskGroup() as group:
        for consumer in consumers:
            group.create_task(consumer.run(context, stop), name=f"events:{spec.name}:{consumer.event}")


async def run_services(runtime: Runtime, specs: Iterable[ServiceSpec], stop: asyncio.Event) -> Running:
    """Start the worker, the event consumers and/or the serve loop of each service."""
    bus = runtime.require_bus()
    running = Running()
    for spec in specs:
        worker = stage_worker(runtime, spec, bus)
        if worker is not None:
            running.workers.append(worker)
            running.tasks.append(asyncio.create_task(worker.run(stop), name=f"worker:{spec.name}"))
        consumers = event_consumers(runtime, spec, bus)
        if consumers:
            running.consumers.extend(consumers)
            task = asyncio.create_task(consume_events(runtime, spec, stop, consumers), name=f"events:{spec.name}")
            running.tasks.append(task)
        if spec.serve is not None:
            running.tasks.append(asyncio.create_task(_serve_until(spec, runtime, stop), name=f"serve:{spec.name}"))
    return running


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
