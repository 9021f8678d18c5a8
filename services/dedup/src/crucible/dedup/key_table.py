"""A uint64 -> int64 hash table operated on whole arrays (open addressing, linear probing).

The index claims ~11 band keys per record. A Python dict costs ~100 bytes per key; this table
32-64 bytes (load factor 1/4 to 1/2). `claim` is `dict.setdefault` over an array of keys, in
order, in one compiled loop (numba) instead of a Python operation per key. Keys are already
well-mixed 64-bit hashes, so the slot is the key's low bits.
"""

from __future__ import annotations

import numpy as np

from crucible.dedup.compiled import compiled

EMPTY = -1


def _claim_keys(
    table_keys: np.ndarray, table_values: np.ndarray, keys: np.ndarray, values: np.ndarray, held: np.ndarray
) -> int:
    """`held[i] = table.setdefault(keys[i], values[i])` in order; returns how many keys were added.
    The caller keeps the table at most half full, so a probe always ends at a free slot."""
    mask = np.uint64(table_keys.size - 1)
    added = 0
    for i in range(keys.size):
        key = keys[i]
        slot = np.int64(key & mask)
        while True:
            value = table_values[slot]
            if value == EMPTY:
                table_keys[slot] = key
                table_values[slot] = values[i]
                held[i] = values[i]
                added += 1
                break
            if table_keys[slot] == key:
                held[i] = value
                break
            slot = np.int64(np.uint64(slot + 1) & mask)
    return added


def _lookup_keys(table_keys: np.ndarray, table_values: np.ndarray, keys: np.ndarray, out: np.ndarray) -> None:
    mask = np.uint64(table_keys.size - 1)
    for i in range(keys.size):
        key = keys[i]
        slot = np.int64(key & mask)
        while True:
            value = table_values[slot]
            if value == EMPTY or table_keys[slot] == key:
                out[i] = value
                break
            slot = np.int64(np.uint64(slot + 1) & mask)


class KeyTable:
    def __init__(self, capacity: int = 1 << 12) -> None:
        capacity = 1 << max(4, (capacity - 1).bit_length())
        self.keys = np.zeros(capacity, dtype=np.uint64)
        self.values = np.full(capacity, EMPTY, dtype=np.int64)
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """The value of each key, EMPTY where absent."""
        out = np.empty(keys.size, dtype=np.int64)
        compiled(_lookup_keys)(self.keys, self.values, np.ascontiguousarray(keys, dtype=np.uint64), out)
        return out

    def claim(self, keys: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Give each absent key the value of its first occurrence in `keys` (in order); return
        the value every entry's key holds afterwards (an earlier holder wins)."""
        if (self.size + keys.size) * 2 > len(self.keys):  # room even if every key is new
            self._grow(self.size + keys.size)
        held = np.empty(keys.size, dtype=np.int64)
        self.size += compiled(_claim_keys)(
            self.keys,
            self.values,
            np.ascontiguousarray(keys, dtype=np.uint64),
            np.ascontiguousarray(values, dtype=np.int64),
            held,
        )
        return held

    def _grow(self, need: int) -> None:
        keys, values = self.items()
        capacity = 1 << max(4, (2 * need).bit_length())
        self.keys = np.zeros(capacity, dtype=np.uint64)
        self.values = np.full(capacity, EMPTY, dtype=np.int64)
        self.size = 0
        self.claim(keys, values)

    def items(self) -> tuple[np.ndarray, np.ndarray]:
        live = self.values != EMPTY
        return self.keys[live], self.values[live]
