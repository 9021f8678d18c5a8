"""The synthesizer's job, step by step (the shell around the pure modules): read the latest
dataset version's needs, plan, generate through the chain, validate, queue a review sample,
publish what is admitted. `crucible synth ...` and `crucible serve synthesizer` both call these."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import fsspec
from sqlalchemy import select

from crucible.common.registry import DatasetVersion
from crucible.common.runtime import Runtime
from crucible.synthesizer.admission import (
    Embedder,
    admissible,
    publish_records,
    queue_for_review,
    review_sample,
    review_status,
    validate_batch,
)
from crucible.synthesizer.chain import FallbackChain
from crucible.synthesizer.generate import RunReport, run_plan
from crucible.synthesizer.ledger import Ledger
from crucible.synthesizer.plan import Plan, plan_from_manifest
from crucible.synthesizer.policy import SynthesizerPolicy
from crucible.synthesizer.templates import load_templates
from crucible.v1 import records_pb2

log = logging.getLogger(__name__)


def synth_policy(runtime: Runtime) -> SynthesizerPolicy:
    policy = runtime.policy.section("synthesizer")
    assert isinstance(policy, SynthesizerPolicy)
    return policy


def latest_manifest(runtime: Runtime, version: str | None = None) -> dict[str, Any] | None:
    """The newest dataset version's manifest (or `version`'s), as the dataset service wrote it, or None."""
    with runtime.registry.session() as s:
        query = select(DatasetVersion).order_by(DatasetVersion.seq.desc()).limit(1)
        if version:
            query = select(DatasetVersion).where(DatasetVersion.version == version)
        row = s.scalars(query).first()
        uri = row.manifest_uri if row else ""
    if not uri:
        return None
    root = runtime.artifacts.uri("")
    if uri.startswith(root):
        return dict(runtime.artifacts.read_json(uri[len(root) :]))
    import json

    with fsspec.open(uri, "r") as fh:
        return dict(json.load(fh))


def plan_latest(runtime: Runtime) -> Plan | None:
    manifest = latest_manifest(runtime)
    if manifest is None:
        return None
    policy = synth_policy(runtime)
    return plan_from_manifest(manifest, seed=policy.seed, max_items=policy.max_per_plan, cap=policy.synthetic_cap)


async def generate(
    runtime: Runtime,
    plan: Plan,
    *,
    progress: Callable[[int, int], None] | None = None,
    policy: SynthesizerPolicy | None = None,
) -> RunReport:
    """Generate the plan's missing items (`policy`: the section, unless the caller changed its chain)."""
    policy = policy or synth_policy(runtime)
    templates = load_templates(policy.templates)
    ledger = Ledger(runtime.artifacts, plan.plan_id)
    async with FallbackChain(policy.endpoints) as chain:
        return await run_plan(
            plan,
            chain,
            ledger,
            policy,
            templates,
            secret=runtime.subject_secret(),
            run_id=runtime.run_id,
            progress=progress,
        )


def _default_embedder() -> Embedder:
    from crucible.synthesizer.embedding import embed

    return embed


async def settle(
    runtime: Runtime, plan_id: str, *, embed: Embedder | None = None, policy: SynthesizerPolicy | None = None
) -> dict[str, Any]:
    """Validate the plan's generated records; then publish them (auto-admit) or queue a review sample."""
    policy = policy or synth_policy(runtime)
    ledger = Ledger(runtime.artifacts, plan_id)
    state = ledger.read_state("admission") or {}
    if state.get("status") in {"admitted", "refused"}:
        return state
    by_category: dict[str, list[records_pb2.Record]] = defaultdict(list)
    rejected: dict[str, int] = defaultdict(int)
    for outcome in ledger.outcomes():
        if outcome.status == "generated":
            by_category[outcome.category].append(records_pb2.Record.FromString(outcome.record))
        else:
            rejected[outcome.reason] += 1
    validation = await asyncio.to_thread(
        validate_batch, dict(by_category), runtime.registry, policy, embed or _default_embedder()
    )
    records = admissible(ledger, validation)
    for category, verdict in validation.items():
        if not verdict["passed"]:
            rejected["distribution_drift"] += len(by_category[category])
            log.warning("plan %s: %s drifts: %s", plan_id, category, "; ".join(verdict["reasons"]))
    state = {
        "plan_id": plan_id,
        "generated": sum(len(v) for v in by_category.values()),
        "rejected": dict(rejected),
        "validation": validation,
        "admissible": len(records),
        "published": 0,
    }
    if not records:
        state["status"] = "nothing_to_admit"
    elif policy.review.auto_admit:
        state["published"] = await _publish(runtime, records)
        state["status"] = "admitted"
    else:
        sample = review_sample(records, policy.review.sample_size)
        await asyncio.to_thread(queue_for_review, runtime.registry, plan_id, sample)
        state["review_sample"] = [r.record_id for r in sample]
        state["status"] = "awaiting_review" if sample else "admitted"
        if not sample:
            state["published"] = await _publish(runtime, records)
    ledger.write_state("admission", state)
    return state


async def admit(runtime: Runtime, plan_id: str) -> dict[str, Any]:
    """After review: publish when every sampled record was approved; refuse when any was rejected."""
    ledger = Ledger(runtime.artifacts, plan_id)
    state = ledger.read_state("admission")
    if state is None:
        raise LookupError(f"plan {plan_id} has not been generated and validated (run `crucible synth run` first)")
    if state["status"] != "awaiting_review":
        return state
    counts = await asyncio.to_thread(review_status, runtime.registry, plan_id)
    state["review"] = counts
    if counts.get("rejected"):
        state["status"] = "refused"
    elif counts.get("pending"):
        return state
    else:
        state["published"] = await _publish(runtime, admissible(ledger, state["validation"]))
        state["status"] = "admitted"
    ledger.write_state("admission", state)
    return state


async def _publish(runtime: Runtime, records: list[records_pb2.Record]) -> int:
    bus = runtime.require_bus()
    return await publish_records(bus, records, runtime.policy.bus.records_per_message)
