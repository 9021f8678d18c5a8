"""Start-up heap handling for the gateway's long-lived processes."""

from __future__ import annotations

import gc


def freeze_startup_heap() -> None:
    """Call once the gateway is up: the objects import and start-up created (FastAPI, grpc,
    pydantic models, ...) live for the whole process, so move them out of the cyclic
    collector's reach; otherwise every full collection under load walks all of them again."""
    gc.collect()
    gc.freeze()
