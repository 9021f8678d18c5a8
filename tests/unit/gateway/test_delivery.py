"""Delivering a candidate to the fleet, and what the registry says after each rollout's end.

The server here is a small stand-in for vLLM's runtime LoRA routes (load, unload, a one-token
completion) whose failures the test chooses; the real server path (tgi-dev) is exercised in
tests/integration/test_model_delivery.py. The registry, artifact store and rollout controller
are the real ones.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from crucible.common import lifecycle
from crucible.common.model_view import list_models, show_model
from crucible.common.registry import ModelVersion
from crucible.gateway import state as st
from crucible.gateway.delivery import DeliveryError, RuntimeLoad, check_adapter, same_base
from crucible.gateway.fleet import Fleet, adapter_path_from_store
from crucible.gateway.instruments import DELIVERIES
from crucible.gateway.ledger import Ledger
from crucible.gateway.policy import GatewayPolicy
from crucible.gateway.rollout import RolloutController
from crucible.gateway.router import Router
from crucible.gateway.server import start_http
from crucible.gateway.store import MemoryStore

BASE = "tiny-base"


@dataclass
class FakeRuntimeLora:
    """vLLM's runtime-LoRA routes with chosen failures: `refuse` (400) or `hang` on load."""

    refuse: str = ""
    hang: bool = False
    # A hung load answers only once the test lets go (at close), long after the client's timeout:
    # a fixed sleep would hold the server's graceful shutdown for all of it.
    released: asyncio.Event = field(default_factory=asyncio.Event)
    unsynced_loads: int = 0  # answer 404 (folder not there yet) to this many load calls first
    loaded: dict[str, str] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/load_lora_adapter")
        async def load(request: Request) -> Any:
            body = await request.json()
            self.calls.append(f"load {body['lora_name']}")
            if self.hang:
                await self.released.wait()
            if self.refuse:
                return JSONResponse(
                    {"object": "error", "message": self.refuse, "type": "BadRequestError", "code": 400}, 400
                )
            if self.unsynced_loads > 0:
                self.unsynced_loads -= 1
                missing = f"No adapter found for {body['lora_path']}"
                return JSONResponse({"object": "error", "message": missing, "type": "NotFoundError", "code": 404}, 404)
            self.loaded[body["lora_name"]] = body["lora_path"]
            return JSONResponse(f"Success: LoRA adapter '{body['lora_name']}' added successfully.")

        @app.post("/v1/unload_lora_adapter")
        async def unload(request: Request) -> Any:
            body = await request.json()
            self.calls.append(f"unload {body['lora_name']}")
            self.loaded.pop(body["lora_name"], None)
            return JSONResponse("ok")

        @app.post("/v1/completions")
        async def complete(request: Request) -> Any:
            body = await request.json()
            self.calls.append(f"complete {body['model']}")
            if body["model"] not in (BASE, *self.loaded):
                return JSONResponse({"object": "error", "message": "not found", "code": 404}, 404)
            return {"choices": [{"text": "ok", "finish_reason": "length"}], "usage": {"completion_tokens": 1}}

        return app


def _register(runtime: Any, name: str, seq: int, *, base: str = BASE, files: dict[str, bytes] | None = None) -> None:
    files = (
        files
        if files is not None
        else {"adapter_config.json": b'{"peft_type": "LORA", "r": 4}', "adapter_model.safetensors": b"weights"}
    )
    for fname, data in files.items():
        runtime.artifacts.write_bytes(f"models/{name}/adapter/{fname}", data)
    uri = runtime.artifacts.uri(f"models/{name}/adapter")
    with runtime.registry.session() as s:
        mv = ModelVersion(name=name, seq=seq, base_model=base, adapter_uri=uri, status="trained")
        s.add(mv)
        lifecycle.record_created(s, mv, reason="trained", actor="trainer")
    with runtime.registry.session() as s:
        lifecycle.transition(s, name, lifecycle.EVALUATED, reason="gates passed", actor="evaluator")


