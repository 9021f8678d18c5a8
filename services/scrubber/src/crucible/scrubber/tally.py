"""Redaction tallies for `crucible run`'s summary: the scrubber's sink writes one small JSON per
batch (counts per record, never values), and `run_summary` adds them up.

Idempotent by construction: the file name is a hash of the batch's record ids (a redelivered
batch overwrites its own file) and totals are merged by record id (a record seen in two batches
counts once)."""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import TYPE_CHECKING, Any

from crucible.common.contract_ids import valid_id
from crucible.common.stage import Sink, StageResult

if TYPE_CHECKING:
    from crucible.common.artifacts import ArtifactStore

PREFIX = "scrubber/tallies"


def _run_id(result: StageResult) -> str:
    for rec in [*result.kept, *(r.record for r in result.rejected)]:
        if rec.extraction.run_id and valid_id(rec.extraction.run_id):  # it becomes a folder name
            return rec.extraction.run_id
    return "unknown"


def batch_tally(result: StageResult) -> dict[str, Any]:
    return {
        "kept": {r.record_id: dict(r.redactions) for r in result.kept},
        "rejected": {r.record.record_id: r.reason for r in result.rejected},
    }


class TallySink(Sink):
    def __init__(self, artifacts: ArtifactStore) -> None:
        self.artifacts = artifacts

    def persist(self, result: StageResult) -> None:
        tally = batch_tally(result)
        ids = sorted([*tally["kept"], *tally["rejected"]])
        if not ids:
            return
        digest = hashlib.sha256("\n".join(ids).encode()).hexdigest()[:24]
        self.artifacts.write_json(f"{PREFIX}/{_run_id(result)}/{digest}.json", tally)


def summarize(artifacts: ArtifactStore, run_id: str) -> dict[str, Any]:
    kept: dict[str, dict[str, int]] = {}
    rejected: dict[str, str] = {}
    for key in artifacts.list(f"{PREFIX}/{run_id}"):
        tally = artifacts.read_json(key)
        kept.update(tally.get("kept", {}))
        rejected.update(tally.get("rejected", {}))
    redactions: Counter[str] = Counter()
    for counts in kept.values():
        redactions.update(counts)
    reasons = Counter(rejected.values())
    return {
        "records_scrubbed": len(kept),
        "redactions": dict(sorted(redactions.items())),
        "residual_rejections": reasons.get("residual_pii", 0),
        "rejections": dict(sorted(reasons.items())),
    }
