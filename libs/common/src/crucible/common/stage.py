"""The one interface every data-plane stage core implements.

A core is a plain object: records in, kept records plus rejections with reasons out,
no I/O. The same core runs inside the JetStream worker, in `crucible run --inline`,
in benchmarks and in unit tests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:  # annotations only: a service spec imports this module, and --help must stay fast
    from crucible.v1 import records_pb2


@dataclass(frozen=True)
class Rejection:
    """A record a stage refused, and why.

    `reason` is a short stable code (a metric label, e.g. ``below_quality``);
    `detail` is for people and may be long, but must never contain PII.
    """

    record: records_pb2.Record
    reason: str
    detail: str = ""
    # Send the record to the stage's DLQ (with the reason) instead of only counting it,
    # e.g. the scrubber's residual check: a person must look at it.
    dlq: bool = False


@dataclass
class StageResult:
    kept: list[records_pb2.Record] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    # Records the stage holds back for a person to decide on (e.g. the scorer's
    # review queue). They are neither published nor rejected.
    held: list[Rejection] = field(default_factory=list)
    # Records the core could not process (it raised on them alone; `detail` says how). The
    # worker dead-letters them as `stage_exception` and the rest of the batch goes on, without
    # running the batch a second time to find them (`each_record`).
    failed: list[Rejection] = field(default_factory=list)

    def extend(self, other: StageResult) -> None:
        self.kept.extend(other.kept)
        self.rejected.extend(other.rejected)
        self.held.extend(other.held)
        self.failed.extend(other.failed)


STAGE_EXCEPTION = "stage_exception"


def each_record(batch: Sequence[records_pb2.Record], step: Callable[[records_pb2.Record], StageResult]) -> StageResult:
    """Run a per-record core over a batch, turning an exception on one record into a `failed`
    entry: the culprit is known at once, and no record is processed twice."""
    result = StageResult()
    for record in batch:
        try:
            result.extend(step(record))
        except Exception as exc:  # this record is the poison; the others go on
            result.failed.append(Rejection(record, STAGE_EXCEPTION, f"{type(exc).__name__}: {exc}"))
    return result


@runtime_checkable
class Stage(Protocol):
    """A stage core. `name` is the stage's subject/metric name; `version` goes into provenance."""

    name: str
    version: str

    def process(self, batch: Sequence[records_pb2.Record]) -> StageResult: ...


class Sink:
    """Side output of a stage, written by the worker *before* it acks the inputs
    (e.g. rejected records kept for audit, the curated store). Must be idempotent by record id:
    a redelivered batch is written again, and after a nats-server restart a record can even
    arrive a second time in another batch (a work-queue stream forgets the ids of messages it
    has deleted, so JetStream's duplicate window no longer catches the republish)."""

    def persist(self, result: StageResult) -> None:  # pragma: no cover - interface
        raise NotImplementedError


@dataclass(frozen=True)
class StageBlock:
    """A stage core and the sink of its side outputs, built together by one factory
    (`ServiceSpec.build_stage`), so the two share what they both need (dedup's index, its
    lock) as plain references instead of through a process-wide cache. The shape of
    datatrove's filters, which own the writer of what they drop; here the worker calls the
    sink, before it acks, and the core stays pure."""

    stage: Stage
    sink: Sink | None = None