async def _rig(runtime: Any, server: FakeRuntimeLora, tmp_path: Any, timeout: float = 10.0):
    http, task, port = await start_http(server.app(), "127.0.0.1", 0)
    url = f"http://127.0.0.1:{port}"
    delivery = RuntimeLoad(url, adapter_path_from_store(runtime.artifacts, tmp_path), timeout=timeout)
    fleet = Fleet(url, "vllm", BASE, delivery, runtime.artifacts)
    router = Router(GatewayPolicy(stages=[50.0, 100.0]), MemoryStore())
    await router.start()
    events: list[tuple[str, str]] = []

    async def publish(name: str, state: st.RolloutState, reason: str, figures: dict[str, float]) -> None:
        events.append((name, reason))

    controller = RolloutController(router, publish=publish, fleet=fleet, ledger=Ledger(runtime.registry))
    await controller.serve_registry_stable()

    async def close() -> None:
        await router.close()
        server.released.set()
        http.should_exit = True
        await task

    return controller, events, close


def _statuses(runtime: Any) -> dict[str, str]:
    return {r["name"]: r["status"] for r in list_models(runtime.registry)}


def test_a_delivered_candidate_becomes_serving_and_retires_the_base(runtime, tmp_path):
    server = FakeRuntimeLora()

    async def go():
        controller, events, close = await _rig(runtime, server, tmp_path)
        try:
            started = await controller.start_for_model("m1")
            assert started.state == st.PROGRESSING and started.candidate.adapter_id == "m1"
            assert _statuses(runtime)["m1"] == "canary"
            await controller.admin_action("promote", "test")
            await controller.admin_action("promote", "test")
            return controller, events
        finally:
            await close()

    _register(runtime, "m1", 1)
    controller, events = asyncio.run(go())
    assert server.calls[:2] == ["load m1", "complete m1"]  # loaded, then checked to answer
    assert server.loaded["m1"].endswith("models/m1/adapter")
    assert controller.last_delivery is not None and controller.last_delivery.verified
    assert _statuses(runtime) == {BASE: "retired", "m1": "serving"}
    detail = show_model(runtime.registry, "m1")
    assert [h["to"] for h in detail["history"]] == ["trained", "evaluated", "canary", "serving"]
    assert detail["history"][-1]["actor"] == "gateway"
    assert [d["action"] for d in detail["rollouts"][0]["decisions"]] == ["start", "promote", "complete"]
    assert [e[0] for e in events] == ["rollout.started", "rollout.promoted", "rollout.completed"]


def test_abort_rolls_the_candidate_back_and_unloads_it_while_stable_keeps_serving(runtime, tmp_path):
    server = FakeRuntimeLora()

    async def go():
        controller, _, close = await _rig(runtime, server, tmp_path)
        try:
            await controller.start_for_model("m1")
            await controller.admin_action("abort", "operator said so")
            return controller.router.state
        finally:
            await close()

    _register(runtime, "m1", 1)
    state = asyncio.run(go())
    assert state.state == st.ABORTED and state.stable.model == BASE and state.canary_weight == 0
    assert _statuses(runtime) == {BASE: "serving", "m1": "rolled_back"}
    assert "unload m1" in server.calls
    assert "operator said so" in show_model(runtime.registry, "m1")["history"][-1]["reason"]


@pytest.mark.parametrize(
    ("case", "server", "files", "base", "reason"),
    [
        ("base", FakeRuntimeLora(), None, "another-base", "base_mismatch"),
        ("no weights", FakeRuntimeLora(), {"adapter_config.json": b'{"peft_type": "LORA"}'}, BASE, "missing"),
        (
            "bad config",
            FakeRuntimeLora(),
            {"adapter_config.json": b"{oops", "adapter_model.bin": b"x"},
            BASE,
            "corrupt",
        ),
        ("refused", FakeRuntimeLora(refuse="adapter rank 64 > max_lora_rank 16"), None, BASE, "load_refused"),
        ("timeout", FakeRuntimeLora(hang=True), None, BASE, "timeout"),
    ],
)
def test_a_bad_candidate_never_takes_traffic(runtime, tmp_path, case, server, files, base, reason):
    before = DELIVERIES.labels("runtime_api", "failed", reason)._value.get()

    async def go():
        controller, events, close = await _rig(runtime, server, tmp_path, timeout=1.0)
        try:
            state = await controller.start_for_model("bad")
            status = await controller.status()
            return controller.router, state, status, events
        finally:
            await close()

    _register(runtime, "bad", 1, base=base, files=files)
    router, state, status, events = asyncio.run(go())
    assert state.state == st.ABORTED and state.canary_weight == 0
    assert set(router.backends) == {"stable"} and router.backends["stable"].spec.model == BASE
    assert status["state"] == "aborted" and reason in status["decisions"][-1]["reason"]
    assert events == [("rollout.aborted", status["decisions"][-1]["reason"])]
    assert _statuses(runtime) == {BASE: "serving", "bad": "rolled_back"}
    assert reason in show_model(runtime.registry, "bad")["history"][-1]["reason"]
    assert DELIVERIES.labels("runtime_api", "failed", reason)._value.get() == before + 1
    if reason in ("base_mismatch", "missing", "corrupt"):
        assert not any(c.startswith("load") for c in server.calls)  # refused before the fleet is touched


