"""The JetStream stage worker: the one place that runs a stage core on the bus.

For each fetched batch of messages (durable pull consumer shared by all replicas):
1. decode every message (a `RecordBatch`) record by record: a record that does not decode goes
   to the DLQ alone, the good records of its message go on (`batching.decode_batch`);
2. run `stage.process(records)` once for the whole batch, in a thread, marking the messages in
   progress meanwhile (so a long batch is not redelivered to another replica). A core that
   reports its failing records (`StageResult.failed`) has them dead-lettered and nothing rerun;
   a core that raises for the batch is rerun record by record to find the poison;
3. persist side outputs through the sink (idempotent by record id: a redelivered batch is
   written again, and after a nats-server restart a record may even arrive twice);
4. publish one output message per input message (cut to the server's max_payload; a record
   larger than that is dead-lettered as a reference) with `Nats-Msg-Id` derived from its record
   ids, and the DLQ entries; wait for every PubAck. A dead letter of a raw (unscrubbed) record
   is a content-free reference unless policy lets the payload rest, with a TTL (`dead_letters`);
5. only then ack the inputs. A failure in 3-4 naks the inputs with the policy's back-off; after
   `max_deliver` deliveries their records go to the DLQ with the reason.

A crash anywhere means redelivery, never loss.

About 450 lines on purpose: decoding, processing, outputs, dead letters and the ack are one
delivery contract (the order above is what makes "never loss" true); the pieces that stand alone
are already apart (`batching`, `dead_letters`, `contract_ids`, `excluded_subjects`).
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
from crucible.common.batching import BadPart, chunk_by_size, decode_batch
from crucible.common.bus import Bus, backoff_delay, dlq_headers
from crucible.common.config import BusPolicy
from crucible.common.contract_ids import safe_label, split_invalid_ids
from crucible.common.dead_letters import content_free_reference, raw_payload_ttl, ttl_header
from crucible.common.excluded_subjects import ExcludedSubjects
from crucible.common.stage import STAGE_EXCEPTION, Rejection, Sink, Stage, StageResult
from crucible.common.tracing import extract_trace_context, inject_trace_headers, tracer
from crucible.v1 import records_pb2

log = logging.getLogger(__name__)

# One message to publish: subject, payload, Nats-Msg-Id, headers.
Outgoing = tuple[str, bytes, str | None, dict[str, str]]
UNDECODABLE = "undecodable"
OVERSIZED = "oversized"
# While a batch runs, its messages are marked in progress this often (a fraction of ack_wait),
# so JetStream does not hand them to another replica meanwhile.
IN_PROGRESS_FRACTION = 1 / 3
# Room left under max_payload for an output message's headers (msg id, trace context).
HEADER_ALLOWANCE = 4096


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
        dead: list[tuple[Msg, BadPart]] = []
        invalid: list[Rejection] = []  # ids that break the contract's pattern: never processed
        for msg in msgs:
            decoded = decode_batch(msg.data)  # a bad record costs only itself, not its message
            good, bad_ids = split_invalid_ids(decoded.records)
            batches.append((msg, good))
            invalid.extend(bad_ids)
            dead.extend((msg, bad) for bad in decoded.bad)
        records = [r for _, rs in batches for r in rs]
        self.stats.records_in += len(records) + len(invalid)
        telemetry.STAGE_RECORDS.labels(name, "in").inc(len(records) + len(invalid))
        if self.excluded is not None:
            # In a thread: the check refreshes its list from the registry now and then.
            batches = await asyncio.to_thread(self._drop_excluded, batches, self.excluded)

        # A batch that outlives a fraction of ack_wait would be redelivered to another replica.
        keepalive = asyncio.create_task(self._keep_in_progress(msgs))
        try:
            result, poison = await self._process(batches)
            owner: dict[str, int] = {}
            for i, (_, rs) in enumerate(batches):
                for r in rs:
                    owner[r.record_id] = i
            try:
                if self.sink is not None:
                    await asyncio.to_thread(self.sink.persist, result)
                result.rejected.extend(invalid)  # after the sink: their ids must reach no key or path
                outputs, oversized = self._outputs(batches, result, owner, poison)
                outputs.extend(self._undecodable_outputs(dead))
                await self.bus.publish_many(outputs)
            except Exception as exc:  # transient: redeliver with back-off, or DLQ
                await self._retry_or_dead_letter(msgs, batches, exc)
                return
            await asyncio.gather(*(m.ack() for m in msgs))
        finally:
            keepalive.cancel()
        self._count(result, poison, len(dead), oversized)
        telemetry.STAGE_BATCH_SECONDS.labels(name).observe(time.perf_counter() - started)

    async def _keep_in_progress(self, msgs: Sequence[Msg]) -> None:
        every = self.policy.ack_wait_seconds * IN_PROGRESS_FRACTION
        while True:
            await asyncio.sleep(every)
            try:
                await asyncio.gather(*(m.in_progress() for m in msgs))
            except Exception:  # connection gone: redelivery will follow, never loss
                log.debug("stage %s: in_progress failed", self.stage.name, exc_info=True)
                return

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
        """Run the core once on the batch. A core that knows its culprits reports them in
        `failed` (`stage.each_record`): they become poison and nothing runs twice. Only a core
        that raises for the whole batch has it rerun record by record to find the poison."""
        records = [r for _, rs in batches for r in rs]
        if not records:
            return StageResult(), []
        try:
            result = await asyncio.to_thread(self.stage.process, records)
            poison = [(f.record, f.detail) for f in result.failed]
            for record, reason in poison:
                log.error("stage %s: record %s is poison: %s", self.stage.name, record.record_id, reason)
            return self._stamped(result), poison
        except Exception:  # isolate the poison record(s) below
            log.warning("stage %s: batch of %d raised; retrying record by record", self.stage.name, len(records))
        result = StageResult()
        poison = []
        for record in records:
            try:
                one = await asyncio.to_thread(self.stage.process, [record])
            except Exception as exc:  # this record is the poison
                log.error("stage %s: record %s is poison: %r", self.stage.name, record.record_id, exc)
                poison.append((record, f"{type(exc).__name__}: {exc}"))
                continue
            poison.extend((f.record, f.detail) for f in one.failed)
            result.extend(one)
        return self._stamped(result), poison

    def _stamped(self, result: StageResult) -> StageResult:
        for r in result.kept:
            stamp(r, self.stage)
        return result

    def _payload_limit(self) -> int:
        return max(self.bus.max_payload - HEADER_ALLOWANCE, 1)

    def _outputs(
        self,
        batches: list[tuple[Msg, list[records_pb2.Record]]],
        result: StageResult,
        owner: dict[str, int],
        poison: list[tuple[records_pb2.Record, str]],
    ) -> tuple[list[Outgoing], int]:
        """The output messages (cut to the server's max_payload) and DLQ entries; and how many
        records were too large to publish at all (dead-lettered as references)."""
        name = self.stage.name
        out: list[Outgoing] = []
        dlq_items: list[tuple[records_pb2.Record, str, str, int, bool]] = []
        oversized = 0
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
                groups, too_big = chunk_by_size(kept, self._payload_limit())
                for group in groups:
                    payload = records_pb2.RecordBatch(records=group).SerializeToString()
                    out.append((self.produces, payload, output_msg_id(group, name), headers))
                for record in too_big:
                    oversized += 1
                    detail = f"{record.ByteSize()} bytes; the server accepts {self.bus.max_payload}"
                    dlq_items.append((record, OVERSIZED, detail, self._deliveries(batches, owner, record), True))
        for rej in result.rejected:
            if rej.dlq:
                deliveries = self._deliveries(batches, owner, rej.record)
                dlq_items.append((rej.record, rej.reason, rej.detail, deliveries, False))
        for record, reason in poison:
            deliveries = self._deliveries(batches, owner, record)
            dlq_items.append((record, STAGE_EXCEPTION, reason, deliveries, False))
        for record, reason, detail, deliveries, reference_only in dlq_items:
            # A stage's own DLQ rejection carries what the stage chose; a failure of the kernel
            # (exception, size) carries the input, which before the scrubber is raw PII.
            kernel_failure = reason in (STAGE_EXCEPTION, OVERSIZED)
            payload, extra = self._dead_letter_payload(record, reference_only, kernel_failure)
            label = safe_label(record.record_id)
            headers = dlq_headers(name, reason, detail, deliveries, self.consumes, label)
            out.append((subjects.dlq(name), payload, f"{label}:{name}:dlq", {**headers, **extra}))
        return out, oversized

    def _dead_letter_payload(
        self, record: records_pb2.Record, reference_only: bool, kernel_failure: bool
    ) -> tuple[bytes, dict[str, str]]:
        ttl = raw_payload_ttl(self.policy, self.consumes) if kernel_failure else None
        if reference_only or ttl == 0:
            return records_pb2.RecordBatch(records=[content_free_reference(record)]).SerializeToString(), {}
        payload = records_pb2.RecordBatch(records=[record]).SerializeToString()
        return payload, ttl_header(ttl) if ttl else {}

    def _undecodable_outputs(self, dead: list[tuple[Msg, BadPart]]) -> list[Outgoing]:
        """One DLQ entry per part that does not decode; before the scrubber, with no bytes of it
        unless policy lets them rest (they may hold raw PII that no one can even parse)."""
        name = self.stage.name
        ttl = raw_payload_ttl(self.policy, self.consumes)
        out: list[Outgoing] = []
        for msg, bad in dead:
            seq = int(msg.metadata.sequence.stream) if msg.metadata.sequence else 0
            detail = f"{bad.reason}; {len(bad.data)} bytes; stream sequence {seq}"
            headers = dlq_headers(name, UNDECODABLE, detail, int(msg.metadata.num_delivered), self.consumes)
            payload = b"" if ttl == 0 else bad.data
            if ttl:
                headers.update(ttl_header(ttl))
            part = "frame" if bad.frame else "record"
            out.append((subjects.dlq(name), payload, f"{self.stream}.{seq}.{part}{bad.index}:{name}:dlq", headers))
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
                        payload, extra = self._dead_letter_payload(record, False, True)
                        headers = dlq_headers(
                            name, "max_deliver_exceeded", repr(exc), delivered, self.consumes, record.record_id
                        )
                        await self.bus.publish(
                            subjects.dlq(name), payload, msg_id=f"{record.record_id}:{name}:dlq",
                            headers={**headers, **extra},
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

    def _count(
        self,
        result: StageResult,
        poison: list[tuple[records_pb2.Record, str]],
        undecodable: int,
        oversized: int,
    ) -> None:
        name = self.stage.name
        published = len(result.kept) - oversized
        self.stats.kept += published
        telemetry.STAGE_RECORDS.labels(name, "kept").inc(published)
        for rej in result.rejected:
            self.stats.rejected[rej.reason] += 1
            telemetry.STAGE_REJECTIONS.labels(name, rej.reason).inc()
            telemetry.STAGE_RECORDS.labels(name, "dlq" if rej.dlq else "rejected").inc()
            if rej.dlq:
                self.stats.dlq[rej.reason] += 1
        for held in result.held:
            self.stats.held[held.reason] += 1
            telemetry.STAGE_RECORDS.labels(name, "held").inc()
        # Every dead letter is counted under outcome="dlq", so the DLQ alert sees all of them.
        for reason, n in ((STAGE_EXCEPTION, len(poison)), (UNDECODABLE, undecodable), (OVERSIZED, oversized)):
            if n:
                self.stats.dlq[reason] += n
                telemetry.STAGE_RECORDS.labels(name, "dlq").inc(n)
