"""The dedup index interface and the one clustering rule every implementation follows.

The core hands a batch of prepared records (`IndexBatch`) to an index object it was given
(`DedupIndex`): `MemoryIndex` (pure, in this process, snapshotted by the shell) or
`RedisIndex` (shared by replicas; the I/O lives in `redis_index.py`). Both apply, per record
and in order, the rule below, atomically with respect to other writers:

1. A record id already in the index gets its stored decision again (redelivery is idempotent).
2. Same normalised text as an indexed record (exact key): duplicate of its first holder, similarity 1.
3. Otherwise the candidates are the records that first claimed one of its LSH band keys; the
   candidate with the highest estimated similarity (equal signature slots / num_perm) wins if
   that is >= the threshold (ties: the earliest indexed). Its cluster is the record's cluster.
4. The record then claims its exact key and every band key nobody holds yet.

A record that is nobody's duplicate starts a cluster named after itself. Clusters are never
merged afterwards: their ids have already been published.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

import numpy as np


@dataclass(frozen=True)
class IndexBatch:
    record_ids: Sequence[str]
    exact_keys: np.ndarray  # (n,) uint64: hash of the normalised text
    signatures: np.ndarray  # (n, num_perm) uint32
    band_keys: np.ndarray  # (n, bands) uint64

    def __len__(self) -> int:
        return len(self.record_ids)


class Decision(NamedTuple):
    # A NamedTuple, not a dataclass: one is built per record on the hot path.
    cluster_id: str
    duplicate_of: str  # "" for the first record of a cluster
    similarity: float  # estimated Jaccard with duplicate_of; 1.0 for the first record
    exact: bool = False  # same normalised text as duplicate_of


class DedupIndex(Protocol):
    def assign(self, batch: IndexBatch) -> list[Decision]:
        """Decide every record of the batch, in order, and index it (see the module docstring)."""
        ...

    def __len__(self) -> int: ...
