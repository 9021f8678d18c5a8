"""Cluster resolution, the category mix and the synthetic cap."""

from __future__ import annotations

import datetime as dt

from dataset_records import make_record

from crucible.dataset.builder import build_version
from crucible.dataset.policy import DatasetPolicy
from crucible.dataset.selection import (
    apply_category_mix,
    apportion,
    candidates,
    cap_synthetic,
    max_synthetic,
    resolve_clusters,
)


def test_one_record_per_cluster_highest_quality_wins() -> None:
    records = [
        make_record("a1", cluster="A", quality=7.5),
        make_record("a2", cluster="A", quality=9.1),
        make_record("a3", cluster="A", quality=8.0),
        make_record("b1", cluster="B", quality=7.0),
        make_record("c1", quality=9.9),
    ]
    winners, dropped = resolve_clusters(candidates(records, seed=1))
    assert sorted(c.record_id for c in winners) == ["a2", "b1", "c1"]
    assert dropped == 2


def test_cluster_ties_are_broken_the_same_way_whatever_the_input_order() -> None:
    records = [make_record(f"t{i}", cluster="T", quality=8.0) for i in range(6)]
    first, _ = resolve_clusters(candidates(records, seed=3))
    again, _ = resolve_clusters(candidates(list(reversed(records)), seed=3))
    assert [c.record_id for c in first] == [c.record_id for c in again]


def test_apportion_sums_to_total() -> None:
    shares = DatasetPolicy().category_mix
    for total in (0, 1, 7, 99, 1000, 12345):
        counts = apportion(total, shares)
        assert sum(counts.values()) == total
    assert apportion(1000, shares) == {
        "instruction_following": 400,
        "contextual_understanding": 250,
        "empathetic_dialogue": 200,
        "personalization": 100,
        "safety_ethics": 50,
    }


def test_over_represented_categories_are_downsampled_best_first_and_deficits_reported() -> None:
    mix = DatasetPolicy().category_mix
    records = [make_record(f"i{i:03}", category="instruction_following", quality=7 + i / 100) for i in range(140)]
    records += [make_record(f"c{i:03}", category="contextual_understanding") for i in range(30)]
    records += [make_record(f"e{i:03}", category="empathetic_dialogue") for i in range(20)]
    records += [make_record(f"p{i:03}", category="personalization") for i in range(10)]
    # 200 records, no safety at all
    kept, report = apply_category_mix(candidates(records, seed=0), mix)
    instr = report["instruction_following"]
    assert (instr["available"], instr["target"], instr["selected"], instr["downsampled"]) == (140, 80, 80, 60)
    kept_instr = sorted(c.quality for c in kept if c.category == "instruction_following")
    assert min(kept_instr) > 7.59  # the 80 best of 7.00..8.39
    assert report["contextual_understanding"]["deficit"] == 50 - 30
    assert report["empathetic_dialogue"]["deficit"] == 40 - 20
    assert report["personalization"]["deficit"] == 20 - 10
    assert report["safety_ethics"] == {
        "target_share": 0.05, "target": 10, "available": 0, "selected": 0, "downsampled": 0, "deficit": 10,
        "share": 0.0,
    }  # fmt: skip
    # No category ends above its target count.
    for row in report.values():
        assert row["selected"] <= row["target"]


def test_max_synthetic_is_exact_at_the_cap() -> None:
    assert max_synthetic(70, 0.3) == 30
    assert max_synthetic(0, 0.3) == 0
    assert max_synthetic(10, 0.0) == 0
    for real in range(0, 300, 7):
        s = max_synthetic(real, 0.3)
        assert s / max(real + s, 1) <= 0.3 + 1e-12
        assert (s + 1) / (real + s + 1) > 0.3


def test_cap_keeps_the_best_synthetic_records() -> None:
    records = [make_record(f"r{i}") for i in range(7)]
    records += [make_record(f"s{i}", synthetic=True, quality=7 + i / 10) for i in range(10)]
    kept, dropped = cap_synthetic(candidates(records, seed=0), 0.3)
    assert sum(c.synthetic for c in kept) == 3
    assert sorted(c.record_id for c in kept if c.synthetic) == ["s7", "s8", "s9"]
    assert len(dropped) == 7


def test_synthetic_never_exceeds_the_cap_in_any_split() -> None:
    records = []
    for i in range(600):
        synthetic = i % 2 == 0  # half the store is synthetic: far above the 30 % cap
        records.append(
            make_record(
                f"r{i:04}",
                subject=f"u{i % 97}" if not synthetic else f"syn{i}",
                category=list(DatasetPolicy().category_mix)[i % 5],
                synthetic=synthetic,
                quality=7 + (i % 30) / 10,
            )
        )
    policy = DatasetPolicy(min_records=1)
    built = build_version(records, policy, version="v1_20260101", created=dt.date(2026, 1, 1), write=lambda n, d: None)
    for split, row in built.manifest["counts"]["splits"].items():
        assert row["total"] > 0, split
        assert row["synthetic"] / row["total"] <= policy.synthetic_cap + 1e-12, (split, row)
    assert built.manifest["selection"]["synthetic_dropped"] > 0
