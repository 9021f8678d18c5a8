"""Dataset retention: versions past the active period move to the archive prefix (and stay
usable: forget still finds their files), archived versions past archive_months are deleted;
a dry run changes nothing."""

from __future__ import annotations

import asyncio
import datetime as dt

from dataset_records import make_record
from sqlalchemy import select

from crucible.common.config import load_policy
from crucible.common.registry import DatasetMember, DatasetVersion
from crucible.common.retention import run_retention
from crucible.common.runtime import Runtime
from crucible.dataset.forget import forget_subject
from crucible.dataset.policy import DatasetPolicy
from crucible.dataset.sample_records import generate_curated_records
from crucible.dataset.store import upsert_records
from crucible.dataset.subject_store import STORE
from crucible.dataset.versions import build_dataset_version

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def _age(rt: Runtime, version: str, days: float) -> None:
    with rt.registry.session() as s:
        s.get(DatasetVersion, version).created_at = NOW - dt.timedelta(days=days)


def test_archive_then_delete_by_age_and_dry_run_changes_nothing(settings) -> None:
    rt = Runtime.create(settings, policy=load_policy(None, section_models={"dataset": DatasetPolicy}))
    upsert_records(rt.registry, [*generate_curated_records(300, seed=2), make_record("p1", subject="tok-p")])
    versions = [build_dataset_version(rt, today=NOW.date()).version for _ in range(3)]
    p = rt.policy.privacy.retention
    _age(rt, versions[0], p.archive_months * 30.4375 + 1)  # past the archive period
    _age(rt, versions[1], p.dataset_active_days + 1)  # past the active period
    _age(rt, versions[2], p.dataset_active_days - 1)  # active
    files_before = rt.artifacts.list("")

    dry = asyncio.run(run_retention(rt, dry_run=True, now=NOW, stores=[STORE]))
    assert dry["stores"]["dataset"] == {"dataset_versions_archived": 1, "dataset_versions_deleted": 1}
    assert rt.artifacts.list("") == files_before

    done = asyncio.run(run_retention(rt, now=NOW, stores=[STORE]))
    assert done["stores"]["dataset"] == dry["stores"]["dataset"]
    assert rt.artifacts.list(f"datasets/{versions[0]}") == []
    assert rt.artifacts.list(f"datasets/{versions[1]}") == []
    assert rt.artifacts.exists(f"archive/datasets/{versions[1]}/manifest.json")
    assert rt.artifacts.exists(f"datasets/{versions[2]}/manifest.json")
    with rt.registry.session() as s:
        assert s.get(DatasetVersion, versions[0]).counts["revision"] == "deleted"
        assert not s.scalars(select(DatasetMember).where(DatasetMember.version == versions[0])).all()
        assert s.get(DatasetVersion, versions[1]).manifest_uri.endswith(f"archive/datasets/{versions[1]}/manifest.json")
    again = asyncio.run(run_retention(rt, now=NOW, stores=[STORE]))
    assert again["stores"]["dataset"] == {"dataset_versions_archived": 0, "dataset_versions_deleted": 0}

    # Forget reaches the archived copy too.
    report = forget_subject(rt, "tok-p")
    assert versions[1] in report.redacted_versions
    archived = rt.artifacts.list(f"archive/datasets/{versions[1]}")
    assert b"p1" not in b"".join(rt.artifacts.read_bytes(k) for k in archived)
    rt.registry.dispose()
