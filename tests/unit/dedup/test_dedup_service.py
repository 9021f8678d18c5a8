"""The stage as the platform runs it: policy, sink, snapshot across a restart, run report."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from crucible.common.config import ConfigError, Policy, Settings, load_policy
from crucible.common.runtime import Runtime
from crucible.dedup import service
from crucible.dedup.corpus import edited_copy
from crucible.dedup.policy import DedupPolicy
from crucible.v1 import records_pb2


def record(rid: str, text: str, run_id: str = "run-1") -> records_pb2.Record:
    r = records_pb2.Record(record_id=rid)
    r.turns.add(role="user", text=text)
    r.extraction.run_id = run_id
    return r


def _policy(tmp_path: Path, body: str) -> Policy:
    path = tmp_path / "crucible.yaml"
    path.write_text(body)
    return load_policy(path, section_models={"dedup": DedupPolicy})


def _runtime(settings: Settings, policy: Policy | None = None) -> Runtime:
    # Only the dedup section: these tests must not depend on other services' plugins loading.
    return Runtime.create(settings, policy=policy or load_policy(None, section_models={"dedup": DedupPolicy}))


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    rt = _runtime(settings)
    yield rt
    rt.registry.dispose()


def test_every_record_is_published_with_its_cluster(runtime: Runtime, base_texts: list[str]) -> None:
    stage = service.build_stage(runtime).stage
    a, b = base_texts[0], base_texts[1]
    batch = [record("a", a), record("b", b), record("a2", edited_copy(a, 1)), record("a3", a + " !")]
    result = stage.process(batch)
    assert not result.rejected and not result.held
    assert [r.record_id for r in result.kept] == ["a", "b", "a2", "a3"]
    assert [(r.dedup.cluster_id, r.dedup.duplicate_of) for r in result.kept] == [
        ("a", ""),
        ("b", ""),
        ("a", "a"),
        ("a", "a"),
    ]
    assert result.kept[0].dedup.similarity == 1.0 and 0.85 <= result.kept[2].dedup.similarity < 1.0
    assert not batch[0].HasField("dedup")  # the core does not mutate its input
    assert stage.process([]).kept == []


def test_the_threshold_comes_from_the_policy(tmp_path: Path, settings: Settings, base_texts: list[str]) -> None:
    a = base_texts[3]
    b = edited_copy(a, 4, seed=3)  # exact Jaccard ~0.87
    decisions = {}
    for threshold in (0.7, 0.99):
        home = tmp_path / f"home-{threshold}"
        rt = _runtime(
            settings.model_copy(update={"home": home}), policy=_policy(tmp_path, f"dedup:\n  threshold: {threshold}\n")
        )
        stage = service.build_stage(rt).stage
        assert stage.params.threshold == threshold
        decisions[threshold] = stage.process([record("a", a), record("b", b)]).kept[1].dedup.duplicate_of
        rt.registry.dispose()
    assert decisions == {0.7: "a", 0.99: ""}


def test_a_bad_policy_value_is_an_error_naming_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"dedup\.threshold"):
        _policy(tmp_path, "dedup:\n  threshold: 1.5\n")
    with pytest.raises(ConfigError, match=r"dedup\.num_perms"):
        _policy(tmp_path, "dedup:\n  num_perms: 64\n")


def test_a_restart_keeps_the_index(settings: Settings, base_texts: list[str]) -> None:
    first = _runtime(settings)
    block = service.build_stage(first)
    stage, sink = block.stage, block.sink
    for lo in range(0, 40, 10):  # several batches: several snapshot segments
        sink.persist(stage.process([record(f"r{i}", base_texts[i]) for i in range(lo, lo + 10)]))
    first.registry.dispose()
    del first, block, stage, sink

    second = _runtime(settings)  # a new process: the index comes back from the artifact store
    stage = service.build_stage(second).stage
    assert len(stage.index) == 40
    out = stage.process([record("new", edited_copy(base_texts[7], 1)), record("r3", base_texts[3])]).kept
    assert out[0].dedup.duplicate_of == "r7" and out[0].dedup.cluster_id == "r7"
    assert out[1].dedup.duplicate_of == "" and out[1].dedup.cluster_id == "r3"  # redelivery: same answer
    second.registry.dispose()


def test_snapshot_segments_are_compacted(settings: Settings, tmp_path: Path, base_texts: list[str]) -> None:
    policy = _policy(tmp_path, "dedup:\n  snapshot_compact_segments: 3\n")
    rt = _runtime(settings, policy)
    block = service.build_stage(rt)
    stage, sink = block.stage, block.sink
    for lo in range(0, 50, 10):
        sink.persist(stage.process([record(f"r{i}", base_texts[i]) for i in range(lo, lo + 10)]))
    keys = rt.artifacts.list("dedup/index")
    assert "dedup/index/base.npz" in keys and len([k for k in keys if "/segments/" in k]) < 3
    rt2 = _runtime(settings, policy)
    assert len(service.build_stage(rt2).stage.index) == 50
    for r in (rt, rt2):
        r.registry.dispose()


def test_the_run_report_lists_clusters_pairs_and_counts(runtime: Runtime, base_texts: list[str]) -> None:
    block = service.build_stage(runtime)
    stage, sink = block.stage, block.sink
    a, b = base_texts[10], base_texts[11]
    batch = [record("a", a), record("b", b), record("a-near", edited_copy(a, 1)), record("a-same", a.lower())]
    result = stage.process(batch)
    sink.persist(result)
    sink.persist(result)  # a redelivered batch is written again: counted once
    sink.persist(stage.process([record("other-run", b, run_id="run-2")]))
    counts = service.run_summary(runtime, "run-1")
    assert counts["records"] == 4 and counts["duplicates"] == 2
    assert counts["exact_duplicates"] == 1 and counts["near_duplicates"] == 1
    assert counts["clusters_with_duplicates"] == 1 and counts["largest_cluster"] == 3
    assert counts["index_backend"] == "memory" and counts["indexed_records"] == 5
    report = runtime.artifacts.read_json("dedup/runs/run-1/report.json")
    assert report["clusters"] == [{"cluster_id": "a", "members": ["a", "a-near", "a-same"], "size": 3}]
    pairs = {p["record_id"]: p for p in report["pairs"]}
    assert pairs["a-same"]["exact"] and pairs["a-same"]["similarity"] == 1.0
    assert pairs["a-near"]["duplicate_of"] == "a" and 0.85 <= pairs["a-near"]["similarity"] < 1.0
    assert service.run_summary(runtime, "run-2")["duplicates"] == 1
