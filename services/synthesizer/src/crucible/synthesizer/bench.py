"""`crucible bench synth`: generation throughput through the chain against a local endpoint with
200 ms latency and its own rate limit, as a ratio of that limit measured in the same run, and the
share of the generated records that pass the pipeline's stages (scrubber, scorer, dedup as
installed, found through the service entry points like `crucible run`).

Baseline: eight unpaced clients flood the same endpoint with raw requests; the requests it
answers per second are its real limit (the configured one, as the server enforces it, on this
machine, now). The chain makes two requests per conversation, so the ceiling for conversations/s
is half that."""

from __future__ import annotations

import asyncio
import os
import random
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from crucible.synthesizer.chain import FallbackChain
from crucible.synthesizer.generate import run_plan
from crucible.synthesizer.ledger import Ledger
from crucible.synthesizer.loopback import loopback_provider
from crucible.synthesizer.plan import manual_plan
from crucible.synthesizer.policy import EndpointPolicy, SynthesizerPolicy
from crucible.synthesizer.templates import load_templates
from crucible.v1 import records_pb2

LATENCY = 0.2
ENDPOINT_LIMIT = 30.0  # requests/s the endpoint serves; below what 8 clients at 200 ms could ask (40/s)
CONCURRENCY = 8


async def _flood(url: str, seconds: float) -> float:
    """Answered requests/s of eight unpaced clients (the endpoint's own limit)."""
    body = {"model": "m", "messages": [{"role": "user", "content": "hello"}], "seed": 1}
    answered = 0
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient() as client:

        async def worker() -> None:
            nonlocal answered
            while time.monotonic() < deadline:
                r = await client.post(url + "/v1/chat/completions", json=body, timeout=5)
                answered += r.status_code == 200

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return answered / (time.monotonic() - started)


async def _generate(url: str, n: int, artifacts_root: Path) -> tuple[dict[str, Any], list[records_pb2.Record]]:
    from crucible.common.artifacts import ArtifactStore

    ep = EndpointPolicy(
        name="local", url=url, model="loopback", rate_per_second=ENDPOINT_LIMIT, burst=CONCURRENCY, retries=3
    )
    policy = SynthesizerPolicy(endpoints=[ep], concurrency=CONCURRENCY)
    plan = manual_plan("empathetic_dialogue", n, seed=1000)
    ledger = Ledger(ArtifactStore(artifacts_root.as_uri()), plan.plan_id)
    async with FallbackChain([ep], rng=random.Random(0)) as chain:
        report = await run_plan(plan, chain, ledger, policy, load_templates("v1"), secret=b"bench", run_id="bench")
    records = [records_pb2.Record.FromString(o.record) for o in ledger.outcomes() if o.status == "generated"]
    return report.to_dict(), records


def pipeline_pass(records: list[records_pb2.Record], home: Path, min_quality: float = 0.0) -> dict[str, Any]:
    """Run the records through every installed data-plane stage from records.raw on, in order
    (`min_quality` > 0: the scorer threshold the records ask for, as `synthesizer.min_quality` sets it)."""
    from crucible.common.config import Settings
    from crucible.common.runtime import Runtime
    from crucible.common.services import discover_services

    runtime = Runtime.create(Settings(home=home, subject_secret="bench", log_json=False))
    specs = {s.consumes: s for s in discover_services().values() if s.build_stage is not None and s.consumes}
    batch, subject, stages, rejected = [], "records.raw", [], Counter()
    for record in records:
        copy = records_pb2.Record()
        copy.CopyFrom(record)
        copy.extraction.min_quality = min_quality
        batch.append(copy)
    try:
        while subject in specs and batch:
            spec = specs[subject]
            result = spec.build_stage(runtime).stage.process(batch)
            for r in result.rejected:
                rejected[f"{spec.name}:{r.reason}"] += 1
            rejected[f"{spec.name}:held"] += len(result.held)
            batch = list(result.kept)
            stages.append({"stage": spec.name, "kept": len(batch)})
            if spec.produces is None:
                break
            subject = spec.produces
    finally:
        runtime.registry.dispose()
    duplicates = sum(1 for r in batch if r.dedup.duplicate_of)
    passed = len(batch) - duplicates
    return {
        "stages": stages,
        "rejected": {k: v for k, v in sorted(rejected.items()) if v},
        "duplicates": duplicates,
        "passed": passed,
        "share": round(passed / len(records), 4) if records else 0.0,
    }


def run_bench(quick: bool = False) -> dict[str, Any]:
    """Conversations/s at concurrency 8 vs the endpoint's own limit (same run); share passing the pipeline."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    n = 40 if quick else 200
    with (
        tempfile.TemporaryDirectory() as tmp,
        loopback_provider(latency=LATENCY, rate_limit=ENDPOINT_LIMIT) as (
            url,
            state,
        ),
    ):
        baseline_rps = asyncio.run(_flood(url, 3.0 if quick else 8.0))
        time.sleep(1.0)  # let the endpoint's bucket refill
        state.log.clear()
        report, records = asyncio.run(_generate(url, n, Path(tmp) / "artifacts"))
        served = Counter(s.outcome for s in state.log)
        conv_per_s = report["generated"] / report["seconds"] if report["seconds"] else 0.0
        limit_conv_per_s = baseline_rps / 2
        pipeline = pipeline_pass(records, Path(tmp) / "home")
    return {
        "bench": "synth",
        "conversations": n,
        "concurrency": CONCURRENCY,
        "endpoint_latency_s": LATENCY,
        "endpoint_configured_limit_rps": ENDPOINT_LIMIT,
        "baseline_endpoint_rps": round(baseline_rps, 2),
        "limit_conversations_per_s": round(limit_conv_per_s, 3),
        "conversations_per_s": round(conv_per_s, 3),
        "ratio": round(conv_per_s / limit_conv_per_s, 3) if limit_conv_per_s else 0.0,
        "target_ratio": 0.9,
        "generated": report["generated"],
        "rejected_at_generation": report["rejected"],
        "failed": report["failed"],
        "endpoint_responses": dict(served),
        "seconds": report["seconds"],
        "pipeline": pipeline,
        "pipeline_pass_share": pipeline["share"],
    }
