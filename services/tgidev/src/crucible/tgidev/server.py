"""Run tgi-dev: load the model, serve the app with uvicorn (in this process or in a thread)."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)


def build_app(model: Path, adapter: Path | None = None, *, merge_adapter: bool = True):
    import torch

    from crucible.tgidev.app import create_app
    from crucible.tgidev.generation import ModelRunner

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1") or 1))
    runner = ModelRunner(model, adapter, merge_adapter=merge_adapter)
    return create_app(runner, model_id=str(adapter or model))


async def serve(
    model: Path,
    adapter: Path | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8081,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve until `stop` is set (or forever)."""
    import uvicorn

    app = build_app(model, adapter)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    log.info("tgi-dev serving %s%s on %s:%d", model, f" + {adapter}" if adapter else "", host, port)
    if stop is None:
        await task
        return
    await stop.wait()
    server.should_exit = True
    await task
