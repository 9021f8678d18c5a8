"""The build shell: files in the artifact store, registry rows, naming, rebuilds, the hook and auto-build."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy import func, select

from crucible.common.config import load_policy
from crucible.common.registry import DatasetMember, DatasetVersion
from crucible.common.runtime import Runtime
from crucible.dataset.builder import DatasetBuildError
from crucible.dataset.lineage import record_lineage
from crucible.dataset.policy import DatasetPolicy
from crucible.dataset.sample_records import generate_curated_records
from crucible.dataset.service import SPEC, build, maybe_auto_build
from crucible.dataset.store import count_new_since_last_version, upsert_records
from crucible.dataset.versions import build_dataset_version, list_versions

DAY = dt.date(2026, 11, 22)


@pytest.fixture
def rt(settings) -> Runtime:
    policy = load_policy(
        None, section_models={"dataset": DatasetPolicy}, overrides={"dataset.auto_build_min_new_records": 50}
    )
    runtime = Runtime.create(settings, policy=policy)
    yield runtime
    runtime.registry.dispose()


def test_build_writes_files_and_registers_the_version(rt) -> None:
    records = generate_curated_records(600, seed=3)
    upsert_records(rt.registry, records)
    built = build_dataset_version(rt, today=DAY)
    assert built.version == "v1_20261122"
    keys = rt.artifacts.list("datasets/v1_20261122")
    assert "datasets/v1_20261122/manifest.json" in keys
    assert "datasets/v1_20261122/report.md" in keys
    assert "datasets/v1_20261122/train.chat.jsonl" in keys
    manifest = rt.artifacts.read_json("datasets/v1_20261122/manifest.json")
    for name, meta in manifest["files"].items():
        assert rt.artifacts.sha256(f"datasets/v1_20261122/{name}") == meta["sha256"]
    with rt.registry.session() as s:
        row = s.get(DatasetVersion, "v1_20261122")
        assert row.seq == 1
        assert row.manifest_sha256 == rt.artifacts.sha256("datasets/v1_20261122/manifest.json")
        assert row.fairness_score == built.fairness_score
        assert row.below_fairness_target == (built.fairness_score < 85)
        assert row.counts["splits"] == built.split_counts
        members = s.scalar(select(func.count()).select_from(DatasetMember).where(DatasetMember.version == row.version))
        assert members == sum(built.split_counts.values())
    rid = manifest["record_ids"]["train"][0]
    assert record_lineage(rt.registry, rid)["dataset_versions"] == [{"version": "v1_20261122", "split": "train"}]


def test_second_build_is_v2_with_byte_identical_files(rt) -> None:
    upsert_records(rt.registry, generate_curated_records(500, seed=8))
    build_dataset_version(rt, today=DAY)
    build_dataset_version(rt, today=DAY)
    assert [v["version"] for v in list_versions(rt.registry)] == ["v1_20261122", "v2_20261122"]
    for split in ("train", "val", "test"):
        for fmt in ("chat", "alpaca", "sharegpt", "seed"):
            a = rt.artifacts.read_bytes(f"datasets/v1_20261122/{split}.{fmt}.jsonl")
            b = rt.artifacts.read_bytes(f"datasets/v2_20261122/{split}.{fmt}.jsonl")
            assert a == b, (split, fmt)


def test_empty_store_fails_clearly(rt) -> None:
    with pytest.raises(DatasetBuildError, match="eligible curated records"):
        build_dataset_version(rt, today=DAY)


def test_build_hook_returns_the_version_for_the_trainer(rt) -> None:
    upsert_records(rt.registry, generate_curated_records(300, seed=2))
    summary = asyncio.run(build(rt))
    assert summary["dataset_version"].startswith("v1_")
    assert summary["manifest_uri"].endswith("/manifest.json")
    assert set(summary["split_counts"]) == {"train", "val", "test"}
    assert "published" not in summary  # no bus connected


def test_auto_build_waits_for_enough_new_records(rt) -> None:
    upsert_records(rt.registry, generate_curated_records(30, seed=1))
    assert asyncio.run(maybe_auto_build(rt)) is None  # 30 < 50
    upsert_records(rt.registry, generate_curated_records(60, seed=2))
    summary = asyncio.run(maybe_auto_build(rt))
    assert summary is not None and summary["dataset_version"].startswith("v1_")
    assert count_new_since_last_version(rt.registry) == 0
    assert asyncio.run(maybe_auto_build(rt)) is None


def test_spec_wiring() -> None:
    assert SPEC.name == "dataset"
    assert SPEC.consumes == "records.curated"
    assert SPEC.produces is None
    assert SPEC.policy_class() is DatasetPolicy
    assert "build" in SPEC.hooks and "dataset" in SPEC.benches


def test_quick_bench_reports_its_figures() -> None:
    from crucible.dataset.bench import bench_dataset

    result = bench_dataset(quick=True)
    assert result["records"] == 5000
    assert result["version"]["records"] > 0
    assert result["build_seconds"] > 0 and result["baseline_seconds"] > 0
    assert result["peak_rss_mib"] > 0
    assert result["json_encoders"]["same_bytes"] is True


def test_a_store_beyond_the_memory_limit_builds_nothing(rt) -> None:
    upsert_records(rt.registry, generate_curated_records(60, seed=4))
    rt.policy.section("dataset").build_memory_mib = 256
    with pytest.raises(DatasetBuildError, match=r"needs about \d+ MiB; dataset.build_memory_mib is 256"):
        build_dataset_version(rt, today=DAY)
    assert list_versions(rt.registry) == []
    assert rt.artifacts.list("datasets") == []
