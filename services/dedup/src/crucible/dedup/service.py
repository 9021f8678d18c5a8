"""Dedup service shell: wires the pure core to the platform (index choice, snapshot, report).

- `build_stage`: `DedupStage` and `DedupSink` around one index: Redis when
  `CRUCIBLE_REDIS_URL` is set (shared by every replica), else in memory, restored from the
  snapshot in the artifact store. After each batch (before its inputs are acked) the sink
  writes the in-memory index's new segment and the batch's decisions under the run's folder,
  so a restart loses nothing that was acked and the run report can be built.
- `run_summary`: builds the run's duplicate report (clusters, sizes, pairs) in the artifact
  store and returns its counts for `crucible run`.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
from typing import TYPE_CHECKING, Any

from crucible.common import subjects
from crucible.common.services import EventHandler, ServiceSpec, deferred
from crucible.common.stage import Sink, StageBlock, StageResult
from crucible.dedup import __version__
from crucible.dedup.report import build_report, decision_row, report_counts

if TYPE_CHECKING:  # the rest loads numpy and pydantic: only when a stage is built
    from crucible.common.runtime import Runtime
    from crucible.dedup.index import Decision, DedupIndex, IndexBatch
    from crucible.dedup.policy import DedupPolicy

RUNS_PREFIX = "dedup/runs"


# Exact flags kept for the sink (a redelivered batch is persisted again with the same flags).
_EXACT_FLAGS_KEPT = 200_000


class _SharedIndex:
    """The index as the stage and the sink share it: one lock around deciding and persisting,
    and the exact flags of decisions the sink has not written yet (the proto has no field)."""

    def __init__(self, index: DedupIndex) -> None:
        self.inner = index
        self.lock = threading.Lock()
        self.exact: dict[str, bool] = {}

    def __len__(self) -> int:
        return len(self.inner)

    def assign(self, batch: IndexBatch) -> list[Decision]:
        with self.lock:
            decisions = self.inner.assign(batch)
            for rid, d in zip(batch.record_ids, decisions, strict=True):
                self.exact[rid] = d.exact
            if len(self.exact) > _EXACT_FLAGS_KEPT:  # the oldest were persisted long ago
                for rid in list(itertools.islice(self.exact, len(self.exact) - _EXACT_FLAGS_KEPT // 2)):
                    del self.exact[rid]
        return decisions


def dedup_policy(runtime: Runtime) -> DedupPolicy:
    from crucible.dedup.policy import DedupPolicy

    policy = runtime.policy.section("dedup")
    assert isinstance(policy, DedupPolicy)
    return policy


def index_backend(runtime: Runtime) -> str:
    return "redis" if runtime.settings.redis_url else "memory"


def open_index(runtime: Runtime, policy: DedupPolicy) -> DedupIndex:
    """Redis when `CRUCIBLE_REDIS_URL` is set (shared by every replica), else in memory,
    restored from the snapshot in the artifact store."""
    params = policy.params()
    if runtime.settings.redis_url:
        from crucible.dedup.redis_index import RedisIndex

        return RedisIndex.from_url(
            params, runtime.settings.redis_url, policy.redis_prefix, records_per_call=policy.redis_records_per_call
        )
    from crucible.dedup.snapshot import load_memory_index

    return load_memory_index(runtime.artifacts, params, policy.snapshot_compact_segments)


class DedupSink(Sink):
    """Writes the in-memory index's new segment and the batch's decisions (with the exact
    flags the stage left in the shared index) before the inputs are acked."""

    def __init__(self, runtime: Runtime, index: _SharedIndex, policy: DedupPolicy) -> None:
        self.runtime = runtime
        self.index = index
        self.policy = policy

    def persist(self, result: StageResult) -> None:
        from crucible.dedup.memory_index import MemoryIndex
        from crucible.dedup.snapshot import persist_journal

        shared = self.index
        if isinstance(shared.inner, MemoryIndex):
            with shared.lock:
                persist_journal(self.runtime.artifacts, shared.inner, self.policy.snapshot_compact_segments)
        by_run: dict[str, list[dict[str, Any]]] = {}
        for r in result.kept:
            run_id = r.extraction.run_id or self.runtime.run_id
            exact = shared.exact.get(r.record_id, False)
            by_run.setdefault(run_id, []).append(
                decision_row(r.record_id, r.dedup.cluster_id, r.dedup.duplicate_of, r.dedup.similarity, exact)
            )
        for run_id, rows in by_run.items():
            # Named by content: a redelivered batch overwrites its own file, and the report
            # counts a record once anyway.
            digest = hashlib.sha1("\n".join(row["record_id"] for row in rows).encode()).hexdigest()[:20]
            text = "".join(json.dumps(row, sort_keys=True) + "\n" for row in rows)
            self.runtime.artifacts.write_text(f"{RUNS_PREFIX}/{run_id}/batches/{digest}.jsonl", text)


def build_stage(runtime: Runtime) -> StageBlock:
    """The stage and its sink around one index: the stage decides, the sink persists what
    the stage decided (one lock between them)."""
    from crucible.dedup.core import DedupStage

    policy = dedup_policy(runtime)
    index = _SharedIndex(open_index(runtime, policy))
    from crucible.dedup.forget import LIVE_INDEXES

    LIVE_INDEXES.add(index)  # `subject.forget` reaches this worker's in-memory index
    return StageBlock(DedupStage(policy.params(), index), DedupSink(runtime, index, policy))


def run_report(runtime: Runtime, run_id: str) -> dict[str, Any]:
    """Build (and store) the duplicate report of a run from the sink's batch files."""
    rows: list[dict[str, Any]] = []
    for key in runtime.artifacts.list(f"{RUNS_PREFIX}/{run_id}/batches"):
        if key.endswith(".jsonl"):
            rows.extend(json.loads(line) for line in runtime.artifacts.read_text(key).splitlines() if line.strip())
    report = build_report(rows, threshold=dedup_policy(runtime).threshold)
    report["run_id"] = run_id
    report["uri"] = runtime.artifacts.write_json(f"{RUNS_PREFIX}/{run_id}/report.json", report)
    return report


