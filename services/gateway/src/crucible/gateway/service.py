"""Model-gateway service shell.

- `serve(runtime)` (`crucible serve gateway`, the spec's lifespan): HTTP + gRPC front doors and
  the rollout loop, up while `on_model_evaluated` starts a rollout for each `model.evaluated` that passed.
- `hooks["rollout"](runtime, candidate_model)` (`crucible run`): the embedded rollout with tgi-dev
  backends and the built-in load generator, to its end.
Both start rollouts through `RolloutController.start_for_model`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from crucible.common import subjects
from crucible.common.services import EventHandler, ServiceSpec, deferred
from crucible.gateway import __version__

if TYPE_CHECKING:
    from crucible.common.runtime import Runtime
    from crucible.gateway.policy import GatewayPolicy, GatewaySettings
    from crucible.gateway.rollout import RolloutController

log = logging.getLogger(__name__)


@asynccontextmanager
async def serve(runtime: Runtime) -> AsyncIterator[RolloutController]:
    from crucible.gateway.fleet import fleet_from_settings
    from crucible.gateway.heap import freeze_startup_heap
    from crucible.gateway.launcher import TgiDevLauncher
    from crucible.gateway.ledger import Ledger
    from crucible.gateway.policy import GatewaySettings
    from crucible.gateway.rollout import RolloutController, bus_publisher
    from crucible.gateway.router import Router
    from crucible.gateway.server import start_gateway
    from crucible.gateway.state import ACTIVE
    from crucible.gateway.store import KVStore

    settings = GatewaySettings()
    policy: GatewayPolicy = runtime.policy.section("gateway")
    bus = runtime.require_bus()
    launcher = TgiDevLauncher(runtime)
    store = KVStore(await bus.key_value(settings.kv_bucket))
    running = None
    try:
        if settings.stable_url:
            url, base = settings.stable_url, settings.stable_model
        else:  # no fleet configured: a tgi-dev of the base model, which speaks vLLM's runtime LoRA API
            url, base = (await launcher.serve_base(settings.stable_model)).url, settings.stable_model
            settings = settings.model_copy(update={"backend_kind": "vllm"})
        fleet = fleet_from_settings(
            settings, policy, runtime.artifacts, url=url, base_model=base, scratch=launcher.scratch
        )
        router = Router(policy, store)
        clients = wire_feedback_loop(router, runtime, settings, bus)
        await router.start()
        controller = RolloutController(
            router,
            publish=bus_publisher(bus),
            fleet=fleet,
            ledger=Ledger(runtime.registry, settings.pool),
            candidate_url=settings.candidate_url or "",
        )
        if router.state.state in ACTIVE:
            log.info("resuming rollout %s of %s", router.state.rollout_id, router.state.candidate)
        else:  # configuration and the registry say what serves, not the stored document
            stable = await controller.serve_registry_stable()
            log.info("stable: %s on %s (pool %s, %s)", stable.model, url, settings.pool, fleet.delivery.method)
        running = await start_gateway(
            controller,
            admin_token=settings.admin_token,
            http_host=settings.http_host,
            http_port=settings.http_port,
            grpc_host=settings.grpc_host,
            grpc_port=settings.grpc_port,
            tls_cert=settings.tls_cert,
            tls_key=settings.tls_key,
            clients=clients,
            http_tls=settings.http_tls,
        )
        freeze_startup_heap()
        yield controller
    finally:
        if running is not None:
            await running.stop()
        launcher.stop_all()


def wire_feedback_loop(router: Any, runtime: Runtime, settings: GatewaySettings, bus: Any) -> Any:
    """Signed response ids with the shared secret, the feedback store, and (when policy opts in)
    the interaction publisher; returns the client credentials for the front ends."""
    import os

    from crucible.gateway.client_auth import ClientAuth
    from crucible.gateway.interactions import InteractionLog, bus_record_publisher
    from crucible.gateway.response_ids import ResponseIds

    policy: GatewayPolicy = router.policy
    if settings.response_secret:
        secret = settings.response_secret.encode()
    else:
        log.warning("CRUCIBLE_GATEWAY_RESPONSE_SECRET is unset: response ids verify only on this replica")
        secret = os.urandom(32)
    router.ids = ResponseIds(secret, policy.feedback.response_id_ttl_seconds)
    router.desk.registry = runtime.registry
    router.desk.subject_secret = runtime.subject_secret()
    if policy.interactions.enabled:
        from crucible.common.excluded_subjects import shared_excluded

        router.interactions = InteractionLog(
            policy.interactions, bus_record_publisher(bus), runtime.subject_secret(),
            excluded=shared_excluded(runtime.registry).excludes,
        )  # fmt: skip
        router.interactions.start()
        log.info("publishing interactions to RAW (sample rate %g)", policy.interactions.sample_rate)
    return ClientAuth(settings.client_tokens)


async def on_model_evaluated(controller: RolloutController, payload: bytes) -> None:
    await controller.on_model_evaluated(payload)


async def rollout_hook(runtime: Runtime, candidate_model: str) -> dict[str, Any]:
    from crucible.gateway.embedded_rollout import embedded_rollout

    return await embedded_rollout(runtime, candidate_model)


SPEC = ServiceSpec(
    name="gateway",
    version=__version__,
    description="gRPC + TGI/OpenAI front door; eval-gated canary rollout with automatic rollback",
    order=90,
    policy_model="crucible.gateway.policy:GatewayPolicy",
    produces="records.raw",  # interaction and feedback records (when policy opts in), as the synthesizer's
    lifespan=serve,
    # A new durable starts at new events: history is in the registry, not in a replay.
    events={
        subjects.MODEL_EVALUATED: EventHandler(subjects.GATEWAY_EVALUATED, on_model_evaluated, deliver_new_only=True)
    },
    publishes=(f"{subjects.ROLLOUT_PREFIX}.>",),
    register_cli=deferred("crucible.gateway.cli:register_cli"),
    benches={
        "gateway": deferred(
            "crucible.gateway.bench:bench_gateway",
            doc="Gateway overhead vs direct to a fake 20 ms / 0 ms backend (HTTP and gRPC, concurrency 1 and 32).",
        ),
        "feedback": deferred(
            "crucible.gateway.feedback_bench:bench_feedback",
            doc="Gateway throughput with interaction publishing on vs off (20 ms backend), feedback ingest rate.",
        ),
    },
    hooks={"rollout": rollout_hook},
)
