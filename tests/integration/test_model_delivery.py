"""Model delivery against a real server: tgi-dev serving the tiny Llama speaks vLLM's runtime
LoRA API, and the gateway delivers registry adapters into that one running process.

load → canary traffic reaches the adapter (greedy answers differ from the base's) → promote →
`serving`; then a second candidate: abort → `rolled_back`, unloaded, and stable unchanged.
"""

from __future__ import annotations

import asyncio
import shutil

import httpx
import pytest

from crucible.common import lifecycle
from crucible.common.model_view import list_models
from crucible.common.registry import ModelVersion
from crucible.gateway.delivery import RuntimeLoad
from crucible.gateway.fleet import Fleet, adapter_path_from_store
from crucible.gateway.launcher import TgiDevLauncher
from crucible.gateway.ledger import Ledger
from crucible.gateway.policy import GatewayPolicy
from crucible.gateway.rollout import RolloutController
from crucible.gateway.router import Router
from crucible.gateway.store import MemoryStore

pytestmark = pytest.mark.slow
PROMPT = "How can we argue less about chores?"


def _register(runtime, name: str, seq: int, adapter_dir) -> None:
    uri = runtime.artifacts.put_dir(adapter_dir, f"models/{name}/adapter")
    with runtime.registry.session() as s:
        mv = ModelVersion(name=name, seq=seq, base_model="tiny-base", adapter_uri=uri)
        s.add(mv)
        lifecycle.record_created(s, mv, reason="trained", actor="trainer")
    with runtime.registry.session() as s:
        lifecycle.transition(s, name, lifecycle.EVALUATED, reason="gates passed", actor="evaluator")


def test_deliver_promote_then_abort_on_a_running_tgi_dev(runtime, tiny_base_model, random_adapter, tmp_path):
    shutil.copytree(tiny_base_model, runtime.settings.home / "models" / "tiny-base")
    _register(runtime, "m1", 1, random_adapter(1))
    _register(runtime, "m2", 2, random_adapter(2))

    async def answer(router: Router, variant: str) -> str:
        for i in range(400):  # sticky hashing: find a user on the wanted variant
            route = router.route(f"user-{i}")
            if route.variant == variant:
                served = await router.generate(PROMPT, {"max_new_tokens": 8, "temperature": 0}, f"user-{i}")
                assert served.route.variant == variant
                return served.body["generated_text"]
        raise AssertionError(f"no user routed to {variant}")

    async def go():
        launcher = TgiDevLauncher(runtime)
        try:
            server = await launcher.serve_base("tiny-base", name="tiny-base")
            delivery = RuntimeLoad(server.url, adapter_path_from_store(runtime.artifacts, tmp_path), timeout=120)
            fleet = Fleet(server.url, "vllm", "tiny-base", delivery, runtime.artifacts)
            router = Router(GatewayPolicy(stages=[50.0, 100.0]), MemoryStore())
            await router.start()
            controller = RolloutController(router, fleet=fleet, ledger=Ledger(runtime.registry))
            await controller.serve_registry_stable()
            base_text = await answer(router, "stable")

            await controller.start_for_model("m1")
            async with httpx.AsyncClient() as client:
                served_models = {m["id"] for m in (await client.get(f"{server.url}/v1/models")).json()["data"]}
            canary_text = await answer(router, "canary")
            stable_text = await answer(router, "stable")
            await controller.admin_action("promote", "healthy")
            await controller.admin_action("promote", "healthy")
            after_promotion = await answer(router, "stable")

            await controller.start_for_model("m2")
            await controller.admin_action("abort", "test abort")
            async with httpx.AsyncClient() as client:
                after_abort_models = {m["id"] for m in (await client.get(f"{server.url}/v1/models")).json()["data"]}
            after_abort = await answer(router, "stable")
            await router.close()
            return base_text, served_models, canary_text, stable_text, after_promotion, after_abort_models, after_abort
        finally:
            launcher.stop_all()

    base_text, served, canary_text, stable_text, promoted_text, after_abort_models, after_abort = asyncio.run(go())
    assert "m1" in served  # loaded into the running server through the runtime API
    assert canary_text != base_text and stable_text == base_text  # canary traffic reaches the adapter
    assert promoted_text == canary_text  # after promotion the adapter serves everyone
    assert after_abort == promoted_text  # the aborted candidate never changed what stable serves
    assert "m2" not in after_abort_models  # unloaded after the abort
    statuses = {m["name"]: m["status"] for m in list_models(runtime.registry)}
    assert statuses == {"tiny-base": "retired", "m1": "serving", "m2": "rolled_back"}
