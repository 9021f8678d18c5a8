"""The bus: NATS JetStream streams, publishing with dedup ids, control-plane events, KV.

Only this module, `worker.py` (stages) and `events.py` (event consumers) know JetStream.
Streams (design, "Events and the bus"):
- RAW: work-queue on crucible.records.raw (raw PII lives on the bus only until scrubbed)
- RECORDS: work-queue on crucible.records.{scrubbed,scored,curated}
- DLQ: limits with a bounded age, crucible.dlq.>
- EVENTS: limits (the audit log), crucible.events.>
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import nats
from google.protobuf.message import Message
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import APIError, NotFoundError
from nats.js.kv import KeyValue

from crucible.common import subjects
from crucible.common.config import BusPolicy
from crucible.common.nats_auth import NatsSecurity, connect_options
from crucible.common.tracing import inject_trace_headers

log = logging.getLogger(__name__)

DAY = 86_400.0

# Header names the platform sets on messages.
H_MSG_ID = "Nats-Msg-Id"
H_REASON = "Crucible-Reason"
H_DETAIL = "Crucible-Detail"
H_STAGE = "Crucible-Stage"
H_DELIVERIES = "Crucible-Deliveries"
H_RECORD_ID = "Crucible-Record-Id"
H_SOURCE_SUBJECT = "Crucible-Source-Subject"


def stream_configs(policy: BusPolicy) -> list[StreamConfig]:
    dup = policy.duplicate_window_seconds
    return [
        StreamConfig(
            name=subjects.STREAM_RAW,
            subjects=[subjects.RAW],
            retention=RetentionPolicy.WORK_QUEUE,
            storage=StorageType.FILE,
            duplicate_window=dup,
        ),
        StreamConfig(
            name=subjects.STREAM_RECORDS,
            subjects=[subjects.SCRUBBED, subjects.SCORED, subjects.CURATED],
            retention=RetentionPolicy.WORK_QUEUE,
            storage=StorageType.FILE,
            duplicate_window=dup,
        ),
        StreamConfig(
            name=subjects.STREAM_DLQ,
            subjects=[subjects.dlq(">")],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_age=policy.dlq_max_age_days * DAY,
            duplicate_window=dup,
            # Raw payloads kept by policy expire on their own (`dead_letters.ttl_header`).
            allow_msg_ttl=True,
        ),
        StreamConfig(
            name=subjects.STREAM_EVENTS,
            subjects=[subjects.event(">")],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_age=policy.events_max_age_days * DAY,
            duplicate_window=dup,
        ),
    ]


def stream_matches(current: StreamConfig, wanted: StreamConfig) -> bool:
    """The settings the platform chooses are already in place (the server fills in the rest)."""
    return (
        sorted(current.subjects or []) == sorted(wanted.subjects or [])
        and current.retention == wanted.retention
        and current.storage == wanted.storage
        and abs(float(current.max_age or 0) - float(wanted.max_age or 0)) < 1e-3
        and abs(float(current.duplicate_window or 0) - float(wanted.duplicate_window or 0)) < 1e-3
    )


class PublishError(RuntimeError):
    """A publish was not acknowledged by JetStream (the caller must not ack its inputs)."""


@dataclass
class Bus:
    nc: NatsClient
    js: JetStreamContext
    policy: BusPolicy

    @classmethod
    async def connect(
        cls, url: str, policy: BusPolicy, *, name: str = "crucible", security: NatsSecurity | None = None
    ) -> Bus:
        """Connect with the user's own reply-inbox prefix (`_INBOX_<user>`), TLS and credentials
        files as `security` says, then make sure the streams exist."""

        async def _on_error(exc: Exception) -> None:
            log.warning("nats: %s", exc)

        nc = await nats.connect(
            url,
            name=name,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            error_cb=_on_error,
            **connect_options(url, security),
        )
        bus = cls(nc=nc, js=nc.jetstream(timeout=10), policy=policy)
        await bus.ensure_streams()
        return bus

    @property
    def max_payload(self) -> int:
        """The largest message the server accepts (its INFO), headers included."""
        return int(self.nc.max_payload)

    async def ensure_streams(self) -> None:
        """Create a missing stream, update one whose settings differ; leave the rest alone.

        Only the admin (migrations) user may create and update streams where NATS permissions are
        on (`crucible migrate` does it first), so a service looks before it writes: the normal
        start-up only reads stream info. A service that may not update a stream logs the drift
        and goes on; a stream that is missing and cannot be created stops start-up."""
        for cfg in stream_configs(self.policy):
            try:
                current = (await self.js.stream_info(cfg.name)).config
            except NotFoundError:
                try:
                    await self.js.add_stream(cfg)
                except Exception as exc:
                    raise RuntimeError(
                        f"stream {cfg.name} does not exist and this NATS user may not create it ({exc!r}): "
                        "run `crucible migrate` as the admin user first"
                    ) from exc
                continue
            if stream_matches(current, cfg):
                continue
            try:  # retention cannot change in place; everything else is brought in line
                await self.js.update_stream(cfg)
            except (APIError, TimeoutError, nats.errors.TimeoutError, nats.errors.NoRespondersError) as exc:
                log.warning("stream %s differs from the policy and this user may not update it (%r)", cfg.name, exc)

    async def publish(
        self,
        subject: str,
        payload: bytes,
        *,
        msg_id: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
    ) -> Any:
        hdrs = dict(headers or {})
        if msg_id:
            hdrs[H_MSG_ID] = msg_id
        try:
            return await self.js.publish(subject, payload, headers=hdrs or None, timeout=timeout)
        except Exception as exc:  # every failure means "not stored"
            raise PublishError(f"publish to {subject} failed: {exc!r}") from exc

    async def publish_many(self, items: list[tuple[str, bytes, str | None, Mapping[str, str]]]) -> None:
        """Publish several messages concurrently and wait for every PubAck."""
        if not items:
            return
        futs = [self.publish(subj, data, msg_id=mid, headers=h) for subj, data, mid, h in items]
        results = await asyncio.gather(*futs, return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise PublishError(f"{len(errors)} of {len(items)} publishes failed: {errors[0]}")

    async def publish_event(self, name: str, message: Message, *, msg_id: str | None = None) -> None:
        """Publish a control-plane event on crucible.events.<name>, with the current trace context."""
        headers = inject_trace_headers({})
        headers["Crucible-Event"] = name
        headers["Crucible-Type"] = message.DESCRIPTOR.full_name
        await self.publish(subjects.event(name), message.SerializeToString(), msg_id=msg_id, headers=headers)

    async def pull_subscribe(self, subject: str, stream: str, config: ConsumerConfig, stop: asyncio.Event) -> Any:
        """A durable pull subscription, retried with back-off while NATS is unreachable (a start-up
        during a NATS restart waits for it, not crash); None when stopped first or closed for good.
        The one subscribe of the stage worker and the event consumers."""
        delay = 0.5
        while not stop.is_set():
            try:
                return await self.js.pull_subscribe(subject, durable=config.durable_name, stream=stream, config=config)
            except nats.errors.ConnectionClosedError:
                return None  # closed for good (shutdown): nothing to wait for
            except (TimeoutError, nats.errors.TimeoutError, nats.errors.NoRespondersError,
                    nats.errors.ConnectionReconnectingError) as exc:  # fmt: skip
                log.warning("cannot subscribe %s to %s yet (%r); retrying in %.1fs",
                            config.durable_name, subject, exc, delay)  # fmt: skip
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)
                delay = min(delay * 2, 10.0)
        return None

    async def dead_letter(
        self,
        stage: str,
        payload: bytes,
        *,
        reason: str,
        detail: str,
        deliveries: int,
        source_subject: str,
        record_id: str = "",
        msg_id: str | None = None,
    ) -> None:
        headers = dlq_headers(stage, reason, detail, deliveries, source_subject, record_id)
        await self.publish(subjects.dlq(stage), payload, msg_id=msg_id, headers=headers)

    async def key_value(self, bucket: str, *, history: int = 5) -> KeyValue:
        from nats.js.api import KeyValueConfig

        try:
            return await self.js.key_value(bucket)
        except (NotFoundError, nats.js.errors.BucketNotFoundError):
            return await self.js.create_key_value(KeyValueConfig(bucket=bucket, history=history))

    async def consumer_pending(self, stream: str, durable: str) -> tuple[int, int]:
        """(messages not yet delivered, delivered but not acked) for a durable consumer."""
        info = await self.js.consumer_info(stream, durable)
        return int(info.num_pending or 0), int(info.num_ack_pending or 0)

    async def close(self) -> None:
        """Flush what is buffered (acks are fire-and-forget) and close. Not `drain()`:
        nats-py's drain times out on pull subscriptions."""
        if self.nc.is_closed:
            return
        try:
            await self.nc.flush(timeout=5)
        except Exception:  # closing anyway; unflushed acks mean redelivery, never loss
            log.warning("nats flush before close failed", exc_info=True)
        await self.nc.close()


def dlq_headers(
    stage: str, reason: str, detail: str, deliveries: int, source_subject: str, record_id: str = ""
) -> dict[str, str]:
    """Headers of a DLQ entry: why, where from, after how many deliveries. `detail` is cut
    to one line of 1 KiB (headers are not the place for a traceback)."""
    headers = {
        H_REASON: reason,
        H_DETAIL: detail[:1024].replace("\n", " "),
        H_STAGE: stage,
        H_DELIVERIES: str(deliveries),
        H_SOURCE_SUBJECT: source_subject,
    }
    if record_id:
        headers[H_RECORD_ID] = record_id
    return headers


def backoff_delay(policy: BusPolicy, delivered: int) -> float:
    """Delay before redelivery after the `delivered`-th failed attempt (1-based)."""
    steps = policy.backoff_seconds
    return steps[min(max(delivered, 1), len(steps)) - 1]
