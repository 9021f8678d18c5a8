"""The event loop the gateway's processes run on."""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
EVENT_LOOP_ENV = "CRUCIBLE_GATEWAY_EVENT_LOOP"


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A uvloop loop when uvloop is installed (`CRUCIBLE_GATEWAY_EVENT_LOOP=asyncio` opts out),
    else asyncio's: the gateway is a socket relay, and uvloop's transports cost less CPU per
    request than the standard selector loop's (figures in docs/gateway.md). `crucible serve
    gateway` runs on it (ServiceSpec.loop_factory), and so do the bench's processes."""
    if os.environ.get(EVENT_LOOP_ENV, "uvloop") == "uvloop":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def run_event_loop(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)` on `new_event_loop()`."""
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(main)


def freeze_startup_heap() -> None:
    """Call once the gateway is up: the objects import and start-up created (FastAPI, grpc,
    pydantic models, ...) live for the whole process, so move them out of the cyclic
    collector's reach; otherwise every full collection under load walks all of them again."""
    gc.collect()
    gc.freeze()
