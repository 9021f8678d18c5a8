"""The build shell: read the curated store, build a version, write its files, register it.

`build_dataset_version` is the one way a version is made: `crucible dataset build`, the
`build` hook of `crucible run` and the automatic build of `crucible serve dataset` all call it.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

from sqlalchemy import func, select

from crucible.common.artifacts import ArtifactStore
from crucible.common.registry import DatasetMember, DatasetVersion, Registry, utcnow
from crucible.common.runtime import Runtime
from crucible.dataset.builder import MANIFEST, BuiltVersion, Member, version_name
from crucible.dataset.policy import DatasetPolicy
from crucible.dataset.store import copy_rows, count_records, iter_eligible_blobs
from crucible.dataset.streaming import OutOfCoreBuild
from crucible.v1 import events_pb2

log = logging.getLogger(__name__)


def dataset_policy(runtime: Runtime) -> DatasetPolicy:
    policy = runtime.policy.section("dataset")
    assert isinstance(policy, DatasetPolicy)
    return policy


def next_seq(registry: Registry) -> int:
    with registry.session() as session:
        return int(session.scalar(select(func.max(DatasetVersion.seq))) or 0) + 1


def artifact_prefix(version: str) -> str:
    return f"datasets/{version}"


class ArtifactSink:
    """A version's files in the artifact store: each is written to `<name>.partial` and moved into
    place when complete; `discard` removes the version's folder (a failed build leaves nothing)."""

    def __init__(self, artifacts: ArtifactStore, prefix: str) -> None:
        self.artifacts, self.prefix = artifacts, prefix

    @contextmanager
    def open(self, name: str) -> Iterator[BinaryIO]:
        target = self.artifacts.path(f"{self.prefix}/{name}")
        self.artifacts.fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
        with self.artifacts.fs.open(target + ".partial", "wb") as fh:
            yield fh
        self.artifacts.fs.mv(target + ".partial", target)

    def discard(self) -> None:
        self.artifacts.delete(self.prefix)


def build_dataset_version(runtime: Runtime, *, today: dt.date | None = None) -> BuiltVersion:
    """Build the next version from the curated store (forgotten subjects excluded), out of core."""
    policy = dataset_policy(runtime)
    # The version is stamped with the moment its store snapshot was taken, so records written
    # during the build still count as new for the next automatic build.
    started_at = utcnow()
    in_store = count_records(runtime.registry)
    seq = next_seq(runtime.registry)
    day = today or dt.datetime.now(dt.UTC).date()
    version = version_name(seq, day)
    prefix = artifact_prefix(version)
    log.info("building dataset %s from %d curated records", version, in_store)
    workdir = runtime.settings.home / "tmp"
    workdir.mkdir(parents=True, exist_ok=True)
    with OutOfCoreBuild(policy, workdir=workdir) as build:
        built = build.build(
            iter_eligible_blobs(runtime.registry),
            records_in_store=in_store,
            version=version,
            created=day,
            sink=ArtifactSink(runtime.artifacts, prefix),
        )
        t0 = time.perf_counter()
        register_version(
            runtime.registry,
            built,
            seq=seq,
            manifest_uri=runtime.artifacts.uri(f"{prefix}/{MANIFEST}"),
            created_at=started_at,
            members=build.members_for_registry(),
        )
        log.info("dataset build: register in %.1f s (version and members)", time.perf_counter() - t0)
    log.info(
        "dataset %s: %s, fairness %.1f",
        version,
        built.split_counts,
        built.fairness_score,
    )
    return built


def register_version(
    registry: Registry,
    built: BuiltVersion,
    *,
    seq: int,
    manifest_uri: str,
    created_at: dt.datetime | None = None,
    members: Iterable[Member] | None = None,
) -> None:
    """The version row and its members, in one transaction (members streamed; COPY on PostgreSQL)."""
    counts = built.manifest["counts"]
    with registry.session() as session:
        session.add(
            DatasetVersion(
                version=built.version,
                seq=seq,
                created_at=created_at or utcnow(),
                manifest_uri=manifest_uri,
                manifest_sha256=built.manifest_sha256,
                fairness_score=built.fairness_score,
                below_fairness_target=built.below_fairness_target,
                contains_forgotten_subject=False,
                counts={
                    "total": counts["total"],
                    "splits": built.split_counts,
                    "by_category": counts["by_category"],
                    "deficits": built.manifest["selection"]["deficits"],
                },
            )
        )
        session.flush()
        rows = (
            (built.version, m.record_id, m.split, m.subject_token)
            for m in (built.members if members is None else members)
        )
        copy_rows(session, DatasetMember.__table__, ("version", "record_id", "split", "subject_token"), rows)


def version_members(registry: Registry, version: str) -> list[Member]:
    """The records of one version with their subject and split (from the registry)."""
    with registry.session() as session:
        rows = session.execute(
            select(DatasetMember.record_id, DatasetMember.subject_token, DatasetMember.split)
            .where(DatasetMember.version == version)
            .order_by(DatasetMember.record_id)
        ).all()
    return [Member(record_id=r, subject_token=t, split=s) for r, t, s in rows]


def version_summary(built: BuiltVersion, manifest_uri: str) -> dict[str, Any]:
    return {
        "dataset_version": built.version,
        "manifest_uri": manifest_uri,
        "records": built.manifest["counts"]["total"],
        "split_counts": built.split_counts,
        "by_category": built.manifest["counts"]["by_category"],
        "deficits": built.manifest["selection"]["deficits"],
        "fairness_score": built.fairness_score,
        "fairness_target": built.manifest["audit"]["fairness_target"],
        "below_fairness_target": built.below_fairness_target,
        "duplicates_dropped": built.manifest["selection"]["duplicates_dropped"],
        "synthetic_dropped": built.manifest["selection"]["synthetic_dropped"],
        "synthetic": {
            split: {k: row.get(k) for k in ("synthetic", "synthetic_share", "synthetic_by_category")}
            for split, row in built.manifest["counts"]["splits"].items()
        },
        "recommendations": built.manifest["audit"]["recommendations"],
    }


def dataset_ready_event(built: BuiltVersion, manifest_uri: str) -> events_pb2.DatasetReady:
    msg = events_pb2.DatasetReady(
        dataset_version=built.version,
        manifest_uri=manifest_uri,
        fairness_score=built.fairness_score,
        below_fairness_target=built.below_fairness_target,
    )
    for split, n in built.split_counts.items():
        msg.split_counts[split] = n
    msg.created_at.GetCurrentTime()
    return msg


def list_versions(registry: Registry) -> list[dict[str, Any]]:
    with registry.session() as session:
        rows = session.scalars(select(DatasetVersion).order_by(DatasetVersion.seq)).all()
        return [
            {
                "version": r.version,
                "created_at": r.created_at.isoformat() if r.created_at else "",
                "records": (r.counts or {}).get("total", 0),
                "splits": (r.counts or {}).get("splits", {}),
                "fairness_score": r.fairness_score,
                "below_fairness_target": r.below_fairness_target,
                "contains_forgotten_subject": r.contains_forgotten_subject,
                "manifest_uri": r.manifest_uri,
            }
            for r in rows
        ]
