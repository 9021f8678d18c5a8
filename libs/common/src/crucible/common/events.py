"""Control-plane event consumers: declared by a service (`ServiceSpec.events`, each an
`EventHandler`), run by the kernel.

A service says which events it handles, under which durable consumer (a name from
`subjects`), and what to do with one; `crucible serve` and `crucible run` run every
declaration the same way, as the stage worker runs every stage:
- one durable pull consumer on stream EVENTS per declaration, shared by the service's
  replicas, one event in flight per replica (a long job is never handed to two of them);
- subscribing is retried with back-off while NATS is unreachable (`Bus.pull_subscribe`);
- readiness: `subscribed` once the consumer exists and is being pulled (`/readyz`);
- retry: a handler that raises is naked with the bus policy's back-off; after `max_deliver`
  deliveries the event goes to `crucible.dlq.<service>` with the reason;
- a running handler keeps its event in progress, so JetStream does not redeliver it meanwhile;
- drain: once `stop` is set the event in hand is finished and acked, then the loop returns.

A handler gets the service's context (its `lifespan`'s value; the runtime when it has none)
and the event's payload.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import nats
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from crucible.common import subjects
from crucible.common.bus import Bus, backoff_delay
from crucible.common.contract_ids import event_invalid_ids
from crucible.common.services import EventHandler

log = logging.getLogger(__name__)


class EventConsumer:
    """Runs one `EventHandler` of one service on the bus until stopped."""

    def __init__(self, service: str, event: str, handler: EventHandler[Any], bus: Bus) -> None:
        self.service = service
        self.event = event
        self.handler = handler
        self.bus = bus
        self.subject = subjects.event(event)
        self._subscribed = False

    @property
    def subscribed(self) -> bool:
        """True once the durable consumer exists and is being pulled (readiness)."""
        return self._subscribed

    def consumer_config(self) -> ConsumerConfig:
        h = self.handler
        return ConsumerConfig(
            durable_name=h.durable,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=h.ack_wait,
            max_deliver=-1,  # the loop moves an event to the DLQ itself, with the reason
            filter_subject=self.subject,
            deliver_policy=DeliverPolicy.NEW if h.deliver_new_only else DeliverPolicy.ALL,
            max_ack_pending=1,
        )

    async def run(self, context: Any, stop: asyncio.Event) -> None:
        """Handle events one at a time until `stop` is set; the event in hand is finished first."""
        sub = await self.bus.pull_subscribe(self.subject, subjects.STREAM_EVENTS, self.consumer_config(), stop)
        if sub is None:
            return
        self._subscribed = True
        log.info("%s consuming %s (durable %s)", self.service, self.subject, self.handler.durable)
        try:
            while not stop.is_set():
                try:
                    msgs = await sub.fetch(1, timeout=1.0)
                except (TimeoutError, nats.errors.TimeoutError):
                    continue
                except nats.errors.ConnectionClosedError:
                    break
                for msg in msgs:
                    await self._handle(context, msg)
        finally:
            self._subscribed = False
            try:
                await sub.unsubscribe()
            except Exception:  # the connection is gone: nothing to unsubscribe from
                log.debug("unsubscribe of %s failed", self.handler.durable, exc_info=True)

    async def _handle(self, context: Any, msg: Msg) -> None:
        problems = event_invalid_ids(msg.headers, msg.data)
        if problems:  # an id that could name a path or a header: refused before any handler sees it
            await self._dead_letter_invalid(msg, problems)
            return
        keepalive = asyncio.create_task(_keep_in_progress(msg, self.handler.ack_wait / 3))
        try:
            await self.handler.handle(context, msg.data)
        except Exception as exc:  # a failing handler must not end the loop
            await self._retry_or_dead_letter(msg, exc)
        else:
            await msg.ack_sync()
        finally:
            keepalive.cancel()

    async def _retry_or_dead_letter(self, msg: Msg, exc: Exception) -> None:
        delivered = msg.metadata.num_delivered
        limit = self.bus.policy.max_deliver
        log.error("%s: %s handler failed (delivery %d/%d)", self.service, self.event, delivered, limit,
                  exc_info=exc)  # fmt: skip
        if delivered < limit:
            await msg.nak(delay=backoff_delay(self.bus.policy, delivered))
            return
        try:
            await self.bus.dead_letter(
                self.service, msg.data, reason="handler_failed", detail=repr(exc),
                deliveries=delivered, source_subject=self.subject,
            )  # fmt: skip
            await msg.ack_sync()
        except Exception:  # the DLQ is unreachable too: let JetStream redeliver
            log.exception("%s: DLQ publish failed; leaving the event for redelivery", self.service)

    async def _dead_letter_invalid(self, msg: Msg, problems: list[str]) -> None:
        log.error("%s: %s event with invalid id(s), dead-lettered: %s", self.service, self.event, problems)
        try:
            await self.bus.dead_letter(
                self.service, msg.data, reason="invalid_id", detail="; ".join(problems),
                deliveries=msg.metadata.num_delivered, source_subject=self.subject,
            )  # fmt: skip
            await msg.ack_sync()
        except Exception:  # the DLQ is unreachable: let JetStream redeliver
            log.exception("%s: DLQ publish failed; leaving the event for redelivery", self.service)


async def _keep_in_progress(msg: Msg, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        try:
            await msg.in_progress()
        except Exception:  # connection gone: redelivery will follow
            return
