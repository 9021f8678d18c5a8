"""SHA-256 for the serving path (variant assignment, response-id signatures).

CPython's own SHA-256 when the interpreter has it built in, else hashlib's (OpenSSL). The digests
are the same; the difference is where a request's cache misses go. At concurrency 1 a request
finds cold caches, and OpenSSL's EVP path touches far more code: one hash cost ~14 µs cold
against ~7 µs for the built-in one, ~1 µs either way warm (measured with a 48 MiB cache flush
before each call, issue 17). Module name `_sha256` until Python 3.11, `_sha2` from 3.12.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable
from typing import Any


def _pick() -> Callable[..., Any]:
    for module in ("_sha256", "_sha2"):
        try:
            return importlib.import_module(module).sha256  # type: ignore[no-any-return]
        except (ImportError, AttributeError):
            continue
    return hashlib.sha256


sha256 = _pick()
