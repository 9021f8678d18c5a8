"""The gateway's HTTP `/generate` handler in-process, backend faked: CPU µs per request with warm
caches and with every cache flushed before the request (means), against the bare relay's handler
(`relay.py`) in the same run.

`python bench/gateway_cold.py [--requests N] [--json]` prints JSON. Why cold: at concurrency 1
(issue 17's hardest row) a request arrives every ~20 ms with other processes running in between,
so its code and data come from memory, not cache; in-process, warm, the gateway's code costs ~22
µs a request, cold ~8x that. Rows: `relay` (relay.py's Starlette route; the backend call faked),
`gateway_accounting_inline` (the served-request accounting applied at once, as before
`write_behind.py`) and `gateway` (as served: accounting write-behind, in batches). The flush
writes every cache line of a 48 MiB buffer (larger than this machine's L3). CPU is
the thread's (`time.thread_time_ns`), so load from other processes moves it little, though a
shared L3 does.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import time
from contextlib import asynccontextmanager
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import orjson

from crucible.gateway import backends, relay
from crucible.gateway.http_app import create_app
from crucible.gateway.policy import GatewayPolicy
from crucible.gateway.rollout import RolloutController
from crucible.gateway.router import Router
from crucible.gateway.state import BackendSpec
from crucible.gateway.store import MemoryStore

ANSWER = {
    "generated_text": " Try naming the feeling before the complaint.",
    "details": {"finish_reason": "length", "generated_tokens": 8, "seed": None, "prefill": [], "tokens": []},
}
ANSWER_BYTES = orjson.dumps(ANSWER)
REQUEST = orjson.dumps({"inputs": "How do we argue less?", "parameters": {"max_new_tokens": 8}})
_FLUSH = bytearray(48 << 20)


def flush_caches() -> None:
    _FLUSH[::64] = b"\x01" * (len(_FLUSH) // 64)


async def _fake_post_json(client: Any, model: str, url: str, body: dict[str, Any]) -> Any:
    return orjson.loads(ANSWER_BYTES)


class _FakeResponse:
    status = 200

    async def read(self) -> bytes:
        return ANSWER_BYTES


class _FakeSession:
    """What relay.py's route uses of aiohttp.ClientSession: `post` as an async context manager."""

    def __init__(self, *_: Any, **__: Any) -> None:
        pass

    @asynccontextmanager
    async def post(self, url: str, data: bytes) -> Any:
        yield _FakeResponse()


def _scope(i: int) -> dict[str, Any]:
    headers = [
        (b"host", b"127.0.0.1"),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(REQUEST)).encode()),
        (b"x-crucible-user", f"u{i % 1000}".encode()),
    ]
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": "/generate", "raw_path": b"/generate", "query_string": b"", "root_path": "", "headers": headers,
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
    }  # fmt: skip


async def _one(app: Any, i: int) -> None:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": REQUEST, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(_scope(i), receive, send)
    if sent[0]["status"] != 200:
        raise RuntimeError(f"the handler answered {sent}")


async def _gateway_app(inline: bool) -> tuple[Any, Router]:
    policy = GatewayPolicy(stages=[50.0, 100.0], stage_duration_seconds=86_400.0, analysis_interval_seconds=5.0)
    router = Router(policy, MemoryStore())
    await router.start()
    controller = RolloutController(router)
    await controller.configure_stable(BackendSpec(model="base", url="http://127.0.0.1:9"))
    await controller.start_rollout(BackendSpec(model="candidate", url="http://127.0.0.1:9"))
    if inline:
        router._served.delay = 0.0  # applied at once, inside the request, as before write-behind

    async def status() -> dict[str, Any]:
        return {}

    return create_app(router, status, admin_token=None), router


async def _measure(apps: dict[str, Any], requests: int, cold: bool) -> dict[str, float]:
    """Mean CPU µs per request for each app, the apps taking turns request by request (so a load
    swing on a shared machine hits all alike). The loop runs once after each request, so the
    write-behind timer fires when due (every ~25 requests here, a flush taking ~3 ms) and its
    batch is counted: a mean, not a median, because that cost lands on one request of a batch."""
    for app in apps.values():
        for i in range(50):
            await _one(app, i)
            await asyncio.sleep(0)
    gc.collect()
    total = dict.fromkeys(apps, 0)
    for i in range(requests):
        for name, app in apps.items():
            if cold:
                flush_caches()
            t0 = time.thread_time_ns()
            await _one(app, i)
            await asyncio.sleep(0)
            total[name] += time.thread_time_ns() - t0
    return {name: ns / requests / 1000 for name, ns in total.items()}


async def run(requests: int) -> dict[str, Any]:
    backends.post_json = _fake_post_json  # type: ignore[assignment]
    real_session = relay.aiohttp.ClientSession
    relay.aiohttp.ClientSession = _FakeSession  # type: ignore[misc]
    try:
        relay_app, _ = relay.build("http://127.0.0.1:9")
    finally:
        relay.aiohttp.ClientSession = real_session  # type: ignore[misc]
    apps = {"relay": relay_app}
    routers = []
    for name, inline in (("gateway_accounting_inline", True), ("gateway", False)):
        apps[name], router = await _gateway_app(inline)
        routers.append(router)
    rows: dict[str, dict[str, float]] = {name: {} for name in apps}
    for cold in (False, True):
        for name, us in (await _measure(apps, requests, cold)).items():
            rows[name]["cold_us" if cold else "warm_us"] = round(us, 1)
    for router in routers:
        router.settle()
        await router.close()
    for name in ("gateway_accounting_inline", "gateway"):
        for key in ("warm_us", "cold_us"):
            rows[name][f"{key[:-3]}_vs_relay"] = round(rows[name][key] / rows["relay"][key], 2)
    return {
        "rows": rows,
        "cold_saved_by_write_behind_us": round(
            rows["gateway_accounting_inline"]["cold_us"] - rows["gateway"]["cold_us"], 1
        ),
        "requests_per_row": requests,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000, help="requests per row and cache state (default 1000)")
    parser.add_argument("--json", action="store_true", help="print JSON (the only output format; kept for symmetry)")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.requests)), indent=2))


if __name__ == "__main__":
    main()
