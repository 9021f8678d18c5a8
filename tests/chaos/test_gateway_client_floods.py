"""Chaos figures for the gateway's front door (issue 25 items 3 and 12), under a flood of bad requests:

- `canary_error_rate_change`: the canary's error rate (and its request count, so no dilution either)
  after callers assigned to the canary flood it with invalid and oversized requests, minus before. Must be 0.
- `valid_p99_ratio`: the p99 latency of valid requests while the flood arrives, over their p99 without it,
  measured in the same run. Should stay within 2x; printed, not asserted (wall-clock on a shared
  machine), except that `make chaos` reports `within_2x`.
- `refusal_p99_ms`: how long a refused request takes (well under 100 ms expected).

The flood comes from a separate process (attackers are elsewhere) and lasts while valid traffic runs
in rounds of 80 requests, 16 at a time, against a backend that takes 10 ms. Short form in `make test`
(2 rounds); `make chaos` (CRUCIBLE_CHAOS_KILLS set) or CRUCIBLE_CHAOS_FLOOD_ROUNDS=N runs the long
form (25 rounds). One JSON line, prefix `CHAOS `, and a file in CRUCIBLE_CHAOS_OUT when set.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from crucible.gateway.fake_backend import FakeBackend, FakeBehaviour
from crucible.gateway.policy import GatewayPolicy
from crucible.gateway.rollout import RolloutController
from crucible.gateway.router import Router
from crucible.gateway.server import start_gateway
from crucible.gateway.state import BackendSpec
from crucible.gateway.store import MemoryStore

LONG = bool(os.environ.get("CRUCIBLE_CHAOS_KILLS"))
VALID = 80  # valid requests per round
ROUNDS = int(os.environ.get("CRUCIBLE_CHAOS_FLOOD_ROUNDS") or (25 if LONG else 2))
CONCURRENCY = 16
BACKEND_DELAY = 0.01  # a backend that takes some time, as every real one does

# (path, body bytes, whether the backend judges it): each is the client's own error.
BIG = b"x" * (2 * 1024 * 1024)


def _bad_requests() -> list[tuple[str, bytes, bool]]:
    def j(obj: Any) -> bytes:
        return json.dumps(obj).encode()

    return [
        ("/generate", j({"inputs": "hi", "parameters": "temperature=1"}), False),
        ("/generate", j({"inputs": "hi", "parameters": [1, 2]}), False),
        ("/generate", j({"inputs": "hi", "parameters": {"max_new_tokens": 10**9}}), False),
        ("/generate", j({"inputs": "x" * 400_000}), False),  # prompt over the limit: 413
        ("/generate", b'{"inputs": "' + BIG + b'"}', False),  # body over the limit: 413, never read whole
        ("/generate", b"{not json", False),
        ("/v1/chat/completions", j({"messages": "hi"}), False),
        ("/v1/chat/completions", j({"messages": [{"role": "user", "content": "hi"}], "tools": [{}]}), False),
        ("/generate", j({"inputs": "hi", "parameters": {"temperature": -1}}), True),  # the backend's 422
    ]


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] if ordered else 0.0


async def _timed(client: httpx.AsyncClient, path: str, body: bytes, user: str) -> tuple[int, float]:
    t0 = time.perf_counter()
    r = await client.post(path, content=body, headers={"x-crucible-user": user, "content-type": "application/json"})
    return r.status_code, time.perf_counter() - t0


async def _valid_phase(client: httpx.AsyncClient, users: list[str]) -> list[float]:
    sem = asyncio.Semaphore(CONCURRENCY)
    body = json.dumps({"inputs": "plan a date night", "parameters": {"max_new_tokens": 8}}).encode()

    async def one(i: int) -> float:
        async with sem:
            status, seconds = await _timed(client, "/generate", body, users[i % len(users)])
            assert status == 200, status
            return seconds

    return list(await asyncio.gather(*(one(i) for i in range(VALID))))


FLOOD_SCRIPT = """
import asyncio, json, os, random, sys, time
import httpx
sys.path.insert(0, os.path.dirname(sys.argv[1]))
from test_gateway_client_floods import _bad_requests, _p99
url, users, stop, concurrency = sys.argv[2], sys.argv[3].split(","), sys.argv[4], int(sys.argv[5])
async def main():
    bad, rng, seconds, judged, codes = _bad_requests(), random.Random(25), [], 0, set()
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        print("go", flush=True)
        began = time.perf_counter()
        async def worker(w):
            nonlocal judged
            i = w
            while not os.path.exists(stop):
                path, body, backend = bad[rng.randrange(len(bad))]
                t0 = time.perf_counter()
                try:
                    r = await client.post(path, content=body, headers={"x-crucible-user": users[i % len(users)],
                                          "content-type": "application/json"})
                    codes.add(r.status_code)
                except httpx.HTTPError:  # a 413 may close the connection while the body is still going out
                    codes.add(-1)
                seconds.append(time.perf_counter() - t0)
                judged += backend
                i += concurrency
        await asyncio.gather(*(worker(w) for w in range(concurrency)))
    print(json.dumps({"sent": len(seconds), "backend_judged": judged, "codes": sorted(codes),
                      "rps": round(len(seconds) / (time.perf_counter() - began), 1),
                      "refusal_p99_ms": round(_p99(seconds) * 1000, 2)}), flush=True)
