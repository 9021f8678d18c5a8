"""`crucible tgi-dev --model PATH [--adapter PATH] [--lora-adapters name=path,...] [--port N]`."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated

import typer


def tgi_dev(
    model: Annotated[Path, typer.Option("--model", help="A transformers causal LM folder (save_pretrained).")],
    adapter: Annotated[
        Path | None, typer.Option("--adapter", help="A PEFT adapter folder merged into the base at start.")
    ] = None,
    lora_adapters: Annotated[
        str | None,
        typer.Option(
            "--lora-adapters",
            envvar="LORA_ADAPTERS",
            help="LoRA adapters served by name next to the base, TGI's syntax: comma-separated "
            "`name=path` or `path` (named by itself). Picked per request by `adapter_id` (TGI) or "
            "`model` (OpenAI). More at runtime: POST /v1/load_lora_adapter.",
        ),
    ] = None,
    served_model_name: Annotated[
        str | None, typer.Option("--served-model-name", help="The base model's id in /v1/models and /info.")
    ] = None,
    max_loras: Annotated[
        int, typer.Option("--max-loras", min=1, help="Adapters resident at once; more are reloaded on use (LRU).")
    ] = 4,
    max_lora_rank: Annotated[
        int, typer.Option("--max-lora-rank", min=1, help="Largest LoRA rank accepted (vLLM's default: 16).")
    ] = 16,
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8081,
) -> None:
    """Serve a model over Text Generation Inference's HTTP protocol and vLLM's OpenAI-compatible
    one, with LoRA adapters chosen per request and loaded at runtime (CPU, batch size 1)."""
    from crucible.tgidev.adapters import parse_lora_adapters
    from crucible.tgidev.server import ServeOptions, serve

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if not model.exists():
        raise typer.BadParameter(f"{model} does not exist", param_hint="--model")
    if adapter is not None and not adapter.exists():
        raise typer.BadParameter(f"{adapter} does not exist", param_hint="--adapter")
    try:
        parse_lora_adapters(lora_adapters or "")
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--lora-adapters") from exc
    options = ServeOptions(
        adapter=adapter,
        lora_adapters=lora_adapters or "",
        served_model_name=served_model_name,
        max_loras=max_loras,
        max_lora_rank=max_lora_rank,
    )
    asyncio.run(serve(model, adapter, host=host, port=port, options=options))


def register_cli(app: typer.Typer) -> None:
    app.command("tgi-dev")(tgi_dev)


def main() -> None:
    typer.run(tgi_dev)
