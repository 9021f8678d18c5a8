"""The dedup stage core: records in, the same records out, each marked with its cluster.

Pure apart from the index object it is given (the index is the stage's state; the shell picks
the in-memory or the Redis one). Nothing is dropped: duplicates go downstream marked, and the
dataset builder keeps the best member of each cluster.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import xxhash

from crucible.common.stage import StageResult
from crucible.dedup import __version__
from crucible.dedup.banding import band_keys
from crucible.dedup.index import Decision, DedupIndex, IndexBatch
from crucible.dedup.normalise import normalise_codes, record_text
from crucible.dedup.params import DedupParams
from crucible.dedup.signature import MinHasher
from crucible.v1 import records_pb2

STAGE_NAME = "dedup"


def exact_key(normalised: str) -> int:
    """64-bit key of the normalised text (XXH3 of its UTF-32-LE bytes): the exact-duplicate fast path."""
    return xxhash.xxh3_64_intdigest(normalised.encode("utf-32-le", "surrogatepass"))


def exact_keys(codes: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """`exact_key` of every normalised text of a batch, from its code points."""
    data = np.ascontiguousarray(codes).tobytes()
    ends = (np.cumsum(lengths) * 4).tolist()
    digest = xxhash.xxh3_64_intdigest
    return np.fromiter(
        (digest(data[s:e]) for s, e in zip([0, *ends[:-1]], ends, strict=True)), dtype=np.uint64, count=len(ends)
    )


@dataclass(frozen=True)
class Preparer:
    """Texts -> an IndexBatch (normalisation, signatures, band keys), vectorised per batch."""

    params: DedupParams

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hasher", MinHasher(self.params.num_perm, self.params.seed))

    def prepare(self, record_ids: Sequence[str], texts: Sequence[str]) -> IndexBatch:
        codes, lengths = normalise_codes(list(texts))
        sigs = self._hasher.signatures_from_codes(codes, lengths)  # type: ignore[attr-defined]
        return IndexBatch(
            record_ids=list(record_ids),
            exact_keys=exact_keys(codes, lengths),
            signatures=sigs,
            band_keys=band_keys(sigs, self.params.bands, self.params.rows),
        )


def dedup_texts(
    record_ids: Sequence[str], texts: Sequence[str], index: DedupIndex, params: DedupParams, batch_size: int = 1024
) -> list[Decision]:
    """Cluster texts in order against `index` (the offline command and the benchmark)."""
    prep = Preparer(params)
    out: list[Decision] = []
    for lo in range(0, len(texts), batch_size):
        out.extend(index.assign(prep.prepare(record_ids[lo : lo + batch_size], texts[lo : lo + batch_size])))
    return out


class DedupStage:
    """`process(batch)`: every record comes back with `dedup` set; none is rejected."""

    name = STAGE_NAME
    version = __version__

    def __init__(self, params: DedupParams, index: DedupIndex) -> None:
        self.params = params
        self.index = index
        self._prep = Preparer(params)

    def process(self, batch: Sequence[records_pb2.Record]) -> StageResult:
        if not batch:
            return StageResult()
        prepared = self._prep.prepare([r.record_id for r in batch], [record_text(r) for r in batch])
        decisions = self.index.assign(prepared)
        kept = []
        for record, decision in zip(batch, decisions, strict=True):
            out = records_pb2.Record()
            out.CopyFrom(record)
            out.dedup.cluster_id = decision.cluster_id
            out.dedup.duplicate_of = decision.duplicate_of
            out.dedup.similarity = decision.similarity
            kept.append(out)
        return StageResult(kept=kept)
