"""`crucible run`'s rollout step for real: tgi-dev serving a tiny Llama (stable) and the same
base + a LoRA adapter from the registry (candidate), the gateway over NATS KV, and the built-in
load generator sending real gRPC/HTTP requests and feedback until the rollout ends."""

import asyncio
import shutil

import pytest

from crucible.common import lifecycle
from crucible.common.config import load_policy
from crucible.common.plugins import installed_policy_models
from crucible.common.registry import ModelVersion
from crucible.common.runtime import Runtime

pytestmark = pytest.mark.slow


def test_embedded_rollout_runs_to_a_decision(settings, nats_url, tiny_base_model, tiny_adapter):
    from crucible.gateway.embedded_rollout import embedded_rollout
    from crucible.gateway.store import KVStore

    policy = load_policy(
        None,
        installed_policy_models(),
        overrides={
            "gateway.embedded.stage_duration_seconds": 2.0,
            "gateway.embedded.analysis_interval_seconds": 0.5,
            "gateway.embedded.min_requests_per_stage": 8,
            "gateway.embedded.min_feedback_per_stage": 3,
            "gateway.embedded.max_new_tokens": 6,
            "gateway.embedded.timeout_seconds": 50.0,
        },
    )
    runtime = Runtime.create(settings, policy)
    shutil.copytree(tiny_base_model, settings.home / "models" / "tiny-base")  # where "tiny-base" resolves
    adapter_uri = runtime.artifacts.put_dir(tiny_adapter, "models/crucible-v1-test-tiny-base/adapter")
    with runtime.registry.session() as s:
        s.add(ModelVersion(name="crucible-v1-test-tiny-base", seq=1, base_model="tiny-base", adapter_uri=adapter_uri))
    with runtime.registry.session() as s:  # only a model that passed evaluation may be rolled out
        lifecycle.transition(s, "crucible-v1-test-tiny-base", "evaluated", reason="test", actor="test")

    async def go():
        await runtime.connect(nats_url)
        try:
            result = await embedded_rollout(runtime, "crucible-v1-test-tiny-base")
            kv = await runtime.require_bus().key_value("crucible_gateway")
            stored, _ = await KVStore(kv).load()
            return result, stored
        finally:
            await runtime.close()

    result, stored = asyncio.run(go())
    actions = [d["action"] for d in result["decisions"]]
    assert actions[0] == "start"
    assert result["state"] in ("completed", "rolled_back", "aborted")
    assert actions[-1] in ("complete", "rollback", "abort")
    if result["state"] == "completed":
        assert actions.count("promote") == 3
    assert result["load"]["requests"] > 20 and result["load"]["client_errors"] == 0
    assert result["load"]["by_variant"].get("canary", 0) > 0
    assert stored.rollout_id == result["rollout_id"] and stored.state == result["state"]
