"""The JetStream stage worker: the one place that runs a stage core on the bus.

For each fetched batch of messages (durable pull consumer shared by all replicas):
1. decode every message (a `RecordBatch`); an undecodable message goes to the DLQ;
2. run `stage.process(records)` once for the whole batch, in a thread;
   if it raises, retry record by record so a poison record goes to the DLQ and the rest go on;
3. persist side outputs through the sink (idempotent: a redelivered batch is written again);
4. publish one output message per input message with `Nats-Msg-Id` derived from its record ids
   (JetStream drops a duplicate within its window, so redelivery never duplicates), and the
   DLQ entries; wait for every PubAck;
5. only then ack the inputs. A failure in 3-4 naks the inputs with the policy's back-off; after
   `max_deliver` deliveries their records go to the DLQ with the reason.

A crash anywhere means redelivery, never loss.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import nats
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig

from crucible.common import subjects, telemetry
from crucible.common.bus import Bus, backoff_delay, dlq_headers
from crucible.common.config import BusPolicy
from crucible.common.excluded_subjects import ExcludedSubjects
from crucible.common.stage import Sink, Stage, StageResult
from crucible.common.tracing import extract_trace_context, inject_trace_headers, tracer
from crucible.v1 import records_pb2

log = logging.getLogger(__name__)


@dataclass
class WorkerStats:
    """What one worker saw, for `crucible run`'s summary (Prometheus has the same, cumulatively)."""

    stage: str
    records_in: int = 0
    kept: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    held: Counter[str] = field(default_factory=Counter)
    dlq: Counter[str] = field(default_factory=Counter)
    messages_in: int = 0
    redeliveries: int = 0
    batches: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "in": self.records_in,
            "out": self.kept,
            "rejected": dict(sorted(self.rejected.items())),
            "held": dict(sorted(self.held.items())),
            "dlq": dict(sorted(self.dlq.items())),
            "messages_in": self.messages_in,
            "redeliveries": self.redeliveries,
        }


def output_msg_id(records: Sequence[records_pb2.Record], stage: str) -> str:
    """`<record_id>:<stage>` for one record; for a batch, the first id plus a digest of all ids,
    so the same input batch always maps to the same id. A record that is a later version of one
    already sent (context `revision`, e.g. an interaction with its late feedback merged) gets
    its own ids, or JetStream's duplicate window would drop it as the earlier version."""
    if len(records) == 1:
        return f"{_msg_key(records[0])}:{stage}"
    digest = hashlib.sha1("\n".join(_msg_key(r) for r in records).encode()).hexdigest()[:16]
    return f"{_msg_key(records[0])}+{len(records) - 1}.{digest}:{stage}"


def _msg_key(record: records_pb2.Record) -> str:
    revision = record.context.get("revision")
    return f"{record.record_id}@{revision}" if revision else record.record_id


def stamp(record: records_pb2.Record, stage: Stage) -> None:
    """Add the stage's provenance entry (once: a redelivered record is not stamped twice)."""
    if record.provenance and record.provenance[-1].stage == stage.name:
        return
    entry = record.provenance.add(stage=stage.name, version=stage.version)
    entry.at.GetCurrentTime()


