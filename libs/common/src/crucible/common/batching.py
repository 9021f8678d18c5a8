"""RecordBatch messages on the wire: decoding one record at a time, and cutting batches to size.

- `decode_batch`: a message whose one record cannot be decoded still yields its other records
  (a RecordBatch is a sequence of length-prefixed `records` fields, so each is parsed alone);
  only a broken frame loses what follows it.
- `chunk_by_size`: RecordBatches that fit under the server's `max_payload`; a record that alone
  is over the limit is set apart (it can never be published: the caller dead-letters a reference).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from google.protobuf.message import DecodeError

from crucible.v1 import records_pb2

# Bytes a RecordBatch adds around each record: the field tag and the length varint.
_FRAME_OVERHEAD = 1 + 5


@dataclass(frozen=True)
class BadPart:
    """Bytes of a message that do not decode: one record (`index` >= 0) or a broken frame from
    there to the end of the message (`index` is the count of records before it, `frame` True)."""

    index: int
    data: bytes
    reason: str
    frame: bool = False


@dataclass
class DecodedBatch:
    records: list[records_pb2.Record] = field(default_factory=list)
    bad: list[BadPart] = field(default_factory=list)


class _Truncated(Exception):
    pass


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= len(data) or shift > 63:
            raise _Truncated
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7


def decode_batch(data: bytes) -> DecodedBatch:
    """Every record of a RecordBatch that decodes, and the parts that do not (see module doc)."""
    try:
        return DecodedBatch(records=list(records_pb2.RecordBatch.FromString(data).records))
    except DecodeError:
        pass  # walk the frames below to keep the good records
    out = DecodedBatch()
    pos, index = 0, 0
    while pos < len(data):
        start = pos
        try:
            key, pos = _varint(data, pos)
            number, wire_type = key >> 3, key & 7
            if wire_type == 0:
                _, pos = _varint(data, pos)
                continue
            if wire_type in (1, 5):
                pos += 8 if wire_type == 1 else 4
                if pos > len(data):
                    raise _Truncated
                continue
            if wire_type != 2:
                raise _Truncated
            length, pos = _varint(data, pos)
            end = pos + length
            if end > len(data):
                raise _Truncated
            chunk, pos = data[pos:end], end
        except _Truncated:
            out.bad.append(BadPart(index, data[start:], f"broken RecordBatch frame at byte {start}", frame=True))
            break
        if number != 1:
            continue  # an unknown field: protobuf ignores it, so do we
        try:
            out.records.append(records_pb2.Record.FromString(chunk))
        except DecodeError as exc:
            out.bad.append(BadPart(index, chunk, f"undecodable record {index}: {exc}"))
        index += 1
    return out


def chunk_by_size(
    records: Sequence[records_pb2.Record], limit: int
) -> tuple[list[list[records_pb2.Record]], list[records_pb2.Record]]:
    """Consecutive groups whose RecordBatch encodes to at most `limit` bytes, in order, and the
    records that alone exceed it."""
    groups: list[list[records_pb2.Record]] = []
    oversized: list[records_pb2.Record] = []
    current: list[records_pb2.Record] = []
    size = 0
    for record in records:
        n = record.ByteSize() + _FRAME_OVERHEAD
        if n > limit:
            oversized.append(record)
            continue
        if current and size + n > limit:
            groups.append(current)
            current, size = [], 0
        current.append(record)
        size += n
    if current:
        groups.append(current)
    return groups, oversized