asyncio.run(main())
"""


async def _flood(url: str, users: list[str], stop: Path) -> asyncio.subprocess.Process:
    """Attackers elsewhere: a separate process floods the gateway until `stop` exists."""
    import sys

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", FLOOD_SCRIPT, __file__, url, ",".join(users), str(stop), str(CONCURRENCY),
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    assert (await proc.stdout.readline()).strip() == b"go"
    return proc


async def _scenario() -> dict[str, Any]:
    stable = await FakeBackend(FakeBehaviour(delay_seconds=BACKEND_DELAY)).start()
    canary = await FakeBackend(FakeBehaviour(delay_seconds=BACKEND_DELAY)).start()
    router = Router(GatewayPolicy(), MemoryStore(), refresh_seconds=0.05)
    await router.start()
    rollout = RolloutController(router, publish=None, clock=lambda: 1_000_000.0)
    await rollout.configure_stable(BackendSpec(model="base", url=stable.url))
    running = await start_gateway(rollout, admin_token=None, run_loop=False)
    try:
        await rollout.start_rollout(BackendSpec("cand", canary.url))
        everyone = [f"user-{i}" for i in range(400)]
        on_canary = [u for u in everyone if router.route(u).variant == "canary"]

        async def canary_figures() -> dict[str, Any]:
            await router.flush_figures()
            return next(f for f in (await rollout.status())["figures"] if f["variant"] == "canary")

        limits = httpx.Limits(max_connections=CONCURRENCY * 2)
        stop = Path(tempfile.mkdtemp(prefix="crucible-chaos-")) / "stop"
        async with httpx.AsyncClient(base_url=running.http_url, timeout=60, limits=limits) as client:
            await _valid_phase(client, everyone[:20])  # warm-up: connections, code paths
            alone: list[float] = []
            began = time.perf_counter()
            while len(alone) < VALID * ROUNDS:
                alone += await _valid_phase(client, everyone)
            valid_rps = len(alone) / (time.perf_counter() - began)
            before = await canary_figures()
            calls_before = stable.requests + canary.requests
            flood = await _flood(running.http_url, on_canary, stop)
            during: list[float] = []
            while len(during) < VALID * ROUNDS:  # the flood runs all along; valid traffic goes on in rounds
                during += await _valid_phase(client, everyone)
            stop.touch()
            out, _ = await flood.communicate()
            flooded = json.loads(out.decode().strip().splitlines()[-1])
            assert await flood.wait() == 0
            after = await canary_figures()
            calls = stable.requests + canary.requests - calls_before
        per_round = sum(1 for i in range(VALID) if router.route(everyone[i % len(everyone)]).variant == "canary")
        canary_valid = per_round * (len(during) // VALID)
        return {
            "flood_requests": flooded["sent"],
            "valid_requests": len(during),
            "canary_error_rate_change": after["error_rate"] - before["error_rate"],
            "canary_errors_change": after["errors"] - before["errors"],
            "canary_requests_change": after["requests"] - before["requests"],
            "canary_valid_requests": canary_valid,
            "backend_calls": calls,
            "backend_calls_expected": len(during) + flooded["backend_judged"],
            "flood_codes": flooded["codes"],
            "valid_p99_ms_alone": round(_p99(alone) * 1000, 2),
            "valid_p99_ms_during_flood": round(_p99(during) * 1000, 2),
            "valid_p99_ratio": round(_p99(during) / _p99(alone), 3),
            "refusal_p99_ms": flooded["refusal_p99_ms"],
            "flood_rps": flooded["rps"],
            "valid_rps_alone": round(valid_rps, 1),
        }
    finally:
        await running.stop()
        await stable.stop()
        await canary.stop()


def test_client_error_floods_move_no_canary_figure_and_reach_no_backend() -> None:
    figures = asyncio.run(_scenario())
    figures["within_2x"] = figures["valid_p99_ratio"] <= 2.0
    line = json.dumps({"test": "gateway_client_floods", **figures}, sort_keys=True)
    print(f"\nCHAOS {line}")
    if out := os.environ.get("CRUCIBLE_CHAOS_OUT"):
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "gateway_client_floods.json").write_text(line + "\n")
    assert figures["canary_error_rate_change"] == 0 and figures["canary_errors_change"] == 0
    # Only the valid requests count: a flood can neither raise the canary's error rate nor dilute it.
    assert figures["canary_requests_change"] == figures["canary_valid_requests"]
    # The gateway's own refusals never reach a backend (only what the backend must judge does).
    assert figures["backend_calls"] == figures["backend_calls_expected"]
