"""The dataset service as a subject store: the curated store and the dataset versions.

- `record_ids` / `forget`: see `forget.py` (and, under `privacy.forget.retrain`, a retrain is
  queued on each redacted version that models were trained on);
- `export`: the person's curated records as stored, with their labels, and which dataset
  versions and models used them;
- `retention`: versions older than `dataset_active_days` move to `archive/datasets/<version>/`;
  archived versions older than `archive_months` are deleted (their rows stay, marked, as audit).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

from sqlalchemy import delete, select

from crucible.common import subjects
from crucible.common.registry import CuratedRecord, DatasetMember, DatasetVersion, ModelVersion, utcnow
from crucible.common.runtime import Runtime
from crucible.common.subject_stores import ForgetRequest, RetentionRequest, SubjectStore, record_as_json
from crucible.dataset.forget import forget_for_store, subject_record_ids
from crucible.v1 import events_pb2

ARCHIVE_PREFIX = "archive/datasets"
DAYS_PER_MONTH = 30.4375


async def _record_ids(runtime: Runtime, token: str) -> set[str]:
    return await asyncio.to_thread(subject_record_ids, runtime.registry, token)


async def _forget(runtime: Runtime, request: ForgetRequest) -> dict[str, Any]:
    report = await asyncio.to_thread(forget_for_store, runtime, request)
    if runtime.policy.privacy.forget.retrain and runtime.bus is not None and report["marked_models"]:
        with runtime.registry.session() as s:
            trained_on = set(
                s.scalars(select(ModelVersion.dataset_version).where(ModelVersion.name.in_(report["marked_models"])))
            )
        for version in sorted(trained_on & set(report["redacted_versions"])):
            event = events_pb2.TrainRequested(job_id=f"retrain-{uuid.uuid4().hex[:12]}", dataset_version=version)
            event.requested_at.GetCurrentTime()
            await runtime.bus.publish_event(subjects.TRAIN_REQUESTED, event)
            report["retrain_queued"].append(version)
    return report


def _export(runtime: Runtime, token: str) -> dict[str, Any]:
    with runtime.registry.session() as s:
        rows = s.scalars(select(CuratedRecord).where(CuratedRecord.subject_token == token)).all()
        members = s.execute(
            select(DatasetMember.version, DatasetMember.record_id, DatasetMember.split).where(
                DatasetMember.subject_token == token
            )
        ).all()
        versions = sorted({v for v, _, _ in members})
        models = s.execute(
            select(ModelVersion.name, ModelVersion.dataset_version, ModelVersion.status).where(
                ModelVersion.dataset_version.in_(versions)
            )
        ).all()
        return {
            "curated_records": [
                {
                    "record_id": r.record_id,
                    "labels": {
                        "category": r.category, "quality": r.quality, "kind": r.kind, "cluster_id": r.cluster_id,
                        "duplicate_of": r.duplicate_of, "synthetic": r.synthetic,
                    },
                    "source": {"table": r.source_table, "key": r.source_key},
                    "stage_versions": r.stage_versions,
                    "created_at": r.created_at.isoformat() if r.created_at else None,
                    "record": record_as_json(r.record),
                }
                for r in rows
            ],
            "dataset_versions": [
                {"version": v, "records": [{"record_id": rid, "split": sp} for vv, rid, sp in members if vv == v]}
                for v in versions
            ],
            "models": [{"name": n, "dataset_version": v, "status": st} for n, v, st in models],
        }  # fmt: skip


def _retention(runtime: Runtime, request: RetentionRequest) -> dict[str, int]:
    active_cutoff = request.cutoff(request.policy.dataset_active_days)
    delete_cutoff = request.cutoff(request.policy.archive_months * DAYS_PER_MONTH)
    archived = deleted = 0
    with runtime.registry.session() as s:
        rows = s.scalars(select(DatasetVersion).order_by(DatasetVersion.seq)).all()
        plan = [(r.version, r.created_at, dict(r.counts or {})) for r in rows]
    for version, created, counts in plan:
        if counts.get("revision") == "deleted":
            continue
        created = created if created.tzinfo else created.replace(tzinfo=dt.UTC)
        if created < delete_cutoff:
            deleted += 1
            if not request.dry_run:
                _delete_archived(runtime, version)
        elif created < active_cutoff and "archived_at" not in counts:
            archived += 1
            if not request.dry_run:
                _archive(runtime, version)
    return {"dataset_versions_archived": archived, "dataset_versions_deleted": deleted}


def _archive(runtime: Runtime, version: str) -> None:
    store = runtime.artifacts
    source, target = f"datasets/{version}", f"{ARCHIVE_PREFIX}/{version}"
    for key in store.list(source):
        store.write_bytes(target + key[len(source) :], store.read_bytes(key))
    store.delete(source)
    with runtime.registry.session() as s:
        row = s.get(DatasetVersion, version)
        if row is not None:
            row.manifest_uri = store.uri(f"{target}/manifest.json")
            row.counts = {**(row.counts or {}), "archived_at": utcnow().isoformat()}


def _delete_archived(runtime: Runtime, version: str) -> None:
    runtime.artifacts.delete(f"{ARCHIVE_PREFIX}/{version}")
    runtime.artifacts.delete(f"datasets/{version}")
    with runtime.registry.session() as s:
        row = s.get(DatasetVersion, version)
        if row is not None:
            row.counts = {**(row.counts or {}), "revision": "deleted", "deleted_at": utcnow().isoformat()}
        # The membership rows link subjects to a version that no longer exists.
        s.execute(delete(DatasetMember).where(DatasetMember.version == version))


STORE = SubjectStore(
    name="dataset",
    order=40,
    tables=("curated_records", "dataset_members", "dataset_versions", "models"),
    record_ids=_record_ids,
    forget=_forget,
    export=_export,
    retention=_retention,
)
