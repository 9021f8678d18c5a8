"""The console's rollout page against a real gateway (gRPC admin API, fake TGI backends): an operator sees
the live stage and per-variant figures, promotes and aborts through the confirmation step with the
gateway's admin token; each action lands in the gateway's decision log and the console's audit log."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from crucible.common.registry import AuditEntry
from crucible.console.access import token_digest
from crucible.console.app import Console, create_app
from crucible.console.settings import ConsoleSettings
from crucible.gateway.fake_backend import FakeBackend, FakeBehaviour
from crucible.gateway.policy import GatewayPolicy
from crucible.gateway.rollout import RolloutController
from crucible.gateway.router import Router
from crucible.gateway.server import start_gateway
from crucible.gateway.state import BackendSpec
from crucible.gateway.store import MemoryStore

ADMIN = "gateway-admin-token"


@pytest.fixture
def gateway_address() -> Iterator[str]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def run(coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(30)

    async def up() -> tuple[Any, ...]:
        stable = await FakeBackend(FakeBehaviour(delay_seconds=0.0)).start()
        canary = await FakeBackend(FakeBehaviour(delay_seconds=0.0)).start()
        router = Router(GatewayPolicy(), MemoryStore(), refresh_seconds=0.05)
        await router.start()

        async def resolve(model: str, url: str) -> BackendSpec:
            return BackendSpec(model=model, url=url or canary.url)

        rollout = RolloutController(router, resolve=resolve)
        await rollout.configure_stable(BackendSpec(model="base", url=stable.url))
        running = await start_gateway(rollout, admin_token=ADMIN, run_loop=False)
        return stable, canary, running

    stable, canary, running = run(up())
    try:
        yield running.grpc_address
    finally:
        run(running.stop())
        run(stable.stop())
        run(canary.stop())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def test_an_operator_promotes_and_aborts_through_the_gateway(runtime, gateway_address: str) -> None:
    import grpc

    from crucible.v1 import gateway_pb2, gateway_pb2_grpc

    with grpc.insecure_channel(gateway_address) as channel:
        gateway_pb2_grpc.ModelGatewayStub(channel).StartRollout(
            gateway_pb2.StartRolloutRequest(candidate_model="cand"), metadata=(("authorization", f"Bearer {ADMIN}"),)
        )
    settings = ConsoleSettings(
        users={"ola": {"role": "operator", "token_sha256": token_digest("t")}},
        gateway_address=gateway_address,
        gateway_admin_token=ADMIN,
    )
    client = TestClient(create_app(Console(runtime=runtime, settings=settings)))
    client.post("/login", data={"user": "ola", "token": "t", "csrf": csrf_of(client.get("/login").text)})
    page = client.get("/rollouts").text
    assert "progressing" in page and "stage 1 · canary weight <b>10%" in page
    assert "cand" in page and 'id="promote"' in page
    csrf = csrf_of(client.get("/rollouts/confirm/promote").text)

    unconfirmed = client.post("/rollouts/promote", data={"csrf": csrf, "reason": "skip the step"})
    assert unconfirmed.status_code == 400 and "confirmation" in unconfirmed.text
    done = client.post("/rollouts/promote", data={"csrf": csrf, "confirm": "yes", "reason": "figures look fine"})
    assert done.status_code == 200 and "rollout is now progressing" in done.text
    assert "stage 2 · canary weight <b>25%" in done.text
    done = client.post("/rollouts/abort", data={"csrf": csrf, "confirm": "yes", "reason": "enough"})
    assert "rollout is now aborted" in done.text
    assert "figures look fine" in done.text and "enough" in done.text  # the gateway's decision log
    with runtime.registry.session() as s:
        actions = [(a.action, a.outcome) for a in s.query(AuditEntry).filter_by(actor="ola").order_by(AuditEntry.id)]
    assert actions == [("login", "ok"), ("rollout.promote", "ok"), ("rollout.abort", "ok")]
