"""One pass over the curated store: each record reduced to the columns selection, splitting and the
audit need (a few short strings and numbers), in Arrow batches for DuckDB.

The record itself stays a serialized blob, appended to a spill file beside the columns (its offset
and length are two of them): it is parsed again only when its training lines are written, so no
step ever holds the store's records as Python objects.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from crucible.dataset.audit import audit_context, normalise_value
from crucible.dataset.intake import has_reply
from crucible.dataset.selection import seeded_hash
from crucible.v1 import records_pb2

BATCH_ROWS = 20_000


def order_key(seed: int, record_id: str) -> int:
    """Position of a record in its split's files (the files list records in a seeded shuffled order)."""
    return seeded_hash(seed, "order\x00" + record_id)


def candidate_schema(dimensions: Sequence[str]) -> pa.Schema:
    fields = [
        pa.field("i", pa.int64()),
        pa.field("rid", pa.string()),
        pa.field("subj", pa.string()),
        pa.field("clu", pa.string()),
        pa.field("cat", pa.string()),
        pa.field("q", pa.float64()),
        pa.field("syn", pa.bool_()),
        pa.field("tb", pa.uint64()),
        pa.field("ord", pa.uint64()),
    ]
    fields += [pa.field(f"d{k}", pa.string()) for k in range(len(dimensions))]
    return pa.schema(fields)


SPAN_FIELDS = [pa.field("off", pa.int64()), pa.field("len", pa.int64())]


@dataclass
class ScanCounts:
    records_in_store: int = 0
    usable: int = 0


def scan_chunk(
    blobs: Sequence[bytes], start: int, seed: int, dimensions: Sequence[str]
) -> tuple[pa.RecordBatch | None, list[int]]:
    """(columns of the usable records, their offsets in `blobs`) for serialized records at store
    positions start, start+1, ... Pure and picklable, so worker processes can share the scan; the
    blobs themselves never travel back (the caller has them)."""
    schema = candidate_schema(dimensions)
    cols: list[list[object]] = [[] for _ in schema]
    kept: list[int] = []
    record = records_pb2.Record()
    # A store repeats a few values per dimension millions of times: each raw value is normalised once.
    groups: dict[str, str] = {}
    for offset, blob in enumerate(blobs):
        record.ParseFromString(blob)
        if not (record.category and has_reply(record)):
            continue
        rid = record.record_id
        context = audit_context(record)
        row = [
            start + offset,
            rid,
            record.subject_token,
            record.dedup.cluster_id or rid,
            record.category,
            float(record.quality.total),
            record.source.table == "synthetic",
            seeded_hash(seed, rid),
            order_key(seed, rid),
        ]
        for dim in dimensions:
            raw = context.get(dim, "")
            group = groups.get(raw)
            if group is None:
                group = groups[raw] = normalise_value(raw)
            row.append(group)
        for col, value in zip(cols, row, strict=True):
            col.append(value)
        kept.append(offset)
    if not kept:
        return None, []
    arrays = [pa.array(c, type=f.type) for c, f in zip(cols, schema, strict=True)]
    return pa.RecordBatch.from_arrays(arrays, schema=schema), kept


def with_spans(columns: pa.RecordBatch, lengths: Sequence[int], start: int) -> pa.RecordBatch:
    """`columns` plus where each record's blob lies in the spill file (blobs appended in row order
    from byte `start`)."""
    lens = np.asarray(lengths, dtype=np.int64)
    offs = start + np.cumsum(lens) - lens
    return pa.RecordBatch.from_arrays(
        [*columns.columns, pa.array(offs), pa.array(lens)],
        schema=pa.schema([*columns.schema, *SPAN_FIELDS]),
    )


def chunked(blobs: Iterable[bytes], size: int = BATCH_ROWS) -> Iterator[list[bytes]]:
    chunk: list[bytes] = []
    for blob in blobs:
        chunk.append(blob)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
