"""Console service shell: `crucible serve console` serves the web console on CRUCIBLE_CONSOLE_PORT
(default 8090) until SIGTERM, with the runtime's registry, artifact store and bus (approvals publish)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from crucible.common.services import ServiceSpec, deferred
from crucible.console import __version__

if TYPE_CHECKING:
    from crucible.common.runtime import Runtime

log = logging.getLogger(__name__)


async def serve(runtime: Runtime) -> None:
    import uvicorn

    from crucible.console.app import Console, create_app
    from crucible.console.settings import ConsoleSettings

    settings = ConsoleSettings()
    if not settings.session_secret:
        log.warning("CRUCIBLE_CONSOLE_SESSION_SECRET is unset: sessions end when this process restarts")
    if not settings.users and not settings.trust_proxy_headers:
        log.warning("no CRUCIBLE_CONSOLE_USERS and no trusted proxy headers: nobody can log in")
    app = create_app(Console(runtime=runtime, settings=settings, bus=runtime.require_bus()))
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]  # `crucible serve` owns SIGTERM
    log.info("console listening on http://%s:%d", settings.host, settings.port)
    try:
        await server.serve()
    except asyncio.CancelledError:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await server.shutdown()
        raise


SPEC = ServiceSpec(
    name="console",
    version=__version__,
    description="web console: review queue, human rating, runs, datasets, models and rollouts",
    order=95,
    produces="records.scored",  # a review approval publishes the record, as `crucible review approve` does
    serve=serve,
    register_cli=deferred("crucible.console.cli:register_cli"),
    benches={
        "console": deferred(
            "crucible.console.bench:bench_console",
            doc="Review page render time with 10,000 queued items (HTML page vs the JSON API alone).",
        )
    },
)
