"""The curated store and forget on PostgreSQL (the production registry), in a private schema."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from crucible.common.artifacts import ArtifactStore
from crucible.common.config import load_policy
from crucible.common.forgetting import forget_subject_everywhere
from crucible.common.registry import CuratedRecord, DatasetVersion, Registry
from crucible.common.runtime import Runtime
from crucible.dataset.policy import DatasetPolicy
from crucible.dataset.sample_records import generate_curated_records
from crucible.dataset.store import count_records, upsert_records
from crucible.dataset.subject_store import STORE
from crucible.dataset.versions import build_dataset_version, version_members

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_runtime(pg_schema, settings, tmp_path) -> Iterator[Runtime]:
    url, _ = pg_schema("dataset")
    registry = Registry(url)
    registry.migrate()
    policy = load_policy(None, section_models={"dataset": DatasetPolicy})
    runtime = Runtime(settings=settings, policy=policy, registry=registry,
                      artifacts=ArtifactStore((tmp_path / "artifacts").as_uri()))  # fmt: skip
    try:
        yield runtime
    finally:
        registry.dispose()


def test_upsert_build_and_forget_on_postgres(pg_runtime: Runtime) -> None:
    records = generate_curated_records(400, seed=9)
    upsert_records(pg_runtime.registry, records)
    with pg_runtime.registry.session() as s:
        before = {r.record_id: r.updated_at for r in s.scalars(sa.select(CuratedRecord))}
    upsert_records(pg_runtime.registry, records)  # redelivery: no change at all
    with pg_runtime.registry.session() as s:
        assert {r.record_id: r.updated_at for r in s.scalars(sa.select(CuratedRecord))} == before
    assert count_records(pg_runtime.registry) == 400

    built = build_dataset_version(pg_runtime, today=dt.date(2026, 11, 22))
    token = next(m.subject_token for m in version_members(pg_runtime.registry, built.version))
    # Through the privacy kernel, so the receipt and the VACUUM after it run on PostgreSQL too.
    receipt = asyncio.run(forget_subject_everywhere(pg_runtime, token, stores=[STORE]))
    report = receipt["stores"]["dataset"]
    assert report["removed_records"] and report["redacted_versions"] == [built.version]
    with pg_runtime.registry.session() as s:
        assert s.get(DatasetVersion, built.version).contains_forgotten_subject
        assert not s.scalars(sa.select(CuratedRecord).where(CuratedRecord.subject_token == token)).all()
