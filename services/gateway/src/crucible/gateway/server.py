"""Assemble a running gateway: the core, its HTTP and gRPC front ends, and the rollout loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crucible.gateway.client_auth import ClientAuth
from crucible.gateway.grpc_server import start_grpc_server
from crucible.gateway.http_app import create_app
from crucible.gateway.rollout import RolloutController
from crucible.gateway.router import Router

log = logging.getLogger(__name__)


@dataclass
class RunningGateway:
    router: Router
    rollout: RolloutController
    http_port: int
    grpc_port: int
    _http_server: Any = None
    _http_task: asyncio.Task | None = None
    _grpc_server: Any = None
    _loop_task: asyncio.Task | None = None
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def grpc_address(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    async def stop(self) -> None:
        self._stop.set()
        if self._loop_task is not None:
            await self._loop_task
        if self._grpc_server is not None:
            await self._grpc_server.stop(grace=1.0)
        if self._http_server is not None:
            self._http_server.should_exit = True
            if self._http_task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await self._http_task
        await self.router.close()


async def start_http(
    app: Any, host: str, port: int, tls_cert: Path | None = None, tls_key: Path | None = None
) -> tuple[Any, asyncio.Task, int]:
    """Serve `app`; with a certificate and key, over TLS only (the same pair as gRPC)."""
    import uvicorn

    tls = {"ssl_certfile": str(tls_cert), "ssl_keyfile": str(tls_key)} if tls_cert and tls_key else {}
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off", access_log=False, **tls)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # raises the start-up error (port in use, ...)
        await asyncio.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1]
    return server, task, bound


async def start_gateway(
    rollout: RolloutController,
    *,
    admin_token: str | None,
    http_host: str = "127.0.0.1",
    http_port: int = 0,
    grpc_host: str = "127.0.0.1",
    grpc_port: int = 0,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
    http_tls: bool = False,
    run_loop: bool = True,
    clients: ClientAuth | None = None,
) -> RunningGateway:
    """Start HTTP, gRPC and (unless `run_loop` is False) the rollout loop. `router.start()` first."""
    router = rollout.router
    http_server, http_task, bound_http = await start_http(
        create_app(router, rollout.status, admin_token=admin_token, clients=clients),
        http_host,
        http_port,
        *((tls_cert, tls_key) if http_tls else ()),
    )
    grpc_server, bound_grpc = await start_grpc_server(
        router,
        rollout,
        host=grpc_host,
        port=grpc_port,
        admin_token=admin_token,
        tls_cert=tls_cert,
        tls_key=tls_key,
        clients=clients,
    )
    running = RunningGateway(
        router=router,
        rollout=rollout,
        http_port=bound_http,
        grpc_port=bound_grpc,
        _http_server=http_server,
        _http_task=http_task,
        _grpc_server=grpc_server,
    )
    if run_loop:
        running._loop_task = asyncio.create_task(rollout.run(running._stop))
    log.info("gateway up: HTTP %s:%d, gRPC %s:%d", http_host, bound_http, grpc_host, bound_grpc)
    return running
