"""The pure builder: deterministic rebuilds, the formats, the manifest and the report."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest
from dataset_records import make_record

from crucible.dataset.builder import DatasetBuildError, build_version, version_name
from crucible.dataset.policy import DatasetPolicy
from crucible.dataset.sample_records import generate_curated_records

DAY = dt.date(2026, 11, 22)


def build(records, policy=None, version="v1_20261122"):
    files: dict[str, bytes] = {}
    built = build_version(records, policy or DatasetPolicy(), version=version, created=DAY, write=files.__setitem__)
    return built, files


def test_version_name() -> None:
    assert version_name(3, DAY) == "v3_20261122"


def test_rebuild_is_byte_identical_and_independent_of_store_order() -> None:
    records = generate_curated_records(1500, seed=4)
    first_built, first = build(records)
    again_built, again = build(list(reversed(records)))
    assert first == again
    assert first_built.manifest_sha256 == again_built.manifest_sha256


def test_another_seed_samples_differently() -> None:
    records = generate_curated_records(1500, seed=4)
    _, a = build(records)
    _, b = build(records, DatasetPolicy(seed=7))
    assert a["train.chat.jsonl"] != b["train.chat.jsonl"]


def test_manifest_lists_counts_hashes_policy_audit_and_ids() -> None:
    records = generate_curated_records(800, seed=1)
    built, files = build(records)
    manifest = json.loads(files["manifest.json"])
    assert manifest == built.manifest
    assert built.manifest_sha256 == hashlib.sha256(files["manifest.json"]).hexdigest()
    expected = {f"{s}.{f}.jsonl" for s in ("train", "val", "test") for f in ("chat", "alpaca", "sharegpt", "seed")}
    assert set(manifest["files"]) == expected | {"report.md"}
    for name, meta in manifest["files"].items():
        assert meta["sha256"] == hashlib.sha256(files[name]).hexdigest(), name
    for split, ids in manifest["record_ids"].items():
        assert len(ids) == manifest["counts"]["splits"][split]["total"]
        assert files[f"{split}.chat.jsonl"].count(b"\n") == len(ids)
    assert manifest["policy"]["synthetic_cap"] == 0.3
    assert manifest["audit"]["fairness_target"] == 85
    assert "fairness_score" in manifest["audit"]
    assert sum(manifest["counts"]["by_category"].values()) == manifest["counts"]["total"]


def test_formats() -> None:
    record = make_record(
        "r1",
        category="safety_ethics",
        context={"relationship_stage": "early", "topic": "trust"},
        turns=[
            ("user", "We had a fight."),
            ("assistant", "That sounds hard."),
            ("partner", "I felt ignored."),
            ("user", "What now?"),
            ("assistant", "Name the feeling first."),
            ("user", "trailing question with no reply"),
        ],
    )
    # A single-category mix: one record is a whole version.
    policy = DatasetPolicy(min_records=1, system_prompt="You are a coach.", category_mix={"safety_ethics": 1.0})
    _, files = build([record], policy)
    chat = json.loads(files["train.chat.jsonl"])
    assert chat["messages"] == [
        {"role": "system", "content": "You are a coach."},
        {"role": "user", "content": "We had a fight."},
        {"role": "assistant", "content": "That sounds hard."},
        {"role": "user", "content": "[Partner] I felt ignored."},
        {"role": "user", "content": "What now?"},
        {"role": "assistant", "content": "Name the feeling first."},
    ]
    alpaca = json.loads(files["train.alpaca.jsonl"])
    assert set(alpaca) == {"instruction", "input", "output"}
    assert alpaca["instruction"] == "[Partner] I felt ignored.\nWhat now?"
    assert alpaca["output"] == "Name the feeling first."
    assert "relationship stage: early" in alpaca["input"]
    assert "User: We had a fight.\nCoach: That sounds hard." in alpaca["input"]
    share = json.loads(files["train.sharegpt.jsonl"])
    assert [t["from"] for t in share["conversations"]] == ["system", "human", "gpt", "human", "human", "gpt"]
    seed = json.loads(files["train.seed.jsonl"])
    assert set(seed) == {"instruction", "input", "output", "metadata"}
    meta = seed["metadata"]
    assert meta["category"] == "safety_ethics"
    assert meta["relationship_stage"] == "early"
    assert meta["source"] == "user_generated"
    assert 1 <= meta["complexity"] <= 5
    assert meta["quality_score"] == 8.0


def test_only_chosen_formats_are_written() -> None:
    _, files = build(generate_curated_records(200, seed=1), DatasetPolicy(formats=["chat"]))
    assert sorted(files) == ["manifest.json", "report.md", "test.chat.jsonl", "train.chat.jsonl", "val.chat.jsonl"]


def test_report_has_a_category_chart_and_the_audit() -> None:
    _, files = build(generate_curated_records(600, seed=3))
    report = files["report.md"].decode()
    assert "## Category mix" in report and "█" in report and "(target 40%)" in report
    assert "## Bias audit" in report and "Fairness score" in report
    assert "## Recommendations" in report


def test_too_few_records_is_a_clear_error() -> None:
    with pytest.raises(DatasetBuildError, match="min_records"):
        build([make_record("only")])


def test_each_split_counts_its_synthetic_records_per_category() -> None:
    records = [make_record(f"r{i}", subject=f"s{i}", category="empathetic_dialogue") for i in range(60)]
    records += [
        make_record(f"g{i}", subject=f"g{i}", category=c, synthetic=True)
        for i, c in enumerate(["empathetic_dialogue"] * 6 + ["safety_ethics"] * 4)
    ]
    built, files = build(records)
    category = {r.record_id: r.category for r in records if r.source.table == "synthetic"}
    splits = built.manifest["counts"]["splits"]
    for name, row in splits.items():
        expected: dict[str, int] = {}
        for rid in built.manifest["record_ids"][name]:
            if rid in category:
                expected[category[rid]] = expected.get(category[rid], 0) + 1
        assert row["synthetic_by_category"] == dict(sorted(expected.items()))
        assert sum(row["synthetic_by_category"].values()) == row["synthetic"]
        assert row["synthetic"] <= 0.3 * row["total"] + 1e-9
    assert sum(row["synthetic"] for row in splits.values()) > 0
    assert "synthetic by category" in files["report.md"].decode()
