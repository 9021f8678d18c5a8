"""The few hot loops of dedup, compiled with numba on first use.

The kernels are plain Python functions in the modules that own them (signature, normalise,
key_table); `compiled(func)` returns numba's machine-code version, built once per process and
cached on disk by numba. numba is imported here, lazily, so importing the package (which the
`crucible` CLI does for every command) does not pay numba's start-up cost.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import cache
from typing import Any, TypeVar

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


@cache
def compiled(func: F) -> F:
    """`func` compiled in nopython mode (no Python objects inside, so no GIL needed)."""
    import numba

    try:
        return numba.njit(cache=True, nogil=True, boundscheck=False)(func)  # type: ignore[no-any-return]
    except RuntimeError as err:
        # No writable cache directory (a read-only container without NUMBA_CACHE_DIR): compile
        # in memory, once per process, rather than fail.
        log.info("numba cannot cache %s (%s); compiling it in memory", func.__qualname__, err)
        return numba.njit(cache=False, nogil=True, boundscheck=False)(func)  # type: ignore[no-any-return]
