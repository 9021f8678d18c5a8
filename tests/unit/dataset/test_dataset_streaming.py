"""The out-of-core build against the in-memory reference (`builder.build_version`): same bytes."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

import pytest
from dataset_records import make_record

from crucible.dataset.builder import DatasetBuildError, build_version
from crucible.dataset.policy import DatasetPolicy
from crucible.dataset.sample_records import generate_curated_records
from crucible.dataset.streaming import OutOfCoreBuild, default_workers, memory_needed_mib

DAY = dt.date(2026, 12, 4)


class MemorySink:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.discarded = False

    @contextmanager
    def open(self, name: str) -> Iterator[BinaryIO]:
        buf = io.BytesIO()
        yield buf
        self.files[name] = buf.getvalue()

    def discard(self) -> None:
        self.files.clear()
        self.discarded = True


def both(records, policy, tmp_path, workers=0):
    reference: dict[str, bytes] = {}
    ref = build_version(records, policy, version="v1_20261204", created=DAY, write=reference.__setitem__)
    sink = MemorySink()
    blobs = [r.SerializeToString(deterministic=True) for r in records]
    with OutOfCoreBuild(policy, workdir=tmp_path, workers=workers) as build:
        new = build.build(blobs, records_in_store=len(blobs), version="v1_20261204", created=DAY, sink=sink)
        members = list(build.members())
    return ref, reference, new, sink.files, members


def assert_identical(ref, reference, new, files, members) -> None:
    assert sorted(files) == sorted(reference)
    for name in reference:
        assert files[name] == reference[name], name
    assert new.manifest_sha256 == ref.manifest_sha256
    assert members == ref.members


def test_generated_store_gives_the_reference_bytes(tmp_path) -> None:
    records = generate_curated_records(3000, seed=5, synthetic_share=0.35, duplicate_share=0.2)
    assert_identical(*both(records, DatasetPolicy(), tmp_path))


def test_worker_processes_give_the_same_bytes(tmp_path) -> None:
    # Scan and rendering on two worker processes, chunks re-assembled in order.
    records = generate_curated_records(2500, seed=9, synthetic_share=0.2)
    assert_identical(*both(records, DatasetPolicy(), tmp_path, workers=2))


def test_edge_cases_give_the_reference_bytes(tmp_path) -> None:
    records = []
    # Non-ASCII ids (ordering is by code point), line separators in text, equal qualities (seeded
    # tie-break), clusters chaining subjects together, synthetic records beyond the cap, a category
    # outside the mix, and records with nothing to learn from.
    for i in range(400):
        rid = f"r{i:04d}" if i % 7 else f"é{i:03d}\u00fc"
        records.append(
            make_record(
                rid,
                subject=f"s{i % 37}",
                category=["instruction_following", "empathetic_dialogue", "safety_ethics", "other"][i % 4],
                quality=8.0 if i % 3 else 9.5,
                cluster=f"c{i // 3}" if i % 5 == 0 else "",
                synthetic=i % 2 == 0,
                context={
                    "relationship_stage": ["early", "long_term", "unknown"][i % 3],
                    "language": "EN " if i % 4 else "",
                },
                turns=[("user", f"line\u2028sep {i}"), ("assistant", f"ok\u2029 {i}")]
                if i % 11
                else [("user", "only a question")],
            )
        )
    assert_identical(*both(records, DatasetPolicy(), tmp_path))
    policy = DatasetPolicy(
        synthetic_cap=0.1, splits={"train": 0.5, "val": 0.25, "test": 0.25}, formats=["seed", "chat"], seed=7
    )
    assert_identical(*both(records, policy, tmp_path))


def test_a_tiny_store_leaves_empty_splits_identical(tmp_path) -> None:
    records = [make_record(f"r{i}", subject="one-person") for i in range(12)]
    assert_identical(*both(records, DatasetPolicy(), tmp_path))


def test_too_few_records_fails_and_discards(tmp_path) -> None:
    sink = MemorySink()
    blob = make_record("r1").SerializeToString()
    with (
        OutOfCoreBuild(DatasetPolicy(), workdir=tmp_path) as build,
        pytest.raises(DatasetBuildError, match="min_records"),
    ):
        build.build([blob], records_in_store=1, version="v1_20261204", created=DAY, sink=sink)
    assert sink.discarded and not sink.files


def test_a_store_beyond_the_memory_limit_is_refused_before_any_work(tmp_path) -> None:
    sink = MemorySink()
    records = 100_000_000
    policy = DatasetPolicy(build_memory_mib=4096)
    with OutOfCoreBuild(policy, workdir=tmp_path) as build, pytest.raises(DatasetBuildError) as err:
        build.build(iter(()), records_in_store=records, version="v1_20261204", created=DAY, sink=sink)
    assert f"needs about {memory_needed_mib(records, default_workers(records))} MiB" in str(err.value)
    assert "dataset.build_memory_mib is 4096" in str(err.value)
    assert not sink.files
    assert list(tmp_path.iterdir()) == [] or all(not p.exists() for p in tmp_path.iterdir())


class FailingSink(MemorySink):
    """Fails when the nth file is opened, like a full disk half-way through a version."""

    def __init__(self, fail_at: int) -> None:
        super().__init__()
        self.fail_at, self.opened = fail_at, []

    def open(self, name: str):
        self.opened.append(name)
        if len(self.opened) == self.fail_at:
            raise OSError("No space left on device")
        return super().open(name)


def test_a_build_that_fails_half_way_leaves_nothing_and_never_writes_the_manifest(tmp_path) -> None:
    records = generate_curated_records(300, seed=6)
    blobs = [r.SerializeToString(deterministic=True) for r in records]
    sink = FailingSink(fail_at=6)
    with OutOfCoreBuild(DatasetPolicy(), workdir=tmp_path) as build, pytest.raises(OSError):
        build.build(blobs, records_in_store=len(blobs), version="v1_20261204", created=DAY, sink=sink)
    assert sink.discarded and not sink.files
    assert "manifest.json" not in sink.opened
    # The manifest is the last file of a good build.
    ok = FailingSink(fail_at=10**6)
    with OutOfCoreBuild(DatasetPolicy(), workdir=tmp_path) as build:
        build.build(blobs, records_in_store=len(blobs), version="v1_20261204", created=DAY, sink=ok)
    assert ok.opened[-1] == "manifest.json"


def test_store_parts_generated_apart_join_into_one_store(tmp_path) -> None:
    """The bench fills a large store part by part on several processes: part 0 is the plain generator's
    records, later parts have their own ids and keep their near-duplicates inside the part, and a store
    joined from parts still builds the reference's bytes."""
    from crucible.dataset.sample_records import iter_curated_records

    whole = list(iter_curated_records(300, seed=11, subjects=40))
    parts = [list(iter_curated_records(150, seed=11, subjects=40, start=start)) for start in (0, 150)]
    assert [r.SerializeToString() for r in parts[0]] == [r.SerializeToString() for r in whole[:150]]
    ids = [r.record_id for part in parts for r in part]
    assert len(set(ids)) == 300
    second = {r.record_id for r in parts[1]}
    assert {r.source.key for r in parts[1]} == {str(k) for k in range(150, 300)}
    assert all(r.dedup.cluster_id in second for r in parts[1])
    assert any(r.dedup.cluster_id != r.record_id for r in parts[1])
    assert_identical(*both(parts[0] + parts[1], DatasetPolicy(), tmp_path))


