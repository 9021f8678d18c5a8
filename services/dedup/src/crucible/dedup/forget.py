"""The dedup service as a subject store: a forgotten person's records leave the index.

- Redis (shared by replicas): `RedisIndex.forget` deletes their hashes and claimed keys and
  re-points records that named them;
- the in-memory index's snapshot in the artifact store: rewritten as one base without them;
- the in-memory index of a running worker: `subject.forget` (durable `crucible-dedup-forget`)
  swaps it for `MemoryIndex.without(...)` under the stage's lock;
- the per-run decision files and reports under `dedup/runs/`: their rows go, and rows that
  named them as cluster or duplicate are re-pointed (the report is rebuilt).
The index is keyed by record id: `crucible forget` resolves the ids before anything is deleted
and passes them (the store request, and the event's `record_ids`)."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import weakref
from typing import Any

from crucible.common.runtime import Runtime
from crucible.common.subject_stores import ForgetRequest, SubjectStore
from crucible.dedup.memory_index import MemoryIndex
from crucible.dedup.snapshot import BASE_KEY, INDEX_PREFIX, _segment_keys, load_memory_index
from crucible.v1 import events_pb2

log = logging.getLogger(__name__)

RUNS_PREFIX = "dedup/runs"

# The indexes of the workers running in this process (normally one), for the event handler.
LIVE_INDEXES: weakref.WeakSet[Any] = weakref.WeakSet()
_SNAPSHOT_LOCK = threading.Lock()


def forget_in_snapshot(runtime: Runtime, removed: set[str]) -> int:
    """Rewrite the stored in-memory index without `removed`; returns the records dropped."""
    from crucible.dedup.service import dedup_policy

    store = runtime.artifacts
    if not removed or not store.list(INDEX_PREFIX):
        return 0
    with _SNAPSHOT_LOCK:
        policy = dedup_policy(runtime)
        index = load_memory_index(store, policy.params(), compact_after=1 << 30)
        smaller = index.without(removed)
        if smaller is index:
            return 0
        _write_base(runtime, smaller)
        return len(index) - len(smaller)


def _write_base(runtime: Runtime, index: MemoryIndex) -> None:
    store = runtime.artifacts
    store.write_bytes(BASE_KEY, index.to_snapshot_bytes())
    for key in _segment_keys(store):
        store.delete(key)


def forget_in_live_indexes(runtime: Runtime, removed: set[str]) -> int:
    """Swap every running worker's in-memory index for one without `removed`."""
    dropped = 0
    for shared in list(LIVE_INDEXES):
        with shared.lock:
            inner = shared.inner
            if not isinstance(inner, MemoryIndex):
                continue
            smaller = inner.without(removed)
            if smaller is inner:
                continue
            dropped += len(inner) - len(smaller)
            shared.inner = smaller
            for rid in removed:
                shared.exact.pop(rid, None)
            with _SNAPSHOT_LOCK:
                _write_base(runtime, smaller)
    return dropped


def forget_in_run_files(runtime: Runtime, removed: set[str]) -> dict[str, int]:
    """Drop their rows from every run's decision files and re-point rows that named them."""
    from crucible.dedup.service import run_report

    store = runtime.artifacts
    rows_removed = files = 0
    runs: set[str] = set()
    for key in store.list(RUNS_PREFIX):
        if "/batches/" not in key or not key.endswith(".jsonl"):
            continue
        text = store.read_text(key)
        if not any(rid in text for rid in removed):
            continue
        rows = [json.loads(line) for line in text.splitlines() if line.strip()]
        kept = [r for r in rows if r["record_id"] not in removed]
        rows_removed += len(rows) - len(kept)
        for row in kept:
            if row.get("duplicate_of") in removed:
                row["duplicate_of"] = ""
            if row.get("cluster_id") in removed:
                row["cluster_id"] = row["record_id"]
        if kept:
            store.write_text(key, "".join(json.dumps(r, sort_keys=True) + "\n" for r in kept))
        else:
            store.delete(key)
        files += 1
        runs.add(key[len(RUNS_PREFIX) + 1 :].split("/", 1)[0])
    for run_id in sorted(runs):
        if store.exists(f"{RUNS_PREFIX}/{run_id}/report.json"):
            run_report(runtime, run_id)
    return {"run_rows": rows_removed, "run_files": files}


def _forget(runtime: Runtime, request: ForgetRequest) -> dict[str, int]:
    removed = set(request.record_ids)
    out: dict[str, int] = {}
    if runtime.settings.redis_url:
        from crucible.dedup.redis_index import RedisIndex
        from crucible.dedup.service import dedup_policy

        policy = dedup_policy(runtime)
        index = RedisIndex.from_url(policy.params(), runtime.settings.redis_url, policy.redis_prefix)
        out.update({f"redis_{k}": v for k, v in index.forget(removed).items()})
    out["memory_records"] = forget_in_live_indexes(runtime, removed)
    out["snapshot_records"] = forget_in_snapshot(runtime, removed)
    out.update(forget_in_run_files(runtime, removed))
    return out


async def on_forget(runtime: Runtime, payload: bytes) -> None:
    """`subject.forget`: the running worker's in-memory index, and the index's stores (Redis,
    snapshot, run files: already done when `crucible forget` ran with this service installed;
    idempotent), drop the subject's records."""
    event = events_pb2.SubjectForget.FromString(payload)
    request = ForgetRequest(subject_token=event.subject_token, record_ids=frozenset(event.record_ids))
    counts = await asyncio.to_thread(_forget, runtime, request)
    if any(counts.values()):
        log.info("dedup: forgot a subject's records: %s", counts)


STORE = SubjectStore(name="dedup", order=50, forget=_forget)
