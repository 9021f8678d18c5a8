"""Synthesizer service shell: `crucible serve synthesizer` plans and generates when a dataset
version with deficits is announced (`dataset.ready`, when policy `on_dataset_ready` allows);
the CLI (`crucible synth plan|run|review|admit`) and the bench are registered deferred."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from crucible.common import subjects
from crucible.common.services import EventHandler, ServiceSpec, deferred
from crucible.synthesizer import VERSION

if TYPE_CHECKING:  # the rest loads fsspec, httpx, NATS, SQLAlchemy: only in the function that needs it
    from crucible.common.runtime import Runtime
    from crucible.v1 import events_pb2

log = logging.getLogger(__name__)


async def on_dataset_ready(runtime: Runtime, event: events_pb2.DatasetReady) -> dict[str, Any] | None:
    """Plan from the announced version's manifest; generate and settle (validate, review or admit)."""
    import fsspec

    from crucible.synthesizer.plan import plan_from_manifest
    from crucible.synthesizer.synthesis import generate, settle, synth_policy

    policy = synth_policy(runtime)
    if not policy.on_dataset_ready:
        log.info("dataset %s ready; synthesizer.on_dataset_ready is off", event.dataset_version)
        return None
    root = runtime.artifacts.uri("")
    if event.manifest_uri.startswith(root):
        manifest = runtime.artifacts.read_json(event.manifest_uri[len(root) :])
    else:
        with fsspec.open(event.manifest_uri, "r") as fh:
            manifest = json.load(fh)
    plan = plan_from_manifest(manifest, seed=policy.seed, max_items=policy.max_per_plan, cap=policy.synthetic_cap)
    if not plan.items:
        log.info("dataset %s: nothing to synthesize (%s)", event.dataset_version, plan.reason)
        return None
    log.info("dataset %s: plan %s, %s (%s)", event.dataset_version, plan.plan_id, plan.by_category, plan.reason)
    report = await generate(runtime, plan)
    if report.failed:
        # The event is redelivered with back-off; the rerun generates only the missing items.
        raise RuntimeError(f"plan {plan.plan_id}: {report.failed} items found no endpoint: {report.errors[:1]}")
    state = await settle(runtime, plan.plan_id)
    log.info("plan %s: %s; admission %s", plan.plan_id, report.to_dict(), state["status"])
    return state


async def on_dataset_ready_event(runtime: Runtime, payload: bytes) -> None:
    """`dataset.ready`, one at a time (a failed plan is redelivered with back-off)."""
    from crucible.v1 import events_pb2

    await on_dataset_ready(runtime, events_pb2.DatasetReady.FromString(payload))


def run_summary(runtime: Runtime, run_id: str) -> dict[str, Any]:
    from crucible.synthesizer.ledger import Ledger, list_plans

    plans = list_plans(runtime.artifacts)
    states = [Ledger(runtime.artifacts, p).read_state("admission") or {} for p in plans]
    return {
        "plans": len(plans),
        "published": sum(int(s.get("published", 0)) for s in states),
        "awaiting_review": sum(1 for s in states if s.get("status") == "awaiting_review"),
    }


SPEC = ServiceSpec(
    name="synthesizer",
    version=VERSION,
    description="Dataset deficits -> generation plan -> conversations through a fallback chain of LLM endpoints "
    "-> records.raw (source.table = synthetic)",
    order=60,
    produces="records.raw",
    policy_model="crucible.synthesizer.policy:SynthesizerPolicy",
    events={subjects.DATASET_READY: EventHandler(subjects.SYNTHESIZER_READY, on_dataset_ready_event)},
    register_cli=deferred("crucible.synthesizer.cli:register"),
    benches={
        "synth": deferred(
            "crucible.synthesizer.bench:run_bench",
            doc="Conversations/s at concurrency 8 against a local 200 ms endpoint vs the endpoint's own limit, "
            "and the share of generated records that pass the pipeline.",
        )
    },
    run_summary=run_summary,
    hooks={"synthesize": deferred("crucible.synthesizer.embedded:synthesize_hook")},
)
