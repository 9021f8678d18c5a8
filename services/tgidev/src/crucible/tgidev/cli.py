"""`crucible tgi-dev --model PATH [--adapter PATH] [--host H] [--port N]`."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated

import typer


def tgi_dev(
    model: Annotated[Path, typer.Option("--model", help="A transformers causal LM folder (save_pretrained).")],
    adapter: Annotated[Path | None, typer.Option("--adapter", help="A PEFT adapter folder to apply.")] = None,
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8081,
) -> None:
    """Serve a model over Text Generation Inference's HTTP protocol (CPU, batch size 1)."""
    from crucible.tgidev.server import serve

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if not model.exists():
        raise typer.BadParameter(f"{model} does not exist", param_hint="--model")
    if adapter is not None and not adapter.exists():
        raise typer.BadParameter(f"{adapter} does not exist", param_hint="--adapter")
    asyncio.run(serve(model, adapter, host=host, port=port))


def register_cli(app: typer.Typer) -> None:
    app.command("tgi-dev")(tgi_dev)


def main() -> None:
    typer.run(tgi_dev)
