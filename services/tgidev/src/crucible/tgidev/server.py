"""Run tgi-dev: load the model and its adapters, serve the app with uvicorn (in this process or
in a thread)."""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServeOptions:
    """What `crucible tgi-dev` / `crucible serve tgi-dev` take besides the model."""

    adapter: Path | None = None
    lora_adapters: str = ""
    served_model_name: str | None = None
    max_loras: int = 4
    max_lora_rank: int = 16


def build_app(model: Path, adapter: Path | None = None, *, options: ServeOptions | None = None):
    """The app for `model` (+ `--adapter`, merged) with the start-up adapters loaded: an adapter
    that fails its checks stops the start with the reason, as vLLM's `--lora-modules` does."""
    import torch

    from crucible.tgidev.adapters import AdapterError, parse_lora_adapters
    from crucible.tgidev.app import create_app
    from crucible.tgidev.generation import ModelRunner

    options = options or ServeOptions(adapter=adapter)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1") or 1))
    runner = ModelRunner(
        model,
        options.adapter or adapter,
        served_model_name=options.served_model_name,
        max_loras=options.max_loras,
        max_lora_rank=options.max_lora_rank,
    )
    for name, path in parse_lora_adapters(options.lora_adapters):
        try:
            runner.adapters.load(name, path)
        except AdapterError as exc:
            raise ValueError(f"LoRA adapter {name!r}: {exc}") from exc
        log.info("tgi-dev loaded LoRA adapter %s from %s", name, path)
    return create_app(runner)


async def serve(
    model: Path,
    adapter: Path | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8081,
    stop: asyncio.Event | None = None,
    options: ServeOptions | None = None,
) -> None:
    """Serve until `stop` is set (or forever)."""
    import uvicorn

    app = build_app(model, adapter, options=options)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    log.info("tgi-dev serving %s%s on %s:%d", model, f" + {adapter}" if adapter else "", host, port)
    if stop is None:
        await task
        return
    await stop.wait()
    server.should_exit = True
    await task
