"""The dataset store's part of forget: curated rows gone, versions re-materialised without the
person (same id, revision `redacted`, new sha256s) or deleted, models marked, later builds and
redeliveries exclude them, and no record id of theirs survives in other records' dedup fields."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

import pytest
from dataset_records import make_record
from sqlalchemy import select

from crucible.common.config import load_policy
from crucible.common.privacy_keys import subject_digest
from crucible.common.registry import CuratedRecord, DatasetMember, DatasetVersion, ForgottenSubject, ModelVersion
from crucible.common.runtime import Runtime
from crucible.dataset.forget import forget_subject, subject_token_for
from crucible.dataset.policy import DatasetPolicy
from crucible.dataset.sample_records import generate_curated_records
from crucible.dataset.store import upsert_records
from crucible.dataset.versions import build_dataset_version, version_members
from crucible.v1 import records_pb2

DAY = dt.date(2026, 11, 22)


def _runtime(settings, **privacy) -> Runtime:
    overrides = {f"privacy.forget.{k}": v for k, v in privacy.items()}
    policy = load_policy(None, section_models={"dataset": DatasetPolicy}, overrides=overrides)
    return Runtime.create(settings, policy=policy)


@pytest.fixture
def rt(settings) -> Runtime:
    runtime = _runtime(settings)
    yield runtime
    runtime.registry.dispose()


def test_token_is_the_extractors_hmac(rt) -> None:
    secret = rt.subject_secret()
    assert subject_token_for(secret, "user-42") == hmac.new(secret, b"user-42", hashlib.sha256).hexdigest()


def _store_with_person(rt, token: str) -> list[str]:
    theirs = [
        make_record(f"p{i}", subject=token, turns=[("user", f"Zorblax secret {i}?"), ("assistant", "Calmly.")])
        for i in range(6)
    ]
    # Someone else's record, a duplicate of the person's first one: its dedup fields name p0.
    other = make_record("q0", subject="someone-else", cluster="p0")
    other.dedup.duplicate_of = "p0"
    upsert_records(rt.registry, generate_curated_records(400, seed=5) + theirs + [other])
    return [r.record_id for r in theirs]


def _version_bytes(rt, version: str) -> bytes:
    return b"".join(rt.artifacts.read_bytes(k) for k in rt.artifacts.list(f"datasets/{version}"))


def test_forget_redacts_versions_marks_models_and_excludes(rt) -> None:
    token = subject_token_for(rt.subject_secret(), "user-42")
    theirs = _store_with_person(rt, token)
    v1 = build_dataset_version(rt, today=DAY)
    assert {m.record_id for m in version_members(rt.registry, v1.version) if m.subject_token == token}
    assert b"Zorblax" in _version_bytes(rt, v1.version)
    before = rt.artifacts.read_json(f"datasets/{v1.version}/manifest.json")
    with rt.registry.session() as s:
        s.add(ModelVersion(name="crucible-v1-20261122-tiny", dataset_version=v1.version))
        s.add(ModelVersion(name="unrelated-model", dataset_version="v0_20260101"))

    report = forget_subject(rt, token)

    assert report.removed_records == 6
    assert report.redacted_versions == [v1.version] and report.marked_versions == [v1.version]
    assert report.marked_models == ["crucible-v1-20261122-tiny"]
    files = _version_bytes(rt, v1.version)
    assert b"Zorblax" not in files and token.encode() not in files
    assert not any(rid.encode() in files for rid in theirs)
    after = rt.artifacts.read_json(f"datasets/{v1.version}/manifest.json")
    assert after["version"] == v1.version and after["revision"] == "redacted"
    removed = before["counts"]["total"] - after["counts"]["total"]
    assert removed == after["revisions"][0]["removed_records"] > 0
    for name, info in after["files"].items():
        data = rt.artifacts.read_bytes(f"datasets/{v1.version}/{name}")
        assert hashlib.sha256(data).hexdigest() == info["sha256"]
        if "split" in info:
            assert len(data.splitlines()) == len(after["record_ids"][info["split"]]) == info["records"]
    changed = [n for n in after["files"] if after["files"][n]["sha256"] != before["files"][n]["sha256"]]
    assert changed
    with rt.registry.session() as s:
        row = s.get(DatasetVersion, v1.version)
        manifest_bytes = rt.artifacts.read_bytes(f"datasets/{v1.version}/manifest.json")
        assert row.manifest_sha256 == hashlib.sha256(manifest_bytes).hexdigest()
        assert row.counts["revision"] == "redacted" and row.contains_forgotten_subject
        for model in (CuratedRecord, DatasetMember):
            assert not s.scalars(select(model).where(model.subject_token == token)).all(), model.__name__
        assert s.get(ModelVersion, "crucible-v1-20261122-tiny").contains_forgotten_subject is True
        assert s.get(ModelVersion, "unrelated-model").contains_forgotten_subject is False
        assert s.get(ForgottenSubject, subject_digest(token)).removed_records == 6
        assert not s.scalars(select(ForgottenSubject).where(ForgottenSubject.subject_digest == token)).all()
        # The other person's duplicate no longer names p0, in its columns or its stored record.
        q0 = s.get(CuratedRecord, "q0")
        assert (q0.cluster_id, q0.duplicate_of) == ("q0", "")
        assert b"p0" not in q0.record and records_pb2.Record.FromString(q0.record).dedup.cluster_id == "q0"

    # A late redelivery does not bring them back, and the next build excludes them.
    upsert_records(rt.registry, [make_record("p0", subject=token)])
    v2 = build_dataset_version(rt, today=DAY)
    assert not any(m.subject_token == token for m in version_members(rt.registry, v2.version))
    assert b"Zorblax" not in _version_bytes(rt, v2.version)

    again = forget_subject(rt, token)
    assert again.already_forgotten and again.removed_records == 0 and again.marked_versions == []


def test_forget_can_delete_the_versions_instead(settings) -> None:
    rt = _runtime(settings, dataset_versions="delete")
    token = subject_token_for(rt.subject_secret(), "user-9")
    _store_with_person(rt, token)
    v1 = build_dataset_version(rt, today=DAY)
    report = forget_subject(rt, token)
    assert report.deleted_versions == [v1.version] and report.redacted_versions == []
    assert rt.artifacts.list(f"datasets/{v1.version}") == []
    with rt.registry.session() as s:
        row = s.get(DatasetVersion, v1.version)
        assert row.counts["revision"] == "deleted" and row.contains_forgotten_subject
    rt.registry.dispose()