def test_duckdb_running_out_of_memory_half_way_publishes_nothing_and_says_what_it_needs(tmp_path, monkeypatch) -> None:
    """The estimate can be wrong (unusually large records, a shared pod): DuckDB's own out-of-memory
    error mid-build is the build's error, with the limit to raise, and the version is discarded."""
    import crucible.dataset.streaming as streaming

    monkeypatch.setattr(streaming, "check_memory", lambda records, limit, workers=0: 1)  # DuckDB gets 1 MiB
    sink = MemorySink()
    blobs = [r.SerializeToString() for r in generate_curated_records(3000, seed=1)]
    with (
        OutOfCoreBuild(DatasetPolicy(build_memory_mib=4096), workdir=tmp_path, workers=0) as build,
        pytest.raises(
            DatasetBuildError, match=r"needs more than its 1 MiB for DuckDB \(dataset.build_memory_mib is 4096"
        ),
    ):
        build.build(blobs, records_in_store=len(blobs), version="v1_20261204", created=DAY, sink=sink)
    assert sink.discarded and not sink.files


def test_members_for_the_registry_are_the_members_in_record_id_order(tmp_path) -> None:
    records = generate_curated_records(400, seed=9)
    policy = DatasetPolicy()
    blobs = [r.SerializeToString() for r in records]
    with OutOfCoreBuild(policy, workdir=tmp_path, workers=0) as build:
        build.build(blobs, records_in_store=len(blobs), version="v1_20261204", created=DAY, sink=MemorySink())
        in_file_order = list(build.members())
        for_registry = list(build.members_for_registry())
    assert for_registry == sorted(in_file_order, key=lambda m: m.record_id)
    assert len(for_registry) > 300
