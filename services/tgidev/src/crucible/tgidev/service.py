"""tgi-dev service shell. `crucible serve tgi-dev` reads the model from the environment:
CRUCIBLE_TGIDEV_MODEL (required), CRUCIBLE_TGIDEV_ADAPTER, CRUCIBLE_TGIDEV_HOST, CRUCIBLE_TGIDEV_PORT.
`crucible tgi-dev --model PATH [--adapter PATH]` takes the same as flags."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from crucible.common.services import ServiceSpec, deferred

if TYPE_CHECKING:
    from crucible.common.runtime import Runtime


async def serve(runtime: Runtime) -> None:
    from crucible.tgidev.server import serve as serve_model

    model = os.environ.get("CRUCIBLE_TGIDEV_MODEL")
    if not model:
        raise RuntimeError("set CRUCIBLE_TGIDEV_MODEL to a model folder (or run `crucible tgi-dev --model PATH`)")
    adapter = os.environ.get("CRUCIBLE_TGIDEV_ADAPTER")
    await serve_model(
        Path(model),
        Path(adapter) if adapter else None,
        host=os.environ.get("CRUCIBLE_TGIDEV_HOST", "127.0.0.1"),
        port=int(os.environ.get("CRUCIBLE_TGIDEV_PORT", "8081")),
    )


SPEC = ServiceSpec(
    name="tgi-dev",
    version="0.1.0",
    description="Serves a transformers model (+ PEFT adapter) over TGI's HTTP protocol",
    order=95,
    serve=serve,
    register_cli=deferred("crucible.tgidev.cli:register_cli"),
)
