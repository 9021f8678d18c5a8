"""RecordBatch on the wire: one bad record costs only itself; batches are cut to a byte limit."""

from __future__ import annotations

from crucible.common.batching import chunk_by_size, decode_batch
from crucible.v1 import records_pb2


def rec(i: int, text: str = "") -> records_pb2.Record:
    r = records_pb2.Record(record_id=f"r{i}")
    r.turns.add(role="user", text=text or f"hello {i}")
    return r


def frame(body: bytes) -> bytes:
    out, n = bytearray(b"\x0a"), len(body)
    while True:  # the length as a varint
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out) + body


def test_a_whole_batch_decodes_as_before() -> None:
    records = [rec(i) for i in range(3)]
    decoded = decode_batch(records_pb2.RecordBatch(records=records).SerializeToString())
    assert decoded.records == records and decoded.bad == []


def test_an_undecodable_record_is_set_apart_and_the_others_kept() -> None:
    bad = rec(9).SerializeToString().replace(b"r9", b"\xff\xfe")  # invalid UTF-8 in a string field
    data = frame(rec(0).SerializeToString()) + frame(bad) + frame(rec(2, "x" * 300).SerializeToString())
    decoded = decode_batch(data)
    assert [r.record_id for r in decoded.records] == ["r0", "r2"]
    (part,) = decoded.bad
    assert (part.index, part.data, part.frame) == (1, bad, False)


def test_a_broken_frame_loses_only_what_follows_it() -> None:
    data = frame(rec(0).SerializeToString()) + b"\x0a\xff\xff\x01"  # claims far more bytes than there are
    decoded = decode_batch(data)
    assert [r.record_id for r in decoded.records] == ["r0"]
    (part,) = decoded.bad
    assert part.frame and part.index == 1


def test_chunks_fit_the_limit_and_a_record_over_it_is_set_apart() -> None:
    records = [rec(i, "y" * 400) for i in range(10)] + [rec(99, "z" * 5000)]
    groups, oversized = chunk_by_size(records, 1500)
    assert [r.record_id for r in oversized] == ["r99"]
    assert [r.record_id for g in groups for r in g] == [f"r{i}" for i in range(10)]
    assert all(len(records_pb2.RecordBatch(records=g).SerializeToString()) <= 1500 for g in groups)
    assert len(groups) == 4
