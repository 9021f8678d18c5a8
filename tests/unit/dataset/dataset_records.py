"""Small record builders for the dataset tests (real protobuf Records, no mocks)."""

from __future__ import annotations

from crucible.v1 import records_pb2


def make_record(
    record_id: str,
    *,
    subject: str = "subject-a",
    category: str = "instruction_following",
    quality: float = 8.0,
    cluster: str = "",
    synthetic: bool = False,
    context: dict[str, str] | None = None,
    turns: list[tuple[str, str]] | None = None,
) -> records_pb2.Record:
    record = records_pb2.Record(record_id=record_id, subject_token=subject, category=category)
    record.source.table = "synthetic" if synthetic else "checkins"
    record.source.key = record_id
    record.kind = records_pb2.RECORD_KIND_CHECKIN
    record.quality.total = quality
    record.dedup.cluster_id = cluster or record_id
    for key, value in (context or {}).items():
        record.context[key] = value
    for role, text in turns or [("user", f"How do we talk about chores? ({record_id})"), ("assistant", "Calmly.")]:
        record.turns.add(role=role, text=text)
    record.provenance.add(stage="scorer", version="1.2.3")
    return record
