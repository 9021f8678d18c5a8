"""Splits: stratified by category, and leakage-free (a subject or a dedup cluster never spans splits)."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter

from dataset_records import make_record

from crucible.common.categories import CATEGORIES
from crucible.dataset.builder import build_version
from crucible.dataset.policy import DatasetPolicy
from crucible.dataset.sample_records import generate_curated_records
from crucible.dataset.selection import candidates
from crucible.dataset.splitting import assign_splits, leakage_groups

SHARES = {"train": 0.9, "val": 0.05, "test": 0.05}


def _owner(splits: dict, key) -> dict[str, set[str]]:
    seen: dict[str, set[str]] = {}
    for name, cands in splits.items():
        for c in cands:
            seen.setdefault(key(c), set()).add(name)
    return seen


def test_clusters_that_span_subjects_join_their_groups() -> None:
    records = [
        make_record("a", subject="s1", cluster="K"),
        make_record("b", subject="s2", cluster="K"),  # near-duplicate of a, another person
        make_record("c", subject="s2", cluster="c"),
        make_record("d", subject="s3", cluster="d"),
    ]
    groups = leakage_groups(candidates(records, seed=0))
    assert sorted(sorted(c.record_id for c in g) for g in groups) == [["a", "b", "c"], ["d"]]


def test_no_subject_and_no_cluster_is_split_across_splits() -> None:
    rng = random.Random(5)
    records = []
    for i in range(3000):
        cluster = f"k{rng.randrange(2500)}"  # clusters also link records of different subjects
        records.append(
            make_record(f"r{i:05}", subject=f"u{rng.randrange(400)}", cluster=cluster, category=rng.choice(CATEGORIES))
        )
    splits = assign_splits(candidates(records, seed=9), SHARES, seed=9)
    assert sum(len(v) for v in splits.values()) == len(records)
    assert all(len(s) == 1 for s in _owner(splits, lambda c: c.subject).values())
    assert all(len(s) == 1 for s in _owner(splits, lambda c: c.cluster).values())


def test_built_version_is_leakage_free_and_near_the_split_shares() -> None:
    records = generate_curated_records(4000, seed=2, subjects=600, duplicate_share=0.1)
    by_id = {r.record_id: r for r in records}
    built = build_version(
        records, DatasetPolicy(), version="v1_20260101", created=dt.date(2026, 1, 1), write=lambda n, d: None
    )
    ids = built.manifest["record_ids"]
    subject_split: dict[str, set[str]] = {}
    cluster_split: dict[str, set[str]] = {}
    for split, rids in ids.items():
        for rid in rids:
            subject_split.setdefault(by_id[rid].subject_token, set()).add(split)
            cluster_split.setdefault(by_id[rid].dedup.cluster_id, set()).add(split)
    assert all(len(s) == 1 for s in subject_split.values())
    assert all(len(s) == 1 for s in cluster_split.values())
    # One record per cluster made it in.
    assert len(cluster_split) == sum(len(v) for v in ids.values())
    total = sum(len(v) for v in ids.values())
    for split, share in SHARES.items():
        assert abs(len(ids[split]) / total - share) < 0.02, (split, len(ids[split]), total)


def test_splits_are_stratified_by_category() -> None:
    rng = random.Random(1)
    records = [
        make_record(f"r{i:05}", subject=f"u{i}", category=rng.choices(CATEGORIES, [40, 25, 20, 10, 5])[0])
        for i in range(4000)
    ]
    splits = assign_splits(candidates(records, seed=4), SHARES, seed=4)
    overall = Counter(r.category for r in records)
    for name, cands in splits.items():
        counts = Counter(c.category for c in cands)
        for cat, n in overall.items():
            assert abs(counts[cat] - n * SHARES[name]) <= 1.0, (name, cat, counts[cat], n * SHARES[name])
