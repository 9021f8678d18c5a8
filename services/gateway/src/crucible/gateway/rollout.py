"""Starting rollouts and driving them: the functions both `crucible serve gateway` (on
`model.evaluated`) and `crucible run` (the `rollout` hook) call, so there is one way to do it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from crucible.gateway import state as st
from crucible.gateway.grpc_server import CandidateResolver
from crucible.gateway.launcher import TINY_BASE_NAME, TgiDevLauncher, model_source
from crucible.gateway.loadgen import run_load
from crucible.gateway.policy import GatewayPolicy, GatewaySettings
from crucible.gateway.router import Gateway, Publisher
from crucible.gateway.server import start_gateway
from crucible.gateway.store import KVStore
from crucible.v1 import events_pb2

log = logging.getLogger(__name__)


def bus_publisher(bus: Any) -> Publisher:
    """Publish each transition as crucible.events.rollout.<state> (RolloutEvent)."""

    async def publish(name: str, state: st.RolloutState, reason: str, figures: dict[str, float]) -> None:
        at = Timestamp()
        at.FromDatetime(dt.datetime.now(dt.UTC))
        msg = events_pb2.RolloutEvent(
            rollout_id=state.rollout_id,
            candidate_model=state.candidate.model if state.candidate else "",
            stable_model=state.stable.model if state.stable else "",
            state=state.state,
            stage_index=state.stage_index,
            canary_weight=state.canary_weight,
            reason=reason,
            figures=figures,
            at=at,
        )
        # One event per transition even when replicas race: the id names the transition.
        await bus.publish_event(name, msg, msg_id=f"{state.rollout_id}:{len(state.decisions)}")

    return publish


async def start_rollout_for_model(
    gateway: Gateway, resolve: CandidateResolver, model_name: str, *, url: str = "", reason: str = ""
) -> st.RolloutState:
    spec = await resolve(model_name, url)
    return await gateway.start_rollout(spec, reason=reason or f"{model_name} passed evaluation")


async def on_model_evaluated(gateway: Gateway, resolve: CandidateResolver, data: bytes) -> st.RolloutState | None:
    msg = events_pb2.ModelEvaluated.FromString(data)
    if not msg.passed:
        log.info("model %s did not pass evaluation (%s): no rollout", msg.model_name, ", ".join(msg.failed_gates))
        return None
    current, _ = await gateway.store.load()
    if current.state in st.ACTIVE and current.candidate and current.candidate.model == msg.model_name:
        return current  # a redelivered event: this rollout is already running
    return await start_rollout_for_model(gateway, resolve, msg.model_name)


def chat_formatter(model_path: Any) -> Any:
    """The model's own chat template for one user turn (what an app calling it would send), or None."""
    try:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(model_path))
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
        }
    )


@contextlib.asynccontextmanager
async def _bus_for(runtime: Any) -> AsyncIterator[Any]:
    if runtime.bus is not None:
        yield runtime.bus
        return
    from crucible.common.embedded import connected_bus

    async with connected_bus(runtime) as bus:
        yield bus


async def retire_active_rollout(gateway: Gateway, reason: str) -> None:
    current, _ = await gateway.store.load()
    if current.state in st.ACTIVE:
        await gateway.admin_action("abort", reason)


async def embedded_rollout(runtime: Any, candidate_model: str) -> dict[str, Any]:
    """`crucible run`'s rollout step: tgi-dev backends for the base model (stable) and the
    candidate (base + adapter), a gateway, and the load generator, until the rollout ends."""
    settings = GatewaySettings()
    policy = embedded_policy(runtime.policy.section("gateway"))
    launcher = TgiDevLauncher(runtime)
    started = time.monotonic()
    running = None
    async with _bus_for(runtime) as bus:
        try:
            store = KVStore(await bus.key_value(settings.kv_bucket))
            source = model_source(runtime, candidate_model, launcher.scratch)
            with runtime.registry.session() as s:
                from crucible.common.registry import ModelVersion

                mv = s.get(ModelVersion, candidate_model)
                base_name = (mv.base_model if mv else "") or TINY_BASE_NAME
            # Both backends load their model at the same time; the candidate's is reused below.
            stable, _ = await asyncio.gather(
                launcher.serve_base(str(source.base_path), name=base_name), launcher.serve_model(candidate_model)
            )
            gateway = Gateway(policy, store, publish=bus_publisher(bus))
            await gateway.start()
            await retire_active_rollout(gateway, "superseded by a new embedded run")
            await gateway.configure_stable(stable, force=True)
            running = await start_gateway(
                gateway, resolve_candidate=launcher.serve_model, admin_token=settings.admin_token
            )
            rollout = await start_rollout_for_model(gateway, launcher.serve_model, candidate_model)
            e = runtime.policy.section("gateway").embedded
            deadline = time.monotonic() + e.timeout_seconds

            def done() -> bool:
                return gateway.state.state not in (st.PROGRESSING,) or time.monotonic() > deadline

            load = await run_load(
                running.http_url,
                running.grpc_address,
                format_prompt=chat_formatter(source.base_path),
                users=e.users,
                concurrency=e.concurrency,
                feedback_probability=e.feedback_probability,
                max_new_tokens=e.max_new_tokens,
                done=done,
            )
            await gateway.analyse()
            final = await gateway.status()
            if final["state"] in st.ACTIVE:
                why = "paused (inconclusive)" if final["state"] == st.PAUSED else "timed out"
                await retire_active_rollout(gateway, f"embedded run ended: rollout {why}")
                final = await gateway.status()
        finally:
            if running is not None:
                await running.stop()
            launcher.stop_all()
    return {
        "rollout_id": rollout.rollout_id,
        "candidate_model": candidate_model,
        "stable_model": base_name,
        "state": final["state"],
        "stages": final["stages"],
        "stage_index": final["stage_index"],
        "decisions": final["decisions"],
        "figures": final["figures"],
        "load": load.as_dict(),
        "seconds": round(time.monotonic() - started, 1),
    }
