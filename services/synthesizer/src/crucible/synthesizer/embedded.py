"""`crucible run`'s synthesis step: plan from the version just built, generate through the chain,
validate, and publish what is admitted; the pipeline then feeds what was published through the
stages and builds the version again.

With no provider configured the chain's one endpoint is Crucible's own tgi-dev. When nothing
answers at its address, this step starts one as a child process serving the run's base model
(the trainer's tiny model on the embedded defaults) for the duration of the step, and plans at
most `EMBEDDED_MAX_ITEMS` conversations: a tiny model's text only shows the path, and the
scorer and the distribution check are expected to reject it — the summary says by which reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from crucible.common.runtime import Runtime
from crucible.synthesizer.plan import manifest_needs, plan_from_manifest
from crucible.synthesizer.policy import TGI_DEV, EndpointPolicy, SynthesizerPolicy
from crucible.synthesizer.synthesis import generate, latest_manifest, settle, synth_policy

log = logging.getLogger(__name__)

EMBEDDED_MAX_ITEMS = 8
_START_TIMEOUT = 180.0


async def synthesize_hook(runtime: Runtime, dataset_version: str, base_model: str = "") -> dict[str, Any]:
    """hooks["synthesize"]: fill `dataset_version`'s deficits; `published` tells the pipeline to
    feed the stages and rebuild. `base_model`: a local model folder tgi-dev can serve when the
    chain is the default one and nothing answers there."""
    policy = synth_policy(runtime)
    manifest = latest_manifest(runtime, dataset_version)
    if manifest is None:
        return {"skipped": f"no manifest for dataset version {dataset_version}", "published": 0}
    needs = manifest_needs(manifest)
    out: dict[str, Any] = {
        "dataset_version": dataset_version,
        "deficits_before": needs["category_deficits"],
        "fairness_before": needs["fairness_score"],
        "published": 0,
    }
    async with _chain(policy, base_model, Path(runtime.settings.home) / "logs") as (chained, note):
        if chained is None:
            out["skipped"] = note
            return out
        max_items = policy.max_per_plan if not note else min(policy.max_per_plan, EMBEDDED_MAX_ITEMS)
        plan = plan_from_manifest(manifest, seed=policy.seed, max_items=max_items, cap=policy.synthetic_cap)
        out["plan"] = {"plan_id": plan.plan_id, "reason": plan.reason, "by_category": dict(plan.by_category)}
        if note:
            out["endpoint"] = note
        if not plan.items:
            out["skipped"] = f"nothing to synthesize ({plan.reason})"
            return out
        report = await generate(runtime, plan, policy=chained)
        state = await settle(runtime, plan.plan_id, policy=chained)
    out["generation"] = report.to_dict()
    out["admission"] = {
        k: state[k] for k in ("status", "generated", "rejected", "admissible", "published") if k in state
    }
    out["published"] = int(state.get("published", 0))
    return out


@contextlib.asynccontextmanager
async def _chain(
    policy: SynthesizerPolicy, base_model: str, log_dir: Path
) -> AsyncIterator[tuple[SynthesizerPolicy | None, str]]:
    """(the policy to generate with, a note when this step started its own tgi-dev) or (None, why
    there is no endpoint). A configured chain is used as it is."""
    default = EndpointPolicy(**TGI_DEV)
    if policy.endpoints != [default] or await _answers(default.url):
        yield policy, ""
        return
    if not base_model or not (Path(base_model) / "config.json").exists():
        yield None, f"no endpoint: nothing answers at {default.url} (tgi-dev) and no local base model to serve"
        return
    port = _free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"synthesizer-tgi-dev-{port}.log"
    cmd = [sys.executable, "-m", "crucible.tgidev", "--model", base_model, "--port", str(port)]
    with log_path.open("wb") as sink:
        proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT, env={**os.environ})
    try:
        url = f"http://127.0.0.1:{port}"
        await _wait_healthy(url, proc, log_path)
        chained = policy.model_copy(update={"endpoints": [default.model_copy(update={"url": url})]})
        log.info("synthesizer: started tgi-dev on %s serving %s (log %s)", url, base_model, log_path)
        yield chained, f"tgi-dev started for this step on {url}, serving {base_model}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


async def _answers(url: str) -> bool:
    try:
        async with httpx.AsyncClient(timeout=1.0) as client:
            return (await client.get(f"{url}/health")).status_code == 200
    except httpx.HTTPError:
        return False


async def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"tgi-dev exited with {proc.returncode}; see {log_path}")
        if await _answers(url):
            return
        await asyncio.sleep(0.25)
    raise RuntimeError(f"tgi-dev did not answer within {_START_TIMEOUT:.0f}s; see {log_path}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
