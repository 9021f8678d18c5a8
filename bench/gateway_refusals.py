"""What a refused request costs the gateway (issue 25 item 12), against a valid one in the same run.

One client, one request at a time, through real HTTP: for each kind of bad request (parameters as a
string or list, max_new_tokens too large, a prompt or a body over the limits, invalid JSON, unknown
OpenAI fields) the wall time and the CPU time (client + gateway, one process) per request, and their
ratio to a valid request answered by a backend that takes no time. Refusals never call a backend.

    .venv/bin/python bench/gateway_refusals.py [--requests 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

import httpx

from crucible.gateway.fake_backend import FakeBackend, FakeBehaviour
from crucible.gateway.policy import GatewayPolicy
from crucible.gateway.rollout import RolloutController
from crucible.gateway.router import Router
from crucible.gateway.server import start_gateway
from crucible.gateway.state import BackendSpec
from crucible.gateway.store import MemoryStore


def _kinds() -> dict[str, tuple[str, bytes]]:
    def j(obj: Any) -> bytes:
        return json.dumps(obj).encode()

    return {
        "valid": ("/generate", j({"inputs": "hi", "parameters": {"max_new_tokens": 8}})),
        "parameters_string": ("/generate", j({"inputs": "hi", "parameters": "temperature=1"})),
        "parameters_list": ("/generate", j({"inputs": "hi", "parameters": [1, 2]})),
        "max_new_tokens_too_large": ("/generate", j({"inputs": "hi", "parameters": {"max_new_tokens": 10**9}})),
        "prompt_400KB": ("/generate", j({"inputs": "x" * 400_000})),
        "body_2MB": ("/generate", b'{"inputs": "' + b"x" * 2 * 1024 * 1024 + b'"}'),
        "invalid_json": ("/generate", b"{not json"),
        "chat_unknown_tool_field": (
            "/v1/chat/completions",
            j({"messages": [{"role": "user", "content": "hi"}], "tools": [{}]}),
        ),
    }


async def measure(requests: int) -> dict[str, Any]:
    backend = await FakeBackend(FakeBehaviour(delay_seconds=0)).start()
    router = Router(GatewayPolicy(), MemoryStore())
    await router.start()
    rollout = RolloutController(router)
    await rollout.configure_stable(BackendSpec("base", backend.url))
    running = await start_gateway(rollout, admin_token=None, run_loop=False)
    out: dict[str, Any] = {}
    try:
        async with httpx.AsyncClient(base_url=running.http_url, timeout=30) as client:
            for name, (path, body) in _kinds().items():
                before = backend.requests
                statuses: set[int] = set()
                cpu, wall = time.process_time(), time.perf_counter()
                for _ in range(requests):
                    try:
                        statuses.add((await client.post(path, content=body)).status_code)
                    except httpx.HTTPError:  # a 413 may close the connection under a body still going out
                        statuses.add(-1)
                out[name] = {
                    "wall_ms": round((time.perf_counter() - wall) / requests * 1000, 3),
                    "cpu_ms": round((time.process_time() - cpu) / requests * 1000, 3),
                    "statuses": sorted(statuses),
                    "backend_calls": backend.requests - before,
                }
    finally:
        await running.stop()
        await backend.stop()
    base = out["valid"]
    for row in out.values():
        row["wall_ratio_to_valid"] = round(row["wall_ms"] / base["wall_ms"], 3)
        row["cpu_ratio_to_valid"] = round(row["cpu_ms"] / base["cpu_ms"], 3)
    refusals = [r for n, r in out.items() if n != "valid"]
    return {
        "bench": "gateway_refusals",
        "requests_per_kind": requests,
        "max_refusal_wall_ms": max(r["wall_ms"] for r in refusals),
        "refusal_backend_calls": sum(r["backend_calls"] for r in refusals),
        "kinds": out,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    print(json.dumps(asyncio.run(measure(parser.parse_args().requests)), indent=2))


if __name__ == "__main__":
    main()
