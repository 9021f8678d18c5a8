"""Record builders for the scorer tests."""

from __future__ import annotations

from crucible.v1 import records_pb2


def make_record(
    record_id: str,
    user: str | None,
    reply: str | None,
    *,
    context: dict[str, str] | None = None,
    **signals: object,
) -> records_pb2.Record:
    record = records_pb2.Record(record_id=record_id, subject_token="tok-" + record_id)
    if user is not None:
        record.turns.add(role="user", text=user)
    if reply is not None:
        record.turns.add(role="assistant", text=reply)
    for key, value in signals.items():
        setattr(record.signals, key, value)
    record.context.update(context or {})
    return record
