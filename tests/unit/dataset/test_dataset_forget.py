"""The right to be forgotten: removal, marks on versions and models, exclusion from later builds."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json

import pytest
import typer
from dataset_records import make_record
from sqlalchemy import select
from typer.testing import CliRunner

from crucible.common.config import load_policy
from crucible.common.registry import (
    CuratedRecord,
    DatasetMember,
    DatasetVersion,
    ForgottenSubject,
    ModelVersion,
    RejectionRow,
    ReviewItem,
)
from crucible.common.runtime import Runtime
from crucible.dataset.cli import register
from crucible.dataset.forget import forget_subject, subject_token_for
from crucible.dataset.policy import DatasetPolicy
from crucible.dataset.sample_records import generate_curated_records
from crucible.dataset.store import upsert_records
from crucible.dataset.versions import build_dataset_version, version_members

DAY = dt.date(2026, 11, 22)


@pytest.fixture
def rt(settings) -> Runtime:
    runtime = Runtime.create(settings, policy=load_policy(None, section_models={"dataset": DatasetPolicy}))
    yield runtime
    runtime.registry.dispose()


def test_token_is_the_extractors_hmac(rt) -> None:
    secret = rt.subject_secret()
    assert subject_token_for(secret, "user-42") == hmac.new(secret, b"user-42", hashlib.sha256).hexdigest()


def _store_with_person(rt, token: str) -> list[str]:
    theirs = [make_record(f"p{i}", subject=token, category="instruction_following") for i in range(4)]
    upsert_records(rt.registry, generate_curated_records(400, seed=5) + theirs)
    with rt.registry.session() as s:
        s.add(RejectionRow(stage="scorer", record_id="p9", reason="below_quality", subject_token=token, record=b"x"))
        s.add(ReviewItem(record_id="p8", stage="scorer", reason="unsafe", subject_token=token, record=b"y"))
    return [r.record_id for r in theirs]


def test_forget_removes_marks_and_excludes(rt) -> None:
    token = subject_token_for(rt.subject_secret(), "user-42")
    theirs = _store_with_person(rt, token)
    v1 = build_dataset_version(rt, today=DAY)
    in_v1 = {m.record_id for m in version_members(rt.registry, v1.version) if m.subject_token == token}
    assert in_v1  # the person is in v1
    with rt.registry.session() as s:
        s.add(ModelVersion(name="crucible-v1-20261122-tiny", dataset_version=v1.version))
        s.add(ModelVersion(name="unrelated-model", dataset_version="v0_20260101"))

    report = forget_subject(rt.registry, token)

    assert sorted(report.removed_records) == sorted(theirs)
    assert (report.removed_rejections, report.removed_review_items) == (1, 1)
    assert report.marked_versions == [v1.version]
    assert report.marked_models == ["crucible-v1-20261122-tiny"]
    with rt.registry.session() as s:
        # Nothing of theirs remains in the store.
        for model in (CuratedRecord, RejectionRow, ReviewItem, DatasetMember):
            assert not s.scalars(select(model).where(model.subject_token == token)).all(), model.__name__
        assert s.get(DatasetVersion, v1.version).contains_forgotten_subject is True
        assert s.get(ModelVersion, "crucible-v1-20261122-tiny").contains_forgotten_subject is True
        assert s.get(ModelVersion, "unrelated-model").contains_forgotten_subject is False
        assert s.get(ForgottenSubject, token).removed_records == 4

    # A late redelivery does not bring them back, and the next build excludes them.
    upsert_records(rt.registry, [make_record("p0", subject=token)])
    v2 = build_dataset_version(rt, today=DAY)
    assert not any(m.subject_token == token for m in version_members(rt.registry, v2.version))
    manifest = rt.artifacts.read_json(f"datasets/{v2.version}/manifest.json")
    assert not set(theirs) & {rid for ids in manifest["record_ids"].values() for rid in ids}
    with rt.registry.session() as s:
        assert s.get(DatasetVersion, v2.version).contains_forgotten_subject is False

    again = forget_subject(rt.registry, token)
    assert again.already_forgotten and again.removed_records == [] and again.marked_versions == []


def test_forget_cli_prints_what_it_removed_and_marked(rt, settings, monkeypatch) -> None:
    token = subject_token_for(rt.subject_secret(), "user-7")
    theirs = _store_with_person(rt, token)
    v1 = build_dataset_version(rt, today=DAY)
    monkeypatch.setenv("CRUCIBLE_HOME", str(settings.home))
    monkeypatch.setenv("CRUCIBLE_SUBJECT_SECRET", settings.subject_secret)
    monkeypatch.delenv("CRUCIBLE_DATABASE_URL", raising=False)
    monkeypatch.delenv("CRUCIBLE_ARTIFACTS_URL", raising=False)
    app = typer.Typer()
    register(app)
    result = CliRunner().invoke(app, ["forget", "--user-id", "user-7"])
    assert result.exit_code == 0, result.output
    assert "removed 4 curated record(s)" in result.output
    assert v1.version in result.output
    assert "user-7" not in result.output  # the user id is never printed
    as_json = CliRunner().invoke(app, ["forget", "--user-id", "user-7", "--json"])
    data = json.loads(as_json.stdout)
    assert data["already_forgotten"] is True and data["removed_record_count"] == 0
    assert sorted(theirs)  # the records were the person's
    with rt.registry.session() as s:
        assert not s.scalars(select(CuratedRecord).where(CuratedRecord.subject_token == token)).all()


def test_dataset_build_cli(rt, settings, monkeypatch) -> None:
    upsert_records(rt.registry, generate_curated_records(300, seed=1))
    monkeypatch.setenv("CRUCIBLE_HOME", str(settings.home))
    monkeypatch.setenv("CRUCIBLE_SUBJECT_SECRET", settings.subject_secret)
    app = typer.Typer()
    register(app)
    result = CliRunner().invoke(app, ["dataset", "build", "--no-publish", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["dataset_version"].startswith("v1_")
    listed = CliRunner().invoke(app, ["dataset", "list", "--json"])
    assert [v["version"] for v in json.loads(listed.stdout)] == [summary["dataset_version"]]