def test_model_evaluated_starts_one_rollout_and_ignores_replays(runtime, tmp_path):
    from crucible.v1 import events_pb2

    server = FakeRuntimeLora()

    async def go():
        controller, events, close = await _rig(runtime, server, tmp_path)
        try:
            passed = events_pb2.ModelEvaluated(model_name="m2", passed=True).SerializeToString()
            old = events_pb2.ModelEvaluated(model_name="m1", passed=True).SerializeToString()
            first = await controller.on_model_evaluated(passed)
            again = await controller.on_model_evaluated(passed)  # redelivered
            await controller.admin_action("promote", "t")
            await controller.admin_action("promote", "t")
            replay = await controller.on_model_evaluated(passed)  # a fresh durable replays history
            older = await controller.on_model_evaluated(old)  # older than what serves now
            return first, again, replay, older, events
        finally:
            await close()

    _register(runtime, "m1", 1)
    _register(runtime, "m2", 2)
    first, again, replay, older, events = asyncio.run(go())
    assert first.rollout_id == again.rollout_id
    assert replay is None or replay.rollout_id == first.rollout_id
    assert older is None
    assert [e[0] for e in events].count("rollout.started") == 1
    assert _statuses(runtime) == {BASE: "retired", "m1": "evaluated", "m2": "serving"}


def test_a_restarted_gateway_serves_the_registry_serving_adapter(runtime, tmp_path):
    server = FakeRuntimeLora()

    async def go():
        controller, _, close = await _rig(runtime, server, tmp_path)
        try:
            await controller.start_for_model("m1")
            await controller.admin_action("promote", "t")
            await controller.admin_action("promote", "t")
        finally:
            await close()
        server.loaded.clear()  # the serving fleet restarted: runtime loads are gone
        again, _, close = await _rig(runtime, server, tmp_path)
        try:
            return again.router.state.stable, dict(server.loaded)
        finally:
            await close()

    _register(runtime, "m1", 1)
    stable, loaded = asyncio.run(go())
    assert stable.model == "m1" and stable.adapter_id == "m1"
    assert "m1" in loaded


def test_same_base_and_check_adapter(runtime):
    assert same_base("/home/x/.crucible/models/tiny-base", "tiny-base")
    assert not same_base("meta-llama/Llama-3.2-1B", "tiny-base")
    _register(runtime, "ok", 1)
    config = check_adapter(runtime.artifacts, Ledger(runtime.registry).adapter_ref("ok"), BASE)
    assert config == json.loads(b'{"peft_type": "LORA", "r": 4}')
    with runtime.registry.session() as s:
        s.add(ModelVersion(name="none", seq=2, base_model=BASE, adapter_uri=""))
    with pytest.raises(DeliveryError, match="no adapter"):
        check_adapter(runtime.artifacts, Ledger(runtime.registry).adapter_ref("none"), BASE)


def test_a_load_waits_for_the_sync_sidecar_to_fetch_the_adapter(runtime, tmp_path):
    server = FakeRuntimeLora(unsynced_loads=2)

    async def go():
        controller, _, close = await _rig(runtime, server, tmp_path)
        controller.fleet.delivery.sync_poll = 0.05
        try:
            return await controller.start_for_model("m1")
        finally:
            await close()

    _register(runtime, "m1", 1)
    state = asyncio.run(go())
    assert state.state == st.PROGRESSING
    assert server.calls.count("load m1") == 3
