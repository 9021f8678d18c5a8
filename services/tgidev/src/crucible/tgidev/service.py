"""tgi-dev service shell. `crucible serve tgi-dev` reads the model from the environment:
CRUCIBLE_TGIDEV_MODEL (required), CRUCIBLE_TGIDEV_ADAPTER, CRUCIBLE_TGIDEV_HOST, CRUCIBLE_TGIDEV_PORT,
LORA_ADAPTERS (TGI's), CRUCIBLE_TGIDEV_SERVED_MODEL_NAME, CRUCIBLE_TGIDEV_MAX_LORAS,
CRUCIBLE_TGIDEV_MAX_LORA_RANK. `crucible tgi-dev --model PATH [...]` takes the same as flags."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from crucible.common.services import ServiceSpec, deferred
from crucible.tgidev import __version__

if TYPE_CHECKING:
    from crucible.common.runtime import Runtime


async def serve(runtime: Runtime) -> None:
    from crucible.tgidev.server import ServeOptions
    from crucible.tgidev.server import serve as serve_model

    model = os.environ.get("CRUCIBLE_TGIDEV_MODEL")
    if not model:
        raise RuntimeError("set CRUCIBLE_TGIDEV_MODEL to a model folder (or run `crucible tgi-dev --model PATH`)")
    adapter = os.environ.get("CRUCIBLE_TGIDEV_ADAPTER")
    options = ServeOptions(
        adapter=Path(adapter) if adapter else None,
        lora_adapters=os.environ.get("LORA_ADAPTERS", ""),
        served_model_name=os.environ.get("CRUCIBLE_TGIDEV_SERVED_MODEL_NAME") or None,
        max_loras=int(os.environ.get("CRUCIBLE_TGIDEV_MAX_LORAS", "4")),
        max_lora_rank=int(os.environ.get("CRUCIBLE_TGIDEV_MAX_LORA_RANK", "16")),
    )
    await serve_model(
        Path(model),
        host=os.environ.get("CRUCIBLE_TGIDEV_HOST", "127.0.0.1"),
        port=int(os.environ.get("CRUCIBLE_TGIDEV_PORT", "8081")),
        options=options,
    )


SPEC = ServiceSpec(
    name="tgi-dev",
    version=__version__,
    description="Serves a transformers base + LoRA adapters over TGI's and vLLM's HTTP protocols",
    order=95,
    serve=serve,
    register_cli=deferred("crucible.tgidev.cli:register_cli"),
)
