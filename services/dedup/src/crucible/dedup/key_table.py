"""A uint64 -> int64 hash table operated on whole arrays (open addressing, linear probing).

The index claims ~11 band keys per record. A Python dict costs ~100 bytes per key; this table
32-64 bytes (load factor 1/4 to 1/2) and a few numpy passes per batch instead of a Python
operation per key. Keys are already well-mixed 64-bit hashes, so the slot is the key's low bits.
"""

from __future__ import annotations

import numpy as np

EMPTY = -1


class KeyTable:
    def __init__(self, capacity: int = 1 << 12) -> None:
        capacity = 1 << max(4, (capacity - 1).bit_length())
        self.keys = np.zeros(capacity, dtype=np.uint64)
        self.values = np.full(capacity, EMPTY, dtype=np.int64)
        self.size = 0

    def __len__(self) -> int:
        return self.size

    @property
    def _mask(self) -> int:
        return len(self.keys) - 1

    def _slots(self, keys: np.ndarray) -> np.ndarray:
        return (keys & np.uint64(self._mask)).astype(np.int64)

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """The value of each key, EMPTY where absent."""
        out = np.full(keys.size, EMPTY, dtype=np.int64)
        todo = np.arange(keys.size)
        slot = self._slots(keys)
        while todo.size:
            found = self.values[slot]
            occupied = found != EMPTY
            hit = occupied & (self.keys[slot] == keys[todo])
            out[todo[hit]] = found[hit]
            probe = occupied & ~hit
            todo, slot = todo[probe], (slot[probe] + 1) & self._mask
        return out

    def _insert_absent(self, keys: np.ndarray, values: np.ndarray) -> None:
        """Insert distinct keys known to be absent."""
        if (self.size + keys.size) * 2 > len(self.keys):
            self._grow(self.size + keys.size)
        todo = np.arange(keys.size)
        slot = self._slots(keys)
        while todo.size:
            free = self.values[slot] == EMPTY
            at, who = slot[free], todo[free]
            # Several keys may probe the same free slot: numpy's fancy assignment keeps the
            # last write (the same one in both arrays); whoever is read back there has the
            # slot, the others probe on.
            self.keys[at] = keys[who]
            self.values[at] = values[who]
            placed = np.zeros(todo.size, dtype=bool)
            placed[np.flatnonzero(free)[self.keys[at] == keys[who]]] = True
            todo, slot = todo[~placed], (slot[~placed] + 1) & self._mask
        self.size += keys.size

    def _grow(self, need: int) -> None:
        keys, values = self.items()
        capacity = 1 << max(4, (2 * need).bit_length())
        self.keys = np.zeros(capacity, dtype=np.uint64)
        self.values = np.full(capacity, EMPTY, dtype=np.int64)
        self.size = 0
        self._insert_absent(keys, values)

    def claim(self, keys: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Give each absent key the value of its first occurrence in `keys` (in order); return
        the value every entry's key holds afterwards (an earlier holder wins)."""
        if keys.size == 0:
            return np.empty(0, dtype=np.int64)
        unique, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        held = self.lookup(unique)
        absent = held == EMPTY
        self._insert_absent(unique[absent], values[first[absent]])
        held[absent] = values[first[absent]]
        return held[inverse.reshape(-1)]

    def items(self) -> tuple[np.ndarray, np.ndarray]:
        live = self.values != EMPTY
        return self.keys[live], self.values[live]
