"""The clustering rule, on the in-memory index: exact and near duplicates, clusters, idempotent
redelivery, snapshots, and texts that are empty or one word."""

from __future__ import annotations

import pytest

from crucible.dedup.core import dedup_texts
from crucible.dedup.corpus import edited_copy as near
from crucible.dedup.memory_index import MemoryIndex, SnapshotMismatch
from crucible.dedup.params import DedupParams


def test_exact_and_near_duplicates_join_the_first_records_cluster(params: DedupParams, base_texts: list[str]) -> None:
    a, b = base_texts[0], base_texts[1]
    texts = [a, b, a.upper() + "!!", near(a, 1), near(b, 2, seed=1), base_texts[2]]
    ids = ["a", "b", "a-exact", "a-near", "b-near", "c"]
    d = dedup_texts(ids, texts, MemoryIndex(params), params)
    assert [x.cluster_id for x in d] == ["a", "b", "a", "a", "b", "c"]
    assert [x.duplicate_of for x in d] == ["", "", "a", "a", "b", ""]
    assert d[2].exact and d[2].similarity == 1.0
    assert not d[3].exact and 0.85 <= d[3].similarity < 1.0
    assert d[0].similarity == 1.0 and d[0].duplicate_of == ""


def test_a_duplicate_of_a_duplicate_stays_in_the_first_records_cluster(
    params: DedupParams, base_texts: list[str]
) -> None:
    a = base_texts[5]
    a1 = near(a, 2, seed=1)
    a2 = near(a1, 2, seed=2)
    d = dedup_texts(["a", "a1", "a2"], [a, a1, a2], MemoryIndex(params), params)
    assert {x.cluster_id for x in d} == {"a"}
    assert d[2].duplicate_of in {"a", "a1"}


def test_unrelated_texts_are_never_flagged(params: DedupParams, base_texts: list[str]) -> None:
    ids = [f"r{i}" for i in range(len(base_texts))]
    d = dedup_texts(ids, base_texts, MemoryIndex(params), params, batch_size=64)
    assert [x.duplicate_of for x in d] == [""] * len(base_texts)
    assert [x.cluster_id for x in d] == ids


def test_redelivered_records_get_the_same_decision_and_are_indexed_once(
    params: DedupParams, base_texts: list[str]
) -> None:
    index = MemoryIndex(params)
    texts = [base_texts[0], near(base_texts[0]), base_texts[1]]
    first = dedup_texts(["x", "y", "z"], texts, index, params)
    again = dedup_texts(["y", "x", "z", "y"], [texts[1], texts[0], texts[2], texts[1]], index, params)
    assert again == [first[1], first[0], first[2], first[1]]
    assert len(index) == 3
    # within one batch too
    index2 = MemoryIndex(params)
    d = dedup_texts(["x", "x", "y"], [texts[0], texts[0], texts[1]], index2, params)
    assert d[0] == d[1] and d[2].duplicate_of == "x" and len(index2) == 2


def test_empty_and_one_word_texts_behave_sanely(params: DedupParams) -> None:
    texts = ["", "   ", "...", "hi", "Hi!", "hello", "help", "a", "b", "a"]
    ids = [f"t{i}" for i in range(len(texts))]
    d = dedup_texts(ids, texts, MemoryIndex(params), params)
    by = dict(zip(ids, d, strict=True))
    # empty after normalisation: the same (empty) text, so exact duplicates of the first
    assert by["t0"].duplicate_of == "" and by["t1"].duplicate_of == "t0" and by["t2"].duplicate_of == "t0"
    # one word: a short text is one shingle; equal words are exact duplicates, others are not
    assert by["t4"].duplicate_of == "t3" and by["t4"].exact
    assert by["t5"].duplicate_of == "" and by["t6"].duplicate_of == ""
    assert by["t9"].duplicate_of == "t7" and by["t8"].duplicate_of == ""
    # an empty text never matches a non-empty one
    assert {by[i].cluster_id for i in ("t3", "t5", "t6", "t7", "t8")}.isdisjoint({"t0"})


def test_the_best_candidate_wins_and_ties_go_to_the_earliest(params: DedupParams, base_texts: list[str]) -> None:
    a = base_texts[7]
    far = near(a, 3, seed=4)
    close = near(a, 1, seed=5)
    index = MemoryIndex(params)
    d = dedup_texts(["far", "a"], [far, a], index, params)
    assert d[1].duplicate_of == "far"  # a is a near-duplicate of the earlier `far`
    d = dedup_texts(["close"], [close], index, params)
    # `close` is more similar to `a` than to `far`, but both sit in far's cluster
    assert d[0].cluster_id == "far"
    index2 = MemoryIndex(params)
    d2 = dedup_texts(["p", "q", "r"], [a, a + " ", near(a, 1, seed=9)], index2, params)
    assert d2[1].duplicate_of == "p" and d2[2].duplicate_of == "p"  # q is an exact copy of p: p is earlier


def test_snapshot_segments_rebuild_the_same_index(params: DedupParams, base_texts: list[str]) -> None:
    texts = base_texts[:60] + [near(t, 1, seed=i) for i, t in enumerate(base_texts[:30])] + base_texts[:5]
    ids = [f"r{i}" for i in range(len(texts))]
    full = MemoryIndex(params)
    expected = dedup_texts(ids, texts, full, params, batch_size=16)

    index = MemoryIndex(params)
    segments = []
    for lo in range(0, 80, 16):
        dedup_texts(ids[lo : lo + 16], texts[lo : lo + 16], index, params)
        _start, end, data = index.journal()
        index.mark_persisted(end)
        segments.append(data)
    assert index.journal() is None
    restored = MemoryIndex(params)
    for data in segments:
        restored.load_segment(data)
    restored.load_segment(segments[0])  # replaying what is already loaded is a no-op
    assert len(restored) == 80
    rest = dedup_texts(ids[80:], texts[80:], restored, params)
    assert [restored.decision(i) for i in range(80)] + rest == expected

    compacted = MemoryIndex(params)
    compacted.load_segment(restored.to_snapshot_bytes())
    assert [compacted.decision(i) for i in range(len(compacted))] == expected


def test_a_snapshot_with_another_layout_is_refused(params: DedupParams, base_texts: list[str]) -> None:
    index = MemoryIndex(params)
    dedup_texts(["a"], base_texts[:1], index, params)
    other = DedupParams(threshold=0.85, num_perm=64, seed=1, bands=8, rows=8)
    with pytest.raises(SnapshotMismatch, match="num_perm"):
        MemoryIndex(other).load_segment(index.to_snapshot_bytes())
    # the threshold may change between runs: it is not part of the layout
    MemoryIndex(DedupParams(0.9, 128, 1, params.bands, params.rows)).load_segment(index.to_snapshot_bytes())
