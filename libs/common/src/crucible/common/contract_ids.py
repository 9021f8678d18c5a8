"""Ids at the contract boundary: what a bus message may carry in an id field.

Ids end up in artifact keys, file names, registry keys and NATS headers (a run id names the
scrubber's tally folder, a job id the trainer's work folder). One pattern, documented in the
proto files, is checked when a message is decoded from the bus: a record or an event whose id
does not match is dead-lettered with reason `invalid_id`, never processed.

ID_PATTERN: 1 to 256 characters from `A-Z a-z 0-9 . _ : = + -`, starting with a letter or digit.
No `/`, no `\\`, no whitespace or control characters, never `.` or `..`.
Id fields: every string field whose name ends in `_id`, plus `dataset_version` and `model_name`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from crucible.common.stage import Rejection
from crucible.v1 import events_pb2, records_pb2

ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:=+\-]{0,255}")
_NAMED_IDS = frozenset({"dataset_version", "model_name"})


def valid_id(value: str) -> bool:
    return ID_PATTERN.fullmatch(value) is not None


def _is_id_field(field: FieldDescriptor) -> bool:
    return field.type == FieldDescriptor.TYPE_STRING and (field.name.endswith("_id") or field.name in _NAMED_IDS)


def invalid_ids(message: Message, prefix: str = "") -> list[str]:
    """`field: value` for each set id field (nested messages too) that breaks ID_PATTERN; [] if none.
    An empty id is "not set" here: a contract that needs one says so where it is used."""
    bad: list[str] = []
    for field, value in message.ListFields():
        name = f"{prefix}{field.name}"
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            if field.message_type.GetOptions().map_entry:
                continue  # maps hold free-form context, not ids
            items = value if field.is_repeated else [value]
            for item in items:
                bad.extend(invalid_ids(item, f"{name}."))
        elif _is_id_field(field):
            values = value if field.is_repeated else [value]
            bad.extend(f"{name}: {v[:64]!r}" for v in values if v and not valid_id(v))
    return bad


def safe_label(value: str) -> str:
    """An id fit for a header or a message id: the id itself when valid, else a digest of it."""
    if valid_id(value):
        return value
    return "invalid-" + hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()[:16]


def split_invalid_ids(records: Iterable[records_pb2.Record]) -> tuple[list[records_pb2.Record], list[Rejection]]:
    """(records with valid ids, the others as `invalid_id` rejections bound for the DLQ)."""
    good: list[records_pb2.Record] = []
    bad: list[Rejection] = []
    for record in records:
        problems = invalid_ids(record)
        if problems:
            bad.append(Rejection(record=record, reason="invalid_id", detail="; ".join(problems)[:512], dlq=True))
        else:
            good.append(record)
    return good, bad


def event_invalid_ids(headers: dict[str, str] | None, payload: bytes) -> list[str]:
    """The id problems of an event, decoded by its `Crucible-Type` header (set by
    `Bus.publish_event`); [] when it is clean, untyped, or of a type this process does not know
    (the handler decodes and judges it then)."""
    type_name = (headers or {}).get("Crucible-Type", "")
    if not type_name.startswith("crucible.v1."):
        return []
    cls = getattr(events_pb2, type_name.removeprefix("crucible.v1."), None)
    if cls is None:
        return []
    try:
        return invalid_ids(cls.FromString(payload))
    except Exception:  # undecodable: the handler's own error path reports it
        return []
