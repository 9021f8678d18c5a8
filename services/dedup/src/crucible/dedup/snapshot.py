"""Shell I/O: the in-memory index's snapshot in the artifact store, so it survives a restart.

Layout under `dedup/index/`: `base.npz` (the whole index up to some position) and
`segments/<start>.npz` (what each persisted batch added). Start-up loads the base and replays
the segments; when segments pile up they are folded into a new base (written first, then
the segments deleted, so a crash in between only leaves segments that loading skips).
One writer per artifact store: replicas that share an index use Redis instead.
"""

from __future__ import annotations

import logging

from crucible.common.artifacts import ArtifactStore
from crucible.dedup.memory_index import MemoryIndex
from crucible.dedup.params import DedupParams

log = logging.getLogger(__name__)

INDEX_PREFIX = "dedup/index"
BASE_KEY = f"{INDEX_PREFIX}/base.npz"
SEGMENTS_PREFIX = f"{INDEX_PREFIX}/segments"


def _segment_keys(artifacts: ArtifactStore) -> list[str]:
    return sorted(k for k in artifacts.list(SEGMENTS_PREFIX) if k.endswith(".npz"))


def load_memory_index(artifacts: ArtifactStore, params: DedupParams, compact_after: int = 64) -> MemoryIndex:
    index = MemoryIndex(params)
    if artifacts.exists(BASE_KEY):
        index.load_segment(artifacts.read_bytes(BASE_KEY))
    segments = _segment_keys(artifacts)
    for key in segments:
        index.load_segment(artifacts.read_bytes(key))
    if len(index):
        log.info(
            "dedup index restored: %d records from %s (%d segments)",
            len(index),
            artifacts.uri(INDEX_PREFIX),
            len(segments),
        )
    if len(segments) >= compact_after:
        compact(artifacts, index)
    return index


def persist_journal(artifacts: ArtifactStore, index: MemoryIndex, compact_after: int = 64) -> str | None:
    """Write what the index gained since the last call; returns the segment's key (None: nothing new)."""
    pending = index.journal()
    if pending is None:
        return None
    start, end, data = pending
    key = f"{SEGMENTS_PREFIX}/{start:012d}.npz"
    artifacts.write_bytes(key, data)
    index.mark_persisted(end)
    if len(_segment_keys(artifacts)) >= compact_after:
        compact(artifacts, index)
    return key


def compact(artifacts: ArtifactStore, index: MemoryIndex) -> None:
    artifacts.write_bytes(BASE_KEY, index.to_snapshot_bytes())
    for key in _segment_keys(artifacts):
        artifacts.delete(key)
