"""The dataset service's part of forgetting a person (`crucible forget`, `subject.forget`):

- their curated records are deleted, and other records that named one of them as dedup cluster
  or duplicate are re-pointed (to the cluster's earliest remaining record), so no record id of
  theirs survives in anyone else's row;
- every dataset version that contained them is re-materialised without them (same id, revision
  `redacted`, new sha256s) or, under `privacy.forget.dataset_versions: delete`, its files are
  deleted; either way its membership rows for them go;
- every model trained on one of those versions is marked `contains_forgotten_subject` (models
  trained later from a marked version inherit the mark in the trainer), and with
  `privacy.forget.retrain` a retrain on the redacted version is queued (`train.requested`);
- the subject's digest goes into `forgotten_subjects`: intake and extraction drop them from then on.
Idempotent: a second call removes what arrived since and reports `already_forgotten`.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import delete, or_, select, update

from crucible.common.privacy_keys import subject_digest, subject_token
from crucible.common.registry import (
    CuratedRecord,
    DatasetMember,
    DatasetVersion,
    ForgottenSubject,
    ModelVersion,
    Registry,
    utcnow,
)
from crucible.common.runtime import Runtime
from crucible.common.subject_stores import ForgetRequest
from crucible.dataset.redaction import redact_files
from crucible.v1 import records_pb2

log = logging.getLogger(__name__)


def subject_token_for(secret: bytes, user_id: str) -> str:
    """HMAC-SHA256(secret, user_id) hex: the same token the extractor puts on records."""
    return subject_token(secret, user_id)


@dataclass
class ForgetReport:
    """What the dataset store removed: counts and names of versions and models, no record ids."""

    already_forgotten: bool
    removed_records: int = 0
    repointed_records: int = 0
    redacted_versions: list[str] = field(default_factory=list)
    deleted_versions: list[str] = field(default_factory=list)
    marked_versions: list[str] = field(default_factory=list)
    marked_models: list[str] = field(default_factory=list)
    retrain_queued: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def subject_record_ids(registry: Registry, token: str) -> set[str]:
    """The subject's record ids in the curated store and in dataset versions."""
    with registry.session() as s:
        ids = set(s.scalars(select(CuratedRecord.record_id).where(CuratedRecord.subject_token == token)))
        ids |= set(s.scalars(select(DatasetMember.record_id).where(DatasetMember.subject_token == token)))
    return ids


def forget_subject(runtime: Runtime, token: str, record_ids: set[str] | None = None) -> ForgetReport:
    """Forget one subject in the curated store and the dataset versions (see the module docstring)."""
    if not token:
        raise ValueError("an empty subject token cannot be forgotten")
    registry = runtime.registry
    removed = set(record_ids or ()) | subject_record_ids(registry, token)
    digest = subject_digest(token)
    mode = runtime.policy.privacy.forget.dataset_versions
    with registry.session() as s:
        previous = s.get(ForgottenSubject, digest)
        report = ForgetReport(already_forgotten=previous is not None)
        categories = dict(
            s.execute(
                select(CuratedRecord.record_id, CuratedRecord.category).where(CuratedRecord.subject_token == token)
            ).all()
        )
        versions = sorted(set(s.scalars(select(DatasetMember.version).where(DatasetMember.subject_token == token))))
        report.removed_records = int(
            s.execute(delete(CuratedRecord).where(CuratedRecord.subject_token == token)).rowcount or 0
        )
        report.repointed_records = _repoint_clusters(s, removed)
        if previous is None:
            s.add(
                ForgottenSubject(subject_digest=digest, forgotten_at=utcnow(), removed_records=report.removed_records)
            )
        else:
            previous.removed_records += report.removed_records
    # Files after the rows: a crash in between leaves the digest recorded, and a second forget
    # (idempotent) finds the versions again through the membership rows kept until their files are done.
    for version in versions:
        if mode == "delete":
            _delete_version_files(runtime, version)
            report.deleted_versions.append(version)
        elif _redact_version(runtime, version, removed, categories):
            report.redacted_versions.append(version)
        with registry.session() as s:
            s.execute(
                delete(DatasetMember).where(DatasetMember.version == version, DatasetMember.subject_token == token)
            )
    with registry.session() as s:
        if versions:
            # A deleted version still contains them (as far as anyone holding a copy knows); a
            # redacted one does not any more, but was: both are marked, the revision tells which.
            s.execute(
                update(DatasetVersion)
                .where(DatasetVersion.version.in_(versions))
                .values(contains_forgotten_subject=True)
            )
            report.marked_models = sorted(
                s.scalars(select(ModelVersion.name).where(ModelVersion.dataset_version.in_(versions)))
            )
            if report.marked_models:
                s.execute(
                    update(ModelVersion)
                    .where(ModelVersion.name.in_(report.marked_models))
                    .values(contains_forgotten_subject=True)
                )
    report.marked_versions = versions
    return report


