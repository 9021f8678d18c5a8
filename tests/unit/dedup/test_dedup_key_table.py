from __future__ import annotations

import numpy as np

from crucible.dedup.key_table import EMPTY, KeyTable


def test_claims_and_lookups_behave_like_dict_setdefault_through_growth_and_collisions() -> None:
    rng = np.random.default_rng(0)
    table, reference = KeyTable(16), {}
    for step in range(300):
        # a small key space: repeats within a batch, keys held from earlier batches, and (every
        # third batch) keys whose low bits collide in the table, or collide in its last slot
        keys = rng.integers(0, 500, size=int(rng.integers(0, 80))).astype(np.uint64)
        if step % 3 == 0:
            keys = keys << np.uint64(40)
        elif step % 3 == 1:  # all in the table's last slot: probes wrap around to slot 0
            keys = (keys << np.uint64(40)) | np.uint64((1 << 40) - 1)
        values = rng.integers(0, 10**6, size=keys.size)
        expected = [reference.setdefault(k, v) for k, v in zip(keys.tolist(), values.tolist(), strict=True)]
        assert table.claim(keys, values).tolist() == expected
        probe = rng.integers(0, 600, size=50).astype(np.uint64)
        assert table.lookup(probe).tolist() == [reference.get(k, EMPTY) for k in probe.tolist()]
    assert len(table) == len(reference)
    keys, values = table.items()
    assert dict(zip(keys.tolist(), values.tolist(), strict=True)) == reference
