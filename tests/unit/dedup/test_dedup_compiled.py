from __future__ import annotations

import numpy as np
import pytest
from numba.core.dispatcher import Dispatcher

from crucible.dedup.compiled import compiled


def _double_into(values: np.ndarray, out: np.ndarray) -> None:
    for i in range(values.size):
        out[i] = 2 * values[i]


def test_compiles_in_memory_when_numba_has_nowhere_to_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    # What numba raises in a read-only container with no writable home and no NUMBA_CACHE_DIR.
    def no_locator(self: Dispatcher) -> None:
        raise RuntimeError(f"cannot cache function {self.py_func.__qualname__!r}: no locator available")

    monkeypatch.setattr(Dispatcher, "enable_caching", no_locator)
    kernel = compiled(_double_into)
    assert isinstance(kernel, Dispatcher)  # numba's, not the plain Python loop
    out = np.zeros(3, dtype=np.int64)
    kernel(np.arange(3, dtype=np.int64), out)
    assert out.tolist() == [0, 2, 4]
