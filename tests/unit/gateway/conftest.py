"""Gateway test rigs: fake TGI backends (fault injection) behind a real gateway (HTTP + gRPC),
served from an event loop in a background thread so synchronous clients (huggingface_hub,
openai, grpc) can call it from the test thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from crucible.gateway.fake_backend import FakeBackend, FakeBehaviour
from crucible.gateway.policy import GatewayPolicy
from crucible.gateway.rollout import RolloutController
from crucible.gateway.router import Router
from crucible.gateway.server import RunningGateway, start_gateway
from crucible.gateway.state import BackendSpec
from crucible.gateway.store import MemoryStore, StateStore

ADMIN_TOKEN = "test-admin-token"


class LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Any, timeout: float = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def loop_thread() -> Iterator[LoopThread]:
    lt = LoopThread()
    yield lt
    lt.close()


@dataclass
class Stack:
    stable: FakeBackend
    canary: FakeBackend
    router: Router
    rollout: RolloutController
    running: RunningGateway
    events: list[tuple[str, Any, str]] = field(default_factory=list)
    now: list[float] = field(default_factory=lambda: [1_000_000.0])

    @property
    def url(self) -> str:
        return self.running.http_url

    def advance(self, seconds: float) -> None:
        self.now[0] += seconds

    async def stop(self) -> None:
        await self.running.stop()
        await self.stable.stop()
        await self.canary.stop()


async def make_stack(
    *,
    policy: GatewayPolicy | None = None,
    stable: FakeBehaviour | None = None,
    canary: FakeBehaviour | None = None,
    store: StateStore | None = None,
    admin_token: str | None = ADMIN_TOKEN,
    run_loop: bool = False,
    clients: Any = None,
) -> Stack:
    stable_be = await FakeBackend(stable or FakeBehaviour(delay_seconds=0.0)).start()
    canary_be = await FakeBackend(canary or FakeBehaviour(delay_seconds=0.0)).start()
    events: list[tuple[str, Any, str]] = []
    now = [1_000_000.0]

    async def publish(name: str, state: Any, reason: str, figures: dict[str, float]) -> None:
        events.append((name, state, reason))

    router = Router(policy or GatewayPolicy(), store or MemoryStore(), refresh_seconds=0.05)
    await router.start()

    async def resolve(model: str, url: str) -> BackendSpec:
        return BackendSpec(model=model, url=url or canary_be.url)

    rollout = RolloutController(router, publish=publish, clock=lambda: now[0], resolve=resolve)
    await rollout.configure_stable(BackendSpec(model="base", url=stable_be.url))
    running = await start_gateway(rollout, admin_token=admin_token, run_loop=run_loop, clients=clients)
    return Stack(stable_be, canary_be, router, rollout, running, events, now)


@pytest.fixture
def new_stack() -> Any:
    """`await new_stack(policy=..., canary=FakeBehaviour(...), store=...)` inside a test's own loop."""
    return make_stack


@pytest.fixture
def stack(loop_thread: LoopThread) -> Iterator[Stack]:
    s = loop_thread.run(make_stack())
    yield s
    loop_thread.run(s.stop())