def run_summary(runtime: Runtime, run_id: str) -> dict[str, Any]:
    """The run's duplicate counts, and the index as the sink left it (reopened: the worker's
    copy is gone by the time `crucible run` asks)."""
    report = run_report(runtime, run_id)
    policy = dedup_policy(runtime)
    params = policy.params()
    counts = report_counts(report)
    counts.update(
        index_backend=index_backend(runtime),
        indexed_records=len(open_index(runtime, policy)),
        bands=params.bands,
        rows=params.rows,
    )
    return counts


async def _on_forget(runtime: Runtime, payload: bytes) -> None:
    """`subject.forget`: the person's records leave every index this process holds (forget.py)."""
    from crucible.dedup.forget import on_forget

    await on_forget(runtime, payload)


SPEC = ServiceSpec(
    name="dedup",
    version=__version__,
    description="Near-duplicate clusters (MinHash LSH, character 5-grams): records.scored -> records.curated",
    order=40,
    consumes="records.scored",
    produces="records.curated",
    policy_model="crucible.dedup.policy:DedupPolicy",
    build_stage=build_stage,
    register_cli=deferred("crucible.dedup.cli:register"),
    benches={
        "dedup": deferred(
            "crucible.dedup.bench:run_bench",
            doc="Records per CPU-second (MinHash + LSH) vs datasketch, and recall/precision vs brute-force Jaccard.",
        )
    },
    run_summary=run_summary,
    events={subjects.SUBJECT_FORGET: EventHandler(subjects.DEDUP_FORGET, _on_forget, deliver_new_only=True)},
    subject_stores=("crucible.dedup.forget:STORE",),
)