class StageWorker:
    def __init__(
        self,
        stage: Stage,
        bus: Bus,
        *,
        consumes: str,
        produces: str | None,
        sink: Sink | None = None,
        policy: BusPolicy | None = None,
        fetch_timeout: float = 1.0,
        excluded: ExcludedSubjects | None = None,
    ) -> None:
        self.stage = stage
        self.bus = bus
        self.consumes = subjects.records(consumes)
        self.produces = subjects.records(produces) if produces else None
        self.sink = sink
        self.policy = policy or bus.policy
        self.fetch_timeout = fetch_timeout
        self.excluded = excluded
        self.stats = WorkerStats(stage=stage.name)
        self.durable = subjects.durable(stage.name)
        self.stream = subjects.stream_for(self.consumes)
        self._tracer = tracer(stage.name)
        self._busy = False
        self._subscribed = False

    @property
    def busy(self) -> bool:
        return self._busy

    def consumer_config(self) -> ConsumerConfig:
        return ConsumerConfig(
            durable_name=self.durable,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self.policy.ack_wait_seconds,
            # The worker moves a message to the DLQ itself at max_deliver; the server's limit
            # is a safety net for a message that crashes the process every time.
            max_deliver=self.policy.max_deliver + 2,
            filter_subject=self.consumes,
            max_ack_pending=max(self.policy.batch_size * 4, 1024),
        )

    @property
    def subscribed(self) -> bool:
        """True once the durable consumer exists and the worker is pulling from it (readiness)."""
        return self._subscribed

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set; the batch in hand is finished (published, acked) first."""
        sub = await self.bus.pull_subscribe(self.consumes, self.stream, self.consumer_config(), stop)
        if sub is None:
            return
        self._subscribed = True
        log.info("stage %s consuming %s -> %s", self.stage.name, self.consumes, self.produces or "(sink)")
        last_lag = 0.0
        try:
            while not stop.is_set():
                try:
                    msgs = await sub.fetch(self.policy.batch_size, timeout=self.fetch_timeout)
                except (TimeoutError, nats.errors.TimeoutError):
                    msgs = []
                except nats.errors.ConnectionClosedError:
                    break
                if msgs:
                    self._busy = True
                    try:
                        await self.handle(msgs)
                    finally:
                        self._busy = False
                now = time.monotonic()
                if now - last_lag > 5.0:
                    last_lag = now
                    await self._update_lag()
        finally:
            self._subscribed = False
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
            log.info("stage %s stopped: %s", self.stage.name, self.stats.as_dict())

    async def _update_lag(self) -> None:
        try:
            pending, _ = await self.bus.consumer_pending(self.stream, self.durable)
            telemetry.STAGE_CONSUMER_LAG.labels(self.stage.name).set(pending)
        except Exception:  # a metric must never stop the worker
            log.debug("lag query failed", exc_info=True)

    async def handle(self, msgs: Sequence[Msg]) -> None:
        started = time.perf_counter()
        name = self.stage.name
        self.stats.messages_in += len(msgs)
        self.stats.batches += 1
        batches: list[tuple[Msg, list[records_pb2.Record]]] = []
        dead: list[tuple[Msg, str]] = []
        for msg in msgs:
            try:
                batch = records_pb2.RecordBatch.FromString(msg.data)
                batches.append((msg, list(batch.records)))
            except Exception as exc:  # any decode failure is a poison message
                dead.append((msg, f"undecodable RecordBatch: {exc!r}"))
        records = [r for _, rs in batches for r in rs]
        self.stats.records_in += len(records)
        telemetry.STAGE_RECORDS.labels(name, "in").inc(len(records))
        if self.excluded is not None:
            # In a thread: the check refreshes its list from the registry now and then.
            batches = await asyncio.to_thread(self._drop_excluded, batches, self.excluded)

        result, poison = await self._process(batches)
        owner: dict[str, int] = {}
        for i, (_, rs) in enumerate(batches):
            for r in rs:
                owner[r.record_id] = i

        try:
            if self.sink is not None:
                await asyncio.to_thread(self.sink.persist, result)
            await self.bus.publish_many(self._outputs(batches, result, owner, poison))
            for msg, reason in dead:
                await self.bus.dead_letter(
                    name, msg.data, reason="undecodable", detail=reason,
                    deliveries=msg.metadata.num_delivered, source_subject=self.consumes,
                )  # fmt: skip
        except Exception as exc:  # transient: redeliver with back-off, or DLQ
            await self._retry_or_dead_letter(msgs, batches, exc)
            return

        await asyncio.gather(*(m.ack() for m in msgs))
        self._count(result, poison, len(dead))
        telemetry.STAGE_BATCH_SECONDS.labels(name).observe(time.perf_counter() - started)

    def _drop_excluded(
        self, batches: list[tuple[Msg, list[records_pb2.Record]]], excluded: ExcludedSubjects
    ) -> list[tuple[Msg, list[records_pb2.Record]]]:
        """Records of forgotten or opted-out subjects (a redelivery, a message published before
        the forget) are dropped before the core sees them: counted, never stored, never passed on."""
        out = []
        for msg, rs in batches:
            kept = [r for r in rs if not excluded.excludes(r.subject_token)]
            dropped = len(rs) - len(kept)
            if dropped:
                self.stats.rejected["subject_excluded"] += dropped
                telemetry.STAGE_RECORDS.labels(self.stage.name, "rejected").inc(dropped)
            out.append((msg, kept))
        return out

    async def _process(
        self, batches: list[tuple[Msg, list[records_pb2.Record]]]
    ) -> tuple[StageResult, list[tuple[records_pb2.Record, str]]]:
        records = [r for _, rs in batches for r in rs]
        if not records:
            return StageResult(), []
        try:
            result = await asyncio.to_thread(self.stage.process, records)
            return self._stamped(result), []
        except Exception:  # isolate the poison record(s) below
            log.warning("stage %s: batch of %d raised; retrying record by record", self.stage.name, len(records))
        result = StageResult()
        poison: list[tuple[records_pb2.Record, str]] = []
        for record in records:
            try:
                result.extend(await asyncio.to_thread(self.stage.process, [record]))
            except Exception as exc:  # this record is the poison
                log.error("stage %s: record %s is poison: %r", self.stage.name, record.record_id, exc)
                poison.append((record, f"{type(exc).__name__}: {exc}"))
        return self._stamped(result), poison

    def _stamped(self, result: StageResult) -> StageResult:
        for r in result.kept:
            stamp(r, self.stage)
        return result

    def _outputs(
        self,
        batches: list[tuple[Msg, list[records_pb2.Record]]],
        result: StageResult,
        owner: dict[str, int],
        poison: list[tuple[records_pb2.Record, str]],
    ) -> list[tuple[str, bytes, str | None, dict[str, str]]]:
        name = self.stage.name
        out: list[tuple[str, bytes, str | None, dict[str, str]]] = []
        if self.produces is not None:
            per_msg: dict[int, list[records_pb2.Record]] = {}
            for r in result.kept:
                per_msg.setdefault(owner.get(r.record_id, 0), []).append(r)
            for i, kept in sorted(per_msg.items()):
                msg = batches[i][0] if i < len(batches) else None
                ctx = extract_trace_context(msg.headers if msg is not None else None)
                with self._tracer.start_as_current_span(f"{name}.process", context=ctx) as span:
                    span.set_attribute("crucible.records", len(kept))
                    headers = inject_trace_headers({})
                payload = records_pb2.RecordBatch(records=kept).SerializeToString()
                out.append((self.produces, payload, output_msg_id(kept, name), headers))
        dlq_items: list[tuple[records_pb2.Record, str, str, int]] = []
        for rej in result.rejected:
            if rej.dlq:
                dlq_items.append((rej.record, rej.reason, rej.detail, self._deliveries(batches, owner, rej.record)))
        for record, reason in poison:
            dlq_items.append((record, "stage_exception", reason, self._deliveries(batches, owner, record)))
        for record, reason, detail, deliveries in dlq_items:
            out.append(
                (
                    subjects.dlq(name),
                    records_pb2.RecordBatch(records=[record]).SerializeToString(),
                    f"{record.record_id}:{name}:dlq",
                    dlq_headers(name, reason, detail, deliveries, self.consumes, record.record_id),
                )
            )
        return out

    @staticmethod
    def _deliveries(
        batches: list[tuple[Msg, list[records_pb2.Record]]], owner: dict[str, int], record: records_pb2.Record
    ) -> int:
        i = owner.get(record.record_id)
        return int(batches[i][0].metadata.num_delivered) if i is not None else 1

    async def _retry_or_dead_letter(
        self, msgs: Sequence[Msg], batches: list[tuple[Msg, list[records_pb2.Record]]], exc: Exception
    ) -> None:
        name = self.stage.name
        by_msg = {id(m): rs for m, rs in batches}
        for msg in msgs:
            delivered = int(msg.metadata.num_delivered)
            if delivered >= self.policy.max_deliver:
                log.error("stage %s: giving up on a message after %d deliveries: %r", name, delivered, exc)
                try:
                    for record in by_msg.get(id(msg), []):
                        await self.bus.dead_letter(
                            name, records_pb2.RecordBatch(records=[record]).SerializeToString(),
                            reason="max_deliver_exceeded", detail=repr(exc), deliveries=delivered,
                            source_subject=self.consumes, record_id=record.record_id,
                            msg_id=f"{record.record_id}:{name}:dlq",
                        )  # fmt: skip
                        self.stats.dlq["max_deliver_exceeded"] += 1
                        telemetry.STAGE_RECORDS.labels(name, "dlq").inc()
                    await msg.ack()
                except Exception:  # the DLQ is down too: let JetStream redeliver
                    log.exception("stage %s: DLQ publish failed; leaving the message for redelivery", name)
            else:
                delay = backoff_delay(self.policy, delivered)
                log.warning("stage %s: batch failed (%r); redelivery %d in %.1fs", name, exc, delivered + 1, delay)
                self.stats.redeliveries += 1
                telemetry.STAGE_REDELIVERIES.labels(name).inc()
                await msg.nak(delay=delay)

    def _count(self, result: StageResult, poison: list[tuple[records_pb2.Record, str]], undecodable: int) -> None:
        name = self.stage.name
        self.stats.kept += len(result.kept)
        telemetry.STAGE_RECORDS.labels(name, "kept").inc(len(result.kept))
        for rej in result.rejected:
            self.stats.rejected[rej.reason] += 1
            telemetry.STAGE_REJECTIONS.labels(name, rej.reason).inc()
            telemetry.STAGE_RECORDS.labels(name, "dlq" if rej.dlq else "rejected").inc()
            if rej.dlq:
                self.stats.dlq[rej.reason] += 1
        for held in result.held:
            self.stats.held[held.reason] += 1
            telemetry.STAGE_RECORDS.labels(name, "held").inc()
        for _ in poison:
            self.stats.dlq["stage_exception"] += 1
            telemetry.STAGE_RECORDS.labels(name, "dlq").inc()
        if undecodable:
            self.stats.dlq["undecodable"] += undecodable
