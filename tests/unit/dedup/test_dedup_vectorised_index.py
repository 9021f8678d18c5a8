"""The vectorised MemoryIndex equals a one-record-at-a-time transcription of the rule."""

from __future__ import annotations

import random

import pytest
from dedup_reference import SequentialIndex

from crucible.dedup.core import Preparer
from crucible.dedup.corpus import generate
from crucible.dedup.memory_index import MemoryIndex
from crucible.dedup.params import DedupParams


@pytest.mark.parametrize(("batch_size", "seed"), [(1, 1), (7, 2), (64, 3), (1000, 4)])
def test_vectorised_decisions_equal_the_sequential_rule(batch_size: int, seed: int) -> None:
    # Many copies of few records, at edit distances around the threshold, with redelivered ids.
    texts, _ = generate(1200, seed=seed, duplicate_share=0.6, window=40)
    ids = [f"r{i}" for i in range(len(texts))]
    rng = random.Random(seed)
    for _ in range(100):  # redeliveries: an id seen before (or later in the same batch) again
        i = rng.randrange(len(ids))
        j = min(len(ids), i + rng.randrange(1, 5))
        ids.insert(j, ids[i])
        texts.insert(j, texts[i])
    for threshold in (0.85, 0.7):
        params = DedupParams.for_threshold(threshold)
        prep = Preparer(params)
        fast, slow = MemoryIndex(params), SequentialIndex(params)
        got, want = [], []
        for lo in range(0, len(ids), batch_size):
            batch = prep.prepare(ids[lo : lo + batch_size], texts[lo : lo + batch_size])
            got.extend(fast.assign(batch))
            want.extend(slow.assign(batch))
        assert got == want
        assert sum(1 for d in got if d.duplicate_of and not d.exact) > 100
        assert len(fast) == len(slow)
