"""`crucible bench gateway --json`: what the gateway costs on top of its backend.

A fake TGI backend (its own process) answers every request after a fixed delay (20 ms: a short
generation; 0 ms: isolates the gateway's own routing cost). The same client, in this process,
measures throughput and p50/p99 latency direct to the backend and through the gateway (its own
process: HTTP `/generate` and gRPC `Generate`), at concurrency 1 and 32. The gateway runs a live
50 % canary (both variants on the backend), so hashing, figures, metrics, the serving guard and
the sampled safety check are all on the path.
Targets (issue 9): at 20 ms, gateway throughput >= 0.9x direct and p50 added latency <= 2 ms;
at 0 ms, requests/s per gateway core (requests / gateway CPU seconds).

Placement (`placement.py`, in the JSON as `topology`): by default the load generator and the
fake backend are pinned to one set of cores for *both* the direct and the through-gateway
measurements and the gateway to a core of its own, as when the gateway runs in its own pod; so
the ratio measures the gateway's added cost, not CPU taken from the client. Each row reports
how busy the load cores were (`load_cores_busy`, 1.0 = the load generator itself is the limit)
and, per request, how long the gateway and the load processes were runnable but waiting for a
CPU (`*_run_queue_wait_ms_per_request`: CPU that other tenants of the machine took).
`CRUCIBLE_BENCH_GATEWAY_TOPOLOGY=shared` runs everything unpinned (the earlier set-up).

Issue 17: a bare relay (`relay.py`) runs beside the gateway and is measured right after it on
each path, so `cpu_per_request_vs_relay` compares two measurements under the same machine load.
Proxy CPU is counted in scheduler nanoseconds (`CpuClock`), not 10 ms ticks.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from typing import Any

import aiohttp
import httpx

from crucible.gateway.heap import freeze_startup_heap
from crucible.gateway.launcher import _free_port
from crucible.gateway.placement import PINNED, Placement, plan_placement
from crucible.gateway.proc_cpu import CpuClock, cpu_seconds, pin, pinned_self, run_queue_wait_seconds

TOPOLOGY_ENV = "CRUCIBLE_BENCH_GATEWAY_TOPOLOGY"


def _spawn(args: list[str], cpus: tuple[int, ...]) -> subprocess.Popen[bytes]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    pin(proc.pid, cpus)  # before the interpreter has started any thread; re-applied once it is up
    return proc


async def _wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=1.0) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"bench process exited: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}"
                )
            try:
                if (await client.get(url)).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


async def _run(call: Any, concurrency: int, seconds: float, latencies: list[float]) -> tuple[int, float]:
    """`concurrency` workers calling for `seconds`; appends each latency; returns (errors, wall)."""
    errors = 0
    end = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal errors
        while time.perf_counter() < end:
            t0 = time.perf_counter()
            try:
                await call()
            except Exception:
                errors += 1
                continue
            latencies.append(time.perf_counter() - t0)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return errors, time.perf_counter() - started


def _summary(latencies: list[float], errors: int, wall: float) -> dict[str, Any]:
    latencies = sorted(latencies)
    return {
        "requests": len(latencies),
        "errors": errors,
        "wall_seconds": round(wall, 3),
        "throughput_rps": round(len(latencies) / wall, 1),
        "p50_ms": round(_percentile(latencies, 0.50) * 1000, 3),
        "p99_ms": round(_percentile(latencies, 0.99) * 1000, 3),
    }


async def _measure(call: Any, concurrency: int, seconds: float) -> dict[str, float]:
    for _ in range(3):  # warm connections
        await call()
    latencies: list[float] = []
    errors, wall = await _run(call, concurrency, seconds, latencies)
    return _summary(latencies, errors, wall)


PROXIES = {"gateway": "crucible.gateway.bench", "relay": "crucible.gateway.relay"}


async def _bench_delay(delay: float, seconds: float, placement: Placement) -> dict[str, dict[str, Any]]:
    """{"gateway": rows, "relay": rows} for one backend delay. The gateway and the relay run side
    by side on the gateway's cores; every row (direct, gateway HTTP, relay HTTP, gateway gRPC,
    relay gRPC) is measured a slice at a time, in turn, `SLICES` times, so all of them see the
    same machine. (Measured a minute apart, as before, a shared machine's load could swing
    between them and move the ratio more than the gateway's cost does; even 4 s apart the relay's
    CPU per request at concurrency 1 moved by 60 % on a loaded machine.) The idle proxy costs
    ~2 ms of CPU a second on that core."""
    import grpc

    from crucible.v1 import gateway_pb2, gateway_pb2_grpc

    backend_port = _free_port()
    backend = _spawn(
        ["crucible.gateway.fake_backend", "--port", str(backend_port), "--delay", str(delay)], placement.load_cpus
    )
    ports = {name: (_free_port(), _free_port()) for name in PROXIES}
    procs = {
        name: _spawn(
            [module, "--stable", f"http://127.0.0.1:{backend_port}", "--http-port", str(ports[name][0]),
             "--grpc-port", str(ports[name][1])],
            placement.gateway_cpus,
        )
        for name, module in PROXIES.items()
    }  # fmt: skip
    body = {"inputs": "How do we argue less?", "parameters": {"max_new_tokens": 8}}
    out: dict[str, dict[str, Any]] = {name: {} for name in PROXIES}
    try:
        await _wait_http(f"http://127.0.0.1:{backend_port}/health", backend)
        for name, proc in procs.items():
            await _wait_http(f"http://127.0.0.1:{ports[name][0]}/health", proc)
        pin(backend.pid, placement.load_cpus)
        for proc in procs.values():
            pin(proc.pid, placement.gateway_cpus)
        # aiohttp on the client side: httpx costs several ms of CPU per request at concurrency 32,
        # which would measure the client instead of the gateway (see backends.py).
        async with contextlib.AsyncExitStack() as stack:
            http = await stack.enter_async_context(
                aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64), timeout=aiohttp.ClientTimeout(total=30))
            )
            channels = {
                name: await stack.enter_async_context(grpc.aio.insecure_channel(f"127.0.0.1:{ports[name][1]}"))
                for name in PROXIES
            }
            pin(os.getpid(), placement.load_cpus)  # grpc's client threads start with the channel
            counter = iter(range(10**9))

            async def direct() -> None:
                async with http.post(f"http://127.0.0.1:{backend_port}/generate", json=body) as r:
                    r.raise_for_status()
                    await r.read()

            def via_http(port: int) -> Any:
                async def call() -> None:
                    headers = {"x-crucible-user": f"u{next(counter) % 1000}"}
                    async with http.post(f"http://127.0.0.1:{port}/generate", json=body, headers=headers) as r:
                        r.raise_for_status()
                        await r.read()

                return call

            def via_grpc(channel: Any) -> Any:
                stub = gateway_pb2_grpc.ModelGatewayStub(channel)

                async def call() -> None:
                    await stub.Generate(
                        gateway_pb2.GenerateRequest(
                            inputs=body["inputs"],
                            user_id=f"u{next(counter) % 1000}",
                            parameters=gateway_pb2.GenerationParameters(max_new_tokens=8),
                        )
                    )

                return call

            rows_of = {"direct": (direct, None)}
            for path in ("gateway_http", "gateway_grpc"):
                for name, proc in procs.items():
                    call = via_http(ports[name][0]) if path == "gateway_http" else via_grpc(channels[name])
                    rows_of[f"{name}.{path}"] = (call, proc)
            for concurrency in (1, 32):
                tallies = {key: _Tally(proc) for key, (_, proc) in rows_of.items()}
                for call, _ in rows_of.values():
                    for _ in range(3):  # warm connections
                        await call()
                row_seconds = seconds * (C1_LONGER if concurrency == 1 else 1)
                for _ in range(SLICES):  # every row a slice at a time, in turn: the same machine for all
                    for key, (call, _) in rows_of.items():
                        await tallies[key].measure(call, concurrency, row_seconds / SLICES, backend)
                d = tallies["direct"].row(placement)
                for name in PROXIES:
                    rows: dict[str, Any] = {"direct": d}
                    for path in ("gateway_http", "gateway_grpc"):
                        g = tallies[f"{name}.{path}"].row(placement)
                        g["throughput_ratio_vs_direct"] = round(g["throughput_rps"] / d["throughput_rps"], 3)
                        g["p50_added_ms"] = round(g["p50_ms"] - d["p50_ms"], 3)
                        g["p99_added_ms"] = round(g["p99_ms"] - d["p99_ms"], 3)
                        rows[path] = g
                    out[name][f"concurrency_{concurrency}"] = rows
    finally:
        for proc in (*procs.values(), backend):
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
    return out


SLICES = 4  # each row's seconds, in this many turns
# A concurrency-1 row at 20 ms is ~48 requests a second: in 4 s, ~190 requests and ~0.2 s of proxy
# CPU, so the CPU-per-request ratio moved by ±0.15 between runs on a quiet machine (the relay's own
# figure 0.49-0.97 ms). Three times as long for concurrency 1 (~570 requests a row).
C1_LONGER = 3


class _Tally:
    """One row's measurement (direct, or through a proxy, which adds its CPU), summed over the
    slices it was measured in."""

    def __init__(self, proxy: subprocess.Popen[bytes] | None) -> None:
        self.proxy = proxy
        self.latencies: list[float] = []
        self.errors = 0
        self.wall = self.proxy_cpu = self.proxy_wait = self.load_cpu = self.load_wait = 0.0
        self.clocks: set[str] = set()

    async def measure(self, call: Any, concurrency: int, seconds: float, backend: subprocess.Popen[bytes]) -> None:
        clock = CpuClock(self.proxy.pid) if self.proxy is not None else None
        if clock is not None:
            clock.start()
            proxy_wait0 = run_queue_wait_seconds(clock.pid)
        backend0 = cpu_seconds(backend.pid)
        client0 = time.process_time()
        load_wait0 = run_queue_wait_seconds(os.getpid()) + run_queue_wait_seconds(backend.pid)
        errors, wall = await _run(call, concurrency, seconds, self.latencies)
        if clock is not None:
            self.proxy_cpu += clock.stop()
            self.clocks.add(clock.source)
            self.proxy_wait += run_queue_wait_seconds(clock.pid) - proxy_wait0
        self.load_cpu += (time.process_time() - client0) + (cpu_seconds(backend.pid) - backend0)
        self.load_wait += run_queue_wait_seconds(os.getpid()) + run_queue_wait_seconds(backend.pid) - load_wait0
        self.errors += errors
        self.wall += wall

    def row(self, placement: Placement) -> dict[str, Any]:
        m = _summary(self.latencies, self.errors, self.wall)
        n = max(m["requests"], 1)
        m["load_cores_busy"] = round(self.load_cpu / (self.wall * len(placement.load_cpus)), 2)
        m["load_run_queue_wait_ms_per_request"] = round(1000 * self.load_wait / n, 3)
        if self.proxy is not None:
            cpu = self.proxy_cpu
            m["gatewaycpu_seconds"] = round(cpu, 4)
            m["gateway_cpu_clock"] = "+".join(sorted(self.clocks))
            m["gateway_cpu_ms_per_request"] = round(1000 * cpu / n, 4)
            m["requests_per_gateway_core_second"] = round(m["requests"] / cpu, 1) if cpu > 0 else None
            m["gateway_core_busy"] = round(cpu / (self.wall * len(placement.gateway_cpus)), 2)
            m["gateway_run_queue_wait_ms_per_request"] = round(1000 * self.proxy_wait / n, 3)
        return m


def bench_gateway(quick: bool = False) -> dict[str, Any]:
    """Gateway overhead vs direct to a fake 20 ms / 0 ms backend (HTTP and gRPC, concurrency 1 and 32),
    and its CPU per request against a bare relay (`relay.py`) measured in the same run."""
    seconds = 1.0 if quick else 4.0
    placement = plan_placement(os.sched_getaffinity(0), os.environ.get(TOPOLOGY_ENV, PINNED))
    load = os.getloadavg()
    with pinned_self(placement.load_cpus):
        both_20 = asyncio.run(_bench_delay(0.02, seconds, placement))
        both_0 = asyncio.run(_bench_delay(0.0, seconds, placement))
    at_20, relay_20 = both_20["gateway"], both_20["relay"]
    at_0, relay_0 = both_0["gateway"], both_0["relay"]
    checks = {}
    for c in ("concurrency_1", "concurrency_32"):
        for path in ("gateway_http", "gateway_grpc"):
            g = at_20[c][path]
            ratio = g["gateway_cpu_ms_per_request"] / max(relay_20[c][path]["gateway_cpu_ms_per_request"], 1e-9)
            g["cpu_per_request_vs_relay"] = round(ratio, 3)
            at_0[c][path]["cpu_per_request_vs_relay"] = round(
                at_0[c][path]["gateway_cpu_ms_per_request"] / max(relay_0[c][path]["gateway_cpu_ms_per_request"], 1e-9),
                3,
            )
            checks[f"{c}.{path}"] = {
                "throughput_ratio_ge_0.9": g["throughput_ratio_vs_direct"] >= 0.9,
                "p50_added_le_2ms": g["p50_added_ms"] <= 2.0,
                "cpu_per_request_le_1.3x_relay": ratio <= 1.3,
            }
    per_core = {
        f"{c}.{path}": at_0[c][path]["requests_per_gateway_core_second"]
        for c in ("concurrency_1", "concurrency_32")
        for path in ("gateway_http", "gateway_grpc")
    }
    return {
        "backend_delay_20ms": at_20,
        "backend_delay_0ms": at_0,
        "relay_backend_delay_20ms": relay_20,
        "relay_backend_delay_0ms": relay_0,
        "targets_at_20ms": checks,
        "requests_per_gateway_core_second_at_0ms": per_core,
        "topology": placement.describe(),
        "seconds_per_measurement": seconds,
        "seconds_per_measurement_concurrency_1": seconds * C1_LONGER,
        "cpu_count": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in load],
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "note": "client, gateway, relay and fake backend are separate processes on the same machine; the gateway "
        "and the relay run side by side on the gateway's cores, measured back to back path by path against "
        "one direct measurement (the relay's rows repeat it)",
    }


async def _serve_for_bench(stable: str, http_port: int, grpc_port: int) -> None:
    from crucible.gateway.policy import GatewayPolicy
    from crucible.gateway.rollout import RolloutController
    from crucible.gateway.router import Router
    from crucible.gateway.server import start_gateway
    from crucible.gateway.state import BackendSpec
    from crucible.gateway.store import MemoryStore

    policy = GatewayPolicy(stages=[50.0, 100.0], stage_duration_seconds=86_400.0, analysis_interval_seconds=5.0)
    router = Router(policy, MemoryStore())
    await router.start()
    controller = RolloutController(router)
    await controller.configure_stable(BackendSpec(model="base", url=stable))
    await controller.start_rollout(BackendSpec(model="candidate", url=stable))
    # Keep the reference: a garbage-collected grpc.aio server stops serving.
    running = await start_gateway(controller, admin_token=None, http_port=http_port, grpc_port=grpc_port)
    freeze_startup_heap()
    try:
        await asyncio.Event().wait()
    finally:
        await running.stop()


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--stable", required=True)
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--grpc-port", type=int, required=True)
    a = parser.parse_args()
    asyncio.run(_serve_for_bench(a.stable, a.http_port, a.grpc_port))
