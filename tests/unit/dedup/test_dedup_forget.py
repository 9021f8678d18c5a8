"""Forgetting records in the in-memory dedup index and its snapshot: the records and every
reference to them go, the rest keeps working."""

from __future__ import annotations

from crucible.dedup.core import dedup_texts
from crucible.dedup.corpus import edited_copy, generate
from crucible.dedup.memory_index import MemoryIndex
from crucible.dedup.params import DedupParams

PARAMS = DedupParams.for_threshold()


def _corpus() -> tuple[list[str], list[str]]:
    texts, _ = generate(400, seed=3)
    base = texts[0] + " " + texts[1]
    # "gone-*" is the forgotten person's; k1..k3 copy their text, so they point at gone-0.
    extra = [base, edited_copy(base, 1, seed=1), edited_copy(base, 1, seed=2), base, edited_copy(base, 2, seed=3)]
    ids = ["gone-0", "k1", "k2", "gone-1", "k3"] + [f"r{i}" for i in range(len(texts))]
    return ids, extra + texts


def test_without_drops_the_records_and_every_reference_to_them() -> None:
    ids, texts = _corpus()
    index = MemoryIndex(PARAMS)
    before = dict(zip(ids, dedup_texts(ids, texts, index, PARAMS, batch_size=64), strict=True))
    assert before["k1"].cluster_id == "gone-0" and before["gone-1"].duplicate_of == "gone-0"
    removed = {"gone-0", "gone-1"}

    smaller = index.without(removed)

    assert len(smaller) == len(index) - 2 and not removed & set(smaller.ids)
    kept = [i for i in ids if i not in removed]
    after = dict(zip(kept, dedup_texts(kept, [t for i, t in zip(ids, texts) if i not in removed], smaller, PARAMS),
                     strict=True))  # fmt: skip
    for rid, d in after.items():
        assert d.cluster_id not in removed and d.duplicate_of not in removed, rid
    # Records that never touched the removed ones keep their decisions.
    untouched = [r for r in kept if before[r].cluster_id not in removed and before[r].duplicate_of not in removed]
    assert all(after[r] == before[r] for r in untouched) and len(untouched) > 300
    # The copies still form one cluster, now led by the earliest remaining one.
    assert {after[r].cluster_id for r in ("k1", "k2", "k3")} == {"k1"}
    assert after["k1"].duplicate_of == ""
    # A new copy of the removed text is a duplicate of what remains, never of a removed record.
    fresh = dedup_texts(["new"], [texts[0]], smaller, PARAMS)[0]
    assert fresh.cluster_id == "k1"
    # And the snapshot bytes name none of them.
    snapshot = smaller.to_snapshot_bytes()
    assert b"gone-0" not in snapshot and b"gone-1" not in snapshot
    reloaded = MemoryIndex(PARAMS)
    reloaded.load_segment(snapshot)
    assert reloaded.ids == smaller.ids


def test_without_records_it_does_not_hold_is_the_same_index() -> None:
    ids, texts = _corpus()
    index = MemoryIndex(PARAMS)
    dedup_texts(ids, texts, index, PARAMS)
    assert index.without({"nobody"}) is index