def _repoint_clusters(session: Any, removed: set[str]) -> int:
    """Other records whose dedup cluster or duplicate_of is a removed record: the cluster's
    earliest remaining record (by record id) becomes its representative."""
    if not removed:
        return 0
    ids = sorted(removed)
    rows = session.scalars(
        select(CuratedRecord).where(or_(CuratedRecord.cluster_id.in_(ids), CuratedRecord.duplicate_of.in_(ids)))
    ).all()
    by_cluster: dict[str, list[CuratedRecord]] = {}
    for row in rows:
        by_cluster.setdefault(row.cluster_id, []).append(row)
    for cluster, members in by_cluster.items():
        root = min(members, key=lambda r: r.record_id).record_id if cluster in removed else cluster
        for row in members:
            record = records_pb2.Record.FromString(row.record)
            if cluster in removed:
                row.cluster_id = record.dedup.cluster_id = root
            if row.duplicate_of in removed or row.record_id == root:
                dup = "" if row.record_id == root else root
                row.duplicate_of = record.dedup.duplicate_of = dup
            row.record = record.SerializeToString(deterministic=True)
    return len(rows)


def _version_key(runtime: Runtime, version: str) -> str | None:
    """The artifact key of a version's folder (it moves to the archive prefix with retention)."""
    with runtime.registry.session() as s:
        row = s.get(DatasetVersion, version)
        uri = row.manifest_uri if row else ""
    root = runtime.artifacts.root_url.rstrip("/") + "/"
    if not uri.startswith(root):
        return None
    return uri[len(root) :].rsplit("/", 1)[0]


def _redact_version(runtime: Runtime, version: str, removed: set[str], categories: dict[str, str]) -> bool:
    prefix = _version_key(runtime, version)
    store = runtime.artifacts
    if prefix is None or not store.exists(f"{prefix}/manifest.json"):
        return False
    manifest = store.read_json(f"{prefix}/manifest.json")
    new, data, dropped = redact_files(
        manifest,
        lambda name: store.read_bytes(f"{prefix}/{name}"),
        lambda name, blob: store.write_bytes(f"{prefix}/{name}", blob),
        removed,
        categories,
        at=utcnow().isoformat(),
    )
    if not dropped:
        return False
    import hashlib

    with runtime.registry.session() as s:
        row = s.get(DatasetVersion, version)
        if row is not None:
            counts = dict(row.counts or {})
            counts.update(
                total=new["counts"]["total"],
                splits={k: v["total"] for k, v in new["counts"]["splits"].items()},
                by_category=new["counts"]["by_category"],
                revision="redacted",
            )
            row.counts = counts
            row.manifest_sha256 = hashlib.sha256(data).hexdigest()
    log.info("dataset %s re-materialised without %d record(s)", version, dropped)
    return True


def _delete_version_files(runtime: Runtime, version: str) -> None:
    prefix = _version_key(runtime, version)
    if prefix is not None:
        runtime.artifacts.delete(prefix)
    with runtime.registry.session() as s:
        row = s.get(DatasetVersion, version)
        if row is not None:
            row.counts = {**(row.counts or {}), "revision": "deleted", "deleted_at": utcnow().isoformat()}


def format_forget_report(report: ForgetReport) -> str:
    return "; ".join(f"{k} {v}" for k, v in report.as_dict().items())


def forget_for_store(runtime: Runtime, request: ForgetRequest) -> dict[str, Any]:
    """The `SubjectStore.forget` of the dataset service."""
    return forget_subject(runtime, request.subject_token, set(request.record_ids)).as_dict()
