"""`crucible bench feedback --json`: what the feedback loop costs the gateway, and how fast it takes feedback.

One run, one machine, the placement of `crucible bench gateway` (load generator and the fake 20 ms
TGI backend on one set of cores, the gateway on its own):

- **publishing overhead**: the same gateway build serves `/generate` at concurrency 32 twice, once
  with interaction publishing off and once on (every exchange sampled, records published in the
  background to a real nats-server's RAW stream). Off and on alternate (off, on, off, on) so drift
  on a shared machine hits both; the figure is throughput on / off (issue 18 target: >= 0.95) and
  the records that reached the stream (counted by JetStream, not by the gateway);
- **feedback ingest**: POST /feedback with distinct, signed response ids at concurrency 32 against
  the gateway that stores each one in a registry (SQLite file) and queues its feedback record:
  accepted feedback per second, and, as the same-run baseline, `/generate` at that concurrency.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from crucible.gateway.bench import TOPOLOGY_ENV, _measure, _spawn, _wait_http
from crucible.gateway.launcher import _free_port
from crucible.gateway.placement import PINNED, Placement, plan_placement
from crucible.gateway.proc_cpu import cpu_seconds, pin, pinned_self

BACKEND_DELAY = 0.02
CONCURRENCY = 32
PAIRS = 4  # alternating (off, on) rounds; the figure is the median of the per-pair ratios


def _stop(*procs: subprocess.Popen[bytes]) -> None:
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


async def _raw_records(nats_url: str) -> int:
    """Records in the RAW stream (decoding every RecordBatch there)."""
    import nats

    from crucible.common import subjects
    from crucible.v1 import records_pb2

    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(subjects.STREAM_RAW)
        total = 0
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            msg = await js.get_msg(subjects.STREAM_RAW, seq)
            total += len(records_pb2.RecordBatch.FromString(msg.data or b"").records)
        return total
    finally:
        await nc.close()


async def _run(seconds: float, placement: Placement, nats_url: str, registry_url: str, nats_pid: int) -> dict[str, Any]:
    backend_port = _free_port()
    ports = {name: (_free_port(), _free_port()) for name in ("off", "on")}
    backend = _spawn(
        ["crucible.gateway.fake_backend", "--port", str(backend_port), "--delay", str(BACKEND_DELAY)],
        placement.load_cpus,
    )
    gateways: dict[str, subprocess.Popen[bytes]] = {}
    for name, (http_port, grpc_port) in ports.items():
        args = ["--stable", f"http://127.0.0.1:{backend_port}", "--http-port", str(http_port)]
        args += ["--grpc-port", str(grpc_port)]
        if name == "on":
            args += ["--nats", nats_url, "--registry", registry_url]
        gateways[name] = _spawn(["crucible.gateway.feedback_bench", *args], placement.gateway_cpus)
    body = {"inputs": "How do we argue less?", "parameters": {"max_new_tokens": 8}}
    out: dict[str, Any] = {}
    try:
        await _wait_http(f"http://127.0.0.1:{backend_port}/health", backend)
        for name, proc in gateways.items():
            await _wait_http(f"http://127.0.0.1:{ports[name][0]}/health", proc)
            pin(proc.pid, placement.gateway_cpus)
        pin(backend.pid, placement.load_cpus)
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=64), timeout=aiohttp.ClientTimeout(total=30)
        ) as http:
            pin(os.getpid(), placement.load_cpus)
            counter = iter(range(10**9))
            issued: list[str] = []

            def generate(name: str, keep: bool) -> Any:
                url = f"http://127.0.0.1:{ports[name][0]}/generate"

                async def call() -> None:
                    headers = {"x-crucible-user": f"u{next(counter) % 1000}"}
                    async with http.post(url, json=body, headers=headers) as r:
                        r.raise_for_status()
                        await r.read()
                        if keep:
                            issued.append(r.headers["x-crucible-response-id"])

                return call

            rounds: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
            for name in ("off", "on") * PAIRS:
                cpu0 = cpu_seconds(gateways[name].pid)
                load0 = time.process_time() + cpu_seconds(backend.pid)
                bus0 = cpu_seconds(nats_pid)
                m = await _measure(generate(name, keep=name == "on"), CONCURRENCY, seconds / PAIRS)
                gateway_cpu = cpu_seconds(gateways[name].pid) - cpu0
                bus_cpu = cpu_seconds(nats_pid) - bus0
                load_cpu = time.process_time() + cpu_seconds(backend.pid) - load0 + bus_cpu
                # 1.0: the load cores (client, backend, and here the bus) are the limit, not the gateway.
                m["load_cores_busy"] = round(load_cpu / (m["wall_seconds"] * len(placement.load_cpus)), 2)
                m["bus_cpu_ms_per_request"] = round(1000 * bus_cpu / max(m["requests"], 1), 3)
                m["gateway_cpu_ms_per_request"] = round(1000 * gateway_cpu / max(m["requests"], 1), 3)
                m["gateway_core_busy"] = round(gateway_cpu / (m["wall_seconds"] * len(placement.gateway_cpus)), 2)
                rounds[name].append(m)
            for name, rows in rounds.items():
                requests = sum(r["requests"] for r in rows)
                wall = sum(r["wall_seconds"] for r in rows)
                out[f"publishing_{name}"] = {
                    "requests": requests,
                    "errors": sum(r["errors"] for r in rows),
                    "throughput_rps": round(requests / wall, 1),
                    "p50_ms": round(sum(r["p50_ms"] for r in rows) / len(rows), 3),
                    "p99_ms": round(max(r["p99_ms"] for r in rows), 3),
                    "gateway_cpu_ms_per_request": round(
                        sum(r["gateway_cpu_ms_per_request"] * r["requests"] for r in rows) / max(requests, 1), 3
                    ),
                    "gateway_core_busy_max": max(r["gateway_core_busy"] for r in rows),
                    "load_cores_busy_min": min(r["load_cores_busy"] for r in rows),
                    "bus_cpu_ms_per_request": round(
                        sum(r["bus_cpu_ms_per_request"] * r["requests"] for r in rows) / max(requests, 1), 3
                    ),
                    "rounds": rows,
                }
            # Each on round against the off round just before it: drift on a shared machine moves both.
            pairs = sorted(
                on["throughput_rps"] / max(off["throughput_rps"], 1e-9)
                for off, on in zip(rounds["off"], rounds["on"], strict=True)
            )
            ratio = (pairs[(len(pairs) - 1) // 2] + pairs[len(pairs) // 2]) / 2
            out["throughput_ratio_on_vs_off"] = round(ratio, 3)
            out["throughput_ratio_per_pair"] = [round(p, 3) for p in pairs]
            out["throughput_ratio_pooled"] = round(
                out["publishing_on"]["throughput_rps"] / max(out["publishing_off"]["throughput_rps"], 1e-9), 3
            )
            out["gateway_cpu_per_request_on_vs_off"] = round(
                out["publishing_on"]["gateway_cpu_ms_per_request"]
                / max(out["publishing_off"]["gateway_cpu_ms_per_request"], 1e-9),
                3,
            )
            out["target_ratio_ge_0.95"] = ratio >= 0.95
            await asyncio.sleep(1.5)  # the publisher's last batch (flush interval 0.5 s)
            out["interaction_records_in_raw"] = await _raw_records(nats_url)
            out["exchanges_served_with_publishing_on"] = out["publishing_on"]["requests"] + 3 * PAIRS  # + warm-ups

            # Feedback ingest: each issued id once (signed, distinct), stored in the registry.
            feedback_url = f"http://127.0.0.1:{ports['on'][0]}/feedback"
            todo = iter(issued)
            accepted = refused = 0

            async def feedback() -> None:
                nonlocal accepted, refused
                rid = next(todo)
                payload = {"response_id": rid, "rating": 8, "advice_accepted": True, "text": "that helped"}
                async with http.post(feedback_url, json=payload) as r:
                    r.raise_for_status()
                    if (await r.json())["accepted"]:
                        accepted += 1
                    else:
                        refused += 1

            cpu0 = cpu_seconds(gateways["on"].pid)
            fb = await _measure(feedback, CONCURRENCY, min(seconds / 2, 2.0))
            fb["gateway_cpu_ms_per_feedback"] = round(
                1000 * (cpu_seconds(gateways["on"].pid) - cpu0) / max(fb["requests"], 1), 3
            )
            fb["accepted"] = accepted
            fb["refused"] = refused
            fb["accepted_per_second"] = round(accepted / fb["wall_seconds"], 1)
            fb["generate_baseline_rps_same_gateway"] = out["publishing_on"]["throughput_rps"]
            out["feedback_ingest"] = fb
    finally:
        _stop(*gateways.values(), backend)
    return out


def bench_feedback(quick: bool = False) -> dict[str, Any]:
    """Gateway throughput with interaction publishing on vs off (20 ms backend), feedback ingest rate."""
    from crucible.common.embedded import EmbeddedNats

    seconds = 2.0 if quick else 12.0  # per variant, split over PAIRS alternating rounds
    placement = plan_placement(os.sched_getaffinity(0), os.environ.get(TOPOLOGY_ENV, PINNED))
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="crucible-bench-feedback-") as tmp:
        registry_url = f"sqlite:///{Path(tmp) / 'registry.db'}"
        from crucible.common.registry import Registry

        registry = Registry(registry_url)
        registry.migrate()
        registry.dispose()
        with EmbeddedNats(Path(tmp) / "nats") as server, pinned_self(placement.load_cpus):
            # The bus runs on other machines in production: keep it off the gateway's core.
            pin(server.proc.pid, placement.load_cpus)  # type: ignore[union-attr]
            assert server.proc is not None
            result = asyncio.run(_run(seconds, placement, server.url, registry_url, server.proc.pid))
    return {
        **result,
        "backend_delay_ms": BACKEND_DELAY * 1000,
        "concurrency": CONCURRENCY,
        "seconds_per_variant": seconds,
        "topology": placement.describe(),
        "cpu_count": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in load],
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "note": "client, gateways and fake backend are separate processes; publishing goes to a real nats-server",
    }


async def _serve(stable: str, http_port: int, grpc_port: int, nats_url: str | None, registry_url: str | None) -> None:
    from crucible.common.bus import Bus
    from crucible.common.config import BusPolicy
    from crucible.common.registry import Registry
    from crucible.gateway.heap import freeze_startup_heap
    from crucible.gateway.interactions import InteractionLog, bus_record_publisher
    from crucible.gateway.policy import FeedbackPolicy, GatewayPolicy, InteractionPolicy
    from crucible.gateway.rollout import RolloutController
    from crucible.gateway.router import Router
    from crucible.gateway.server import start_gateway
    from crucible.gateway.state import BackendSpec
    from crucible.gateway.store import MemoryStore

    policy = GatewayPolicy(
        stages=[50.0, 100.0],
        stage_duration_seconds=86_400.0,
        analysis_interval_seconds=5.0,
        interactions=InteractionPolicy(enabled=nats_url is not None, sample_rate=1.0),
        feedback=FeedbackPolicy(rate_per_second=1e6, burst=1_000_000),
    )
    router = Router(policy, MemoryStore())
    bus = None
    if nats_url is not None:
        bus = await Bus.connect(nats_url, BusPolicy())
        router.interactions = InteractionLog(policy.interactions, bus_record_publisher(bus), b"bench-secret")
        router.interactions.start()
    if registry_url is not None:
        router.desk.registry = Registry(registry_url)
        router.desk.subject_secret = b"bench-secret"
    await router.start()
    controller = RolloutController(router)
    await controller.configure_stable(BackendSpec(model="base", url=stable))
    await controller.start_rollout(BackendSpec(model="candidate", url=stable))
    running = await start_gateway(controller, admin_token=None, http_port=http_port, grpc_port=grpc_port)
    freeze_startup_heap()
    try:
        await asyncio.Event().wait()
    finally:
        await running.stop()
        if bus is not None:
            await bus.close()


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--stable", required=True)
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--grpc-port", type=int, required=True)
    parser.add_argument("--nats")
    parser.add_argument("--registry")
    a = parser.parse_args()
    asyncio.run(_serve(a.stable, a.http_port, a.grpc_port, a.nats, a.registry))
