"""The platform against a NATS server it did not start (the machine's; CI sets CRUCIBLE_TEST_NATS_URL)."""

from __future__ import annotations

import asyncio
import uuid

from crucible.common.bus import Bus
from crucible.common.config import BusPolicy
from crucible.common.events import EventConsumer
from crucible.common.services import EventHandler
from crucible.v1 import events_pb2


def test_streams_events_and_key_value_on_an_external_server(external_nats_url: str) -> None:
    async def scenario() -> None:
        bus = await Bus.connect(external_nats_url, BusPolicy())
        await bus.ensure_streams()  # idempotent against streams that already exist
        run_id = uuid.uuid4().hex
        name = f"test.{run_id}"
        await bus.publish_event(name, events_pb2.ExtractRequested(run_id=run_id, days=30), msg_id=run_id)
        await bus.publish_event(name, events_pb2.ExtractRequested(run_id=run_id, days=30), msg_id=run_id)
        received: list[str] = []
        stop = asyncio.Event()

        async def handle(_context: object, data: bytes) -> None:
            received.append(events_pb2.ExtractRequested.FromString(data).run_id)
            stop.set()

        consumer = EventConsumer("test", name, EventHandler(f"test-{run_id}", handle), bus)
        consumer = asyncio.create_task(consumer.run(None, stop))
        await asyncio.wait_for(stop.wait(), timeout=20)
        await consumer
        assert received == [run_id]  # the duplicate publish was dropped by its msg id
        await bus.js.delete_consumer("EVENTS", f"test-{run_id}")

        kv = await bus.key_value("crucible_test")
        await kv.put(run_id, b"state")
        assert (await kv.get(run_id)).value == b"state"
        await kv.delete(run_id)
        await bus.close()

    asyncio.run(scenario())
