"""What a dead letter may carry.

A record read from crucible.records.raw has not been scrubbed: its turns and private context are
raw PII. A DLQ entry made from it (a stage exception, an undecodable record, too many deliveries,
a record too large to publish) is therefore a content-free reference by default: the ids needed
to find the row again at its source, the pseudonymous subject token (so `forget` can purge it),
never the text. Policy (`bus.dlq_raw_payload_ttl_seconds`) may let the raw payload rest in the
DLQ for a bounded time instead; the entry then carries a per-message TTL and expires by itself.
"""

from __future__ import annotations

from crucible.common import subjects
from crucible.common.config import BusPolicy
from crucible.v1 import records_pb2

# JetStream's per-message TTL header (nats-server 2.11+, on a stream with allow_msg_ttl).
H_TTL = "Nats-TTL"


def content_free_reference(record: records_pb2.Record) -> records_pb2.Record:
    """The record's identity and where it came from; none of its content."""
    ref = records_pb2.Record(record_id=record.record_id, kind=record.kind, subject_token=record.subject_token)
    ref.source.CopyFrom(record.source)
    ref.extraction.CopyFrom(record.extraction)
    if record.HasField("created_at"):
        ref.created_at.CopyFrom(record.created_at)
    return ref


def carries_raw_pii(source_subject: str) -> bool:
    """Messages on this subject are not scrubbed yet."""
    return source_subject == subjects.RAW


def raw_payload_ttl(policy: BusPolicy, source_subject: str) -> float | None:
    """None: the payload may be dead-lettered as it is. 0: only a reference may be. >0: the raw
    payload may rest this many seconds."""
    if not carries_raw_pii(source_subject):
        return None
    return policy.dlq_raw_payload_ttl_seconds


def ttl_header(seconds: float) -> dict[str, str]:
    return {H_TTL: f"{max(int(seconds), 1)}s"}
