"""Model-gateway service shell.

- `serve(runtime)` (`crucible serve gateway`): HTTP + gRPC front doors, the rollout loop, and a
  rollout for each `model.evaluated` that passed.
- `hooks["rollout"](runtime, candidate_model)` (`crucible run`): the embedded rollout with tgi-dev
  backends and the built-in load generator, to its end.
Both start rollouts through `rollout.start_rollout_for_model`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from crucible.common import subjects
from crucible.common.services import ServiceSpec, deferred
from crucible.gateway.policy import GatewayPolicy, GatewaySettings

if TYPE_CHECKING:
    from crucible.common.runtime import Runtime

log = logging.getLogger(__name__)
DURABLE = "crucible-gateway"


async def serve(runtime: Runtime) -> None:
    from crucible.gateway.heap import freeze_startup_heap
    from crucible.gateway.launcher import TgiDevLauncher
    from crucible.gateway.rollout import bus_publisher, on_model_evaluated
    from crucible.gateway.router import Gateway
    from crucible.gateway.server import start_gateway
    from crucible.gateway.state import BackendSpec
    from crucible.gateway.store import KVStore

    settings = GatewaySettings()
    policy: GatewayPolicy = runtime.policy.section("gateway")
    bus = runtime.require_bus()
    launcher = TgiDevLauncher(runtime)
    store = KVStore(await bus.key_value(settings.kv_bucket))

    async def resolve(model_name: str, url: str) -> BackendSpec:
        url = url or settings.candidate_url or ""
        if url:
            return BackendSpec(model=model_name, url=url, kind=settings.backend_kind)
        if settings.stable_url and settings.backend_kind == "tgi":
            # TGI multi-LoRA: the candidate is an adapter on the stable deployment (LORA_ADAPTERS).
            return BackendSpec(model=model_name, url=settings.stable_url, kind="tgi", adapter_id=model_name)
        return await launcher.serve_model(model_name)

    running = None
    try:
        if settings.stable_url:
            stable = BackendSpec(model=settings.stable_model, url=settings.stable_url, kind=settings.backend_kind)
        else:
            stable = await launcher.serve_base(settings.stable_model)
        gateway = Gateway(policy, store, publish=bus_publisher(bus))
        # tgi-dev backends started here get new ports each time: the stored stable URL is stale.
        await gateway.start(stable, force_stable=settings.stable_url is None)
        running = await start_gateway(
            gateway,
            resolve_candidate=resolve,
            admin_token=settings.admin_token,
            http_host=settings.http_host,
            http_port=settings.http_port,
            grpc_host=settings.grpc_host,
            grpc_port=settings.grpc_port,
            tls_cert=settings.tls_cert,
            tls_key=settings.tls_key,
        )
        freeze_startup_heap()

        async def handle(data: bytes, _msg: Any) -> None:
            await on_model_evaluated(gateway, resolve, data)

        stop = asyncio.Event()
        await bus.consume_events(subjects.MODEL_EVALUATED, DURABLE, handle, stop=stop)
    finally:
        if running is not None:
            await running.stop()
        launcher.stop_all()


async def rollout_hook(runtime: Runtime, candidate_model: str) -> dict[str, Any]:
    from crucible.gateway.rollout import embedded_rollout

    return await embedded_rollout(runtime, candidate_model)


SPEC = ServiceSpec(
    name="gateway",
    version="0.1.0",
    description="gRPC + TGI/OpenAI front door; eval-gated canary rollout with automatic rollback",
    order=90,
    policy_model=GatewayPolicy,
    serve=serve,
    register_cli=deferred("crucible.gateway.cli:register_cli"),
    benches={
        "gateway": deferred(
            "crucible.gateway.bench:bench_gateway",
            doc="Gateway overhead vs direct to a fake 20 ms / 0 ms backend (HTTP and gRPC, concurrency 1 and 32).",
        )
    },
    hooks={"rollout": rollout_hook},
)
