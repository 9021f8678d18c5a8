"""`crucible run`'s rollout step: the production delivery path on one machine.

One tgi-dev process serves the base model, as a vLLM pool would; the gateway makes the
registry's `serving` model stable (loading its adapter through the runtime API), delivers the
candidate into the same running server through `POST /v1/load_lora_adapter`, and drives the
canary with the built-in load generator (real requests and ratings) until the rollout ends.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crucible.common.hub import model_source
from crucible.common.model_view import list_models
from crucible.common.registry import ModelVersion
from crucible.gateway import state as st
from crucible.gateway.delivery import RuntimeLoad
from crucible.gateway.fleet import Fleet, adapter_path_from_store
from crucible.gateway.launcher import TINY_BASE_NAME, TgiDevLauncher, resolve_base_path
from crucible.gateway.ledger import Ledger
from crucible.gateway.loadgen import run_load
from crucible.gateway.policy import GatewayPolicy, GatewaySettings
from crucible.gateway.rollout import RolloutController, bus_publisher
from crucible.gateway.router import Router
from crucible.gateway.server import start_gateway
from crucible.gateway.store import KVStore

if TYPE_CHECKING:
    from crucible.common.bus import Bus
    from crucible.common.runtime import Runtime

log = logging.getLogger(__name__)


def chat_formatter(model_path: Path) -> Callable[[str], str] | None:
    """The model's own chat template for one user turn (what an app calling it would send), or None."""
    try:
        from transformers import AutoTokenizer

        source = model_source(model_path)
        tokenizer = AutoTokenizer.from_pretrained(source.path, revision=source.revision)
    except Exception:  # no tokenizer here: send the question as is
        return None
    if not getattr(tokenizer, "chat_template", None):
        return None

    def fmt(question: str) -> str:
        out = tokenizer.apply_chat_template(
            [{"role": "user", "content": question}], tokenize=False, add_generation_prompt=True
        )
        return str(out)

    return fmt


def count_feedback(registry: Any) -> int:
    from sqlalchemy import func, select

    from crucible.common.feedback import FeedbackRow

    with registry.session() as s:
        return int(s.scalar(select(func.count()).select_from(FeedbackRow)) or 0)


def embedded_policy(policy: GatewayPolicy) -> GatewayPolicy:
    """The policy with the embedded run's short stages and small sample minimums."""
    e = policy.embedded
    return policy.model_copy(
        update={
            "stage_duration_seconds": e.stage_duration_seconds,
            "analysis_interval_seconds": e.analysis_interval_seconds,
            "min_requests_per_stage": e.min_requests_per_stage,
            "min_feedback_per_stage": e.min_feedback_per_stage,
            "default_max_new_tokens": e.max_new_tokens,
            "latency_slack_seconds": e.latency_slack_seconds,
            "interactions": policy.interactions.model_copy(
                update={"enabled": policy.interactions.enabled or e.publish_interactions}
            ),
            # One load generator speaks for all the simulated users, from one address.
            "feedback": policy.feedback.model_copy(
                update={"rate_per_second": max(policy.feedback.rate_per_second, 10_000.0), "burst": 10_000}
            ),
        }
    )


@contextlib.asynccontextmanager
async def _bus_for(runtime: Runtime) -> AsyncIterator[Bus]:
    if runtime.bus is not None:
        yield runtime.bus
        return
    from crucible.common.embedded import connected_bus

    async with connected_bus(runtime) as bus:
        yield bus


async def retire_active_rollout(controller: RolloutController, reason: str) -> None:
    current, _ = await controller.store.load()
    if current.state in st.ACTIVE:
        await controller.admin_action("abort", reason)


async def embedded_rollout(runtime: Runtime, candidate_model: str) -> dict[str, Any]:
    """Serve the base on tgi-dev, deliver the candidate into it, and run its rollout to the end."""
    settings = GatewaySettings()
    policy = embedded_policy(runtime.policy.section("gateway"))
    e = policy.embedded
    launcher = TgiDevLauncher(runtime)
    started = time.monotonic()
    running = None
    router: Router | None = None
    with runtime.registry.session() as s:
        mv = s.get(ModelVersion, candidate_model)
        if mv is None:
            raise LookupError(f"model {candidate_model!r} is not in the registry")
        base_name, pool = (mv.base_model or TINY_BASE_NAME), mv.pool
    async with _bus_for(runtime) as bus:
        try:
            base_path = resolve_base_path(Path(runtime.settings.home), base_name)
            server = await launcher.serve_base(str(base_path), name=base_name)
            delivery = RuntimeLoad(
                server.url, adapter_path_from_store(runtime.artifacts, launcher.scratch), timeout=e.timeout_seconds
            )
            fleet = Fleet(server.url, "vllm", base_name, delivery, runtime.artifacts)
            router = Router(policy, KVStore(await bus.key_value(settings.kv_bucket)))
            await router.start()
            from crucible.gateway.service import wire_feedback_loop

            clients = wire_feedback_loop(router, runtime, settings, bus)
            controller = RolloutController(
                router, publish=bus_publisher(bus), fleet=fleet, ledger=Ledger(runtime.registry, pool)
            )
            await retire_active_rollout(controller, "superseded by a new embedded run")
            stable = await controller.serve_registry_stable()
            running = await start_gateway(controller, admin_token=settings.admin_token, clients=clients)
            rollout = await controller.start_for_model(candidate_model)
            load = None
            if rollout.state in st.ACTIVE:
                deadline = time.monotonic() + e.timeout_seconds

                def done() -> bool:
                    return router.state.state != st.PROGRESSING or time.monotonic() > deadline

                load = await run_load(
                    running.http_url,
                    running.grpc_address,
                    format_prompt=chat_formatter(base_path),
                    users=e.users,
                    concurrency=e.concurrency,
                    feedback_probability=e.feedback_probability,
                    max_new_tokens=e.max_new_tokens,
                    done=done,
                )
                await controller.analyse()
                if router.state.state in st.ACTIVE:
                    why = "paused (inconclusive)" if router.state.state == st.PAUSED else "timed out"
                    await retire_active_rollout(controller, f"embedded run ended: rollout {why}")
            final = await controller.status()
        finally:
            if running is not None:
                await running.stop()
            if router is not None and router.interactions is not None:  # buffered records go out first
                await router.interactions.close()
            launcher.stop_all()
    delivered = controller.last_delivery
    return {
        "rollout_id": rollout.rollout_id,
        "candidate_model": candidate_model,
        "stable_model": stable.model,
        "state": final["state"],
        "stages": final["stages"],
        "stage_index": final["stage_index"],
        "decisions": final["decisions"],
        "figures": final["figures"],
        "delivery": {
            "server": server.url,
            **(delivered.as_dict() if delivered is not None else {"verified": False}),
        },
        "load": load.as_dict() if load is not None else {},
        # Records published to crucible.records.raw (exchanges and feedback updates): `crucible run`
        # feeds them through the stages; the feedback the gateway stored, in the registry.
        "interactions_published": router.interactions.published if router.interactions is not None else 0,
        "feedback_stored": count_feedback(runtime.registry),
        # Handed to the preference round by `crucible run` (not kept in the summary): the rated
        # exchanges of the synthetic traffic, with the model that answered each.
        "rated_exchanges": [
            {**x, "model": candidate_model if x["variant"] == "canary" else stable.model}
            for x in (load.rated if load is not None else [])
        ],
        "models": [{"name": m["name"], "status": m["status"]} for m in list_models(runtime.registry, pool=pool)],
        "seconds": round(time.monotonic() - started, 1),
    }
