"""The dataset service shell: the stage (intake + curated store sink), the `build` hook, the
serve loop (automatic builds), the `subject.forget` handler, the CLI and the bench."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import TYPE_CHECKING, Any

from crucible.common import subjects
from crucible.common.services import EventHandler, ServiceSpec, deferred
from crucible.dataset import __version__

if TYPE_CHECKING:  # the rest loads SQLAlchemy, numpy, protobuf: only in the function that needs it
    from crucible.common.runtime import Runtime
    from crucible.common.stage import StageBlock
    from crucible.dataset.forget import ForgetReport

log = logging.getLogger(__name__)


def build_stage(runtime: Runtime) -> StageBlock:
    """The intake (normalise, reject what cannot be curated) and the curated store it fills."""
    from crucible.common.stage import StageBlock
    from crucible.dataset.intake import DatasetIntake
    from crucible.dataset.store import CuratedSink
    from crucible.dataset.versions import dataset_policy

    return StageBlock(DatasetIntake(dataset_policy(runtime).category_mix), CuratedSink(runtime.registry))


async def build(runtime: Runtime) -> dict[str, Any]:
    """Build a version from the curated store; publish `dataset.ready` when a bus is connected and the
    fairness gate allows (enforce: a version below the target is built and reported, not published for
    training; the next version that meets the target, after synthesis or new data, is)."""
    from crucible.dataset.policy import effective_fairness_gate
    from crucible.dataset.versions import (
        artifact_prefix,
        build_dataset_version,
        dataset_policy,
        dataset_ready_event,
        version_summary,
    )

    built = await asyncio.to_thread(build_dataset_version, runtime)
    manifest_uri = runtime.artifacts.uri(f"{artifact_prefix(built.version)}/manifest.json")
    summary = version_summary(built, manifest_uri)
    gate = effective_fairness_gate(dataset_policy(runtime), embedded=runtime.settings.nats_url is None)
    summary["fairness_gate"] = gate
    if built.below_fairness_target and gate != "off":
        why = f"fairness {built.fairness_score:.1f} is below the target {summary['fairness_target']:g}"
        if gate == "enforce":
            summary["withheld"] = f"{why} (dataset.fairness_gate: enforce): not published for training"
            log.warning("dataset %s withheld: %s", built.version, summary["withheld"])
            return summary
        summary["warning"] = f"{why} (dataset.fairness_gate: warn): published anyway"
    if runtime.bus is not None:
        await runtime.bus.publish_event(
            subjects.DATASET_READY, dataset_ready_event(built, manifest_uri), msg_id=f"dataset.ready:{built.version}"
        )
        summary["published"] = subjects.DATASET_READY
    return summary


async def preferences(runtime: Runtime, rated: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """`crucible run`: build a preference version from the feedback the gateway stored (joined to
    its scrubbed interaction records), the rated exchanges handed in for answers the gateway did
    not publish, the review queue and the evaluator's verdicts."""
    from crucible.common.feedback import feedback_examples
    from crucible.dataset.builder import DatasetBuildError
    from crucible.dataset.forget import subject_token_for
    from crucible.dataset.preference_build import build_preference_dataset, preference_summary
    from crucible.dataset.preferences import row_from_exchange, row_from_feedback_example

    secret = runtime.subject_secret()
    stored = [row_from_feedback_example(x) for x in await asyncio.to_thread(feedback_examples, runtime.registry)]
    known = {r.response_id for r in stored}
    handed = [
        row_from_exchange(x, subject_token_for(secret, str(x.get("user", ""))))
        for x in rated or []
        if str(x.get("response_id", "")) not in known
    ]
    rows = stored + handed
    ratings = dict(sorted(Counter(str(r.rating) for r in rows).items()))
    try:
        built = await asyncio.to_thread(build_preference_dataset, runtime, rows)
    except DatasetBuildError as err:
        # Too little feedback yet is a normal state of the loop, not a failed run.
        return {
            "skipped": str(err),
            "feedback_rows": len(rows),
            "feedback_rows_stored": len(stored),
            "ratings": ratings,
            "pairs": 0,
        }
    from crucible.dataset.versions import artifact_prefix

    summary = preference_summary(built, runtime.artifacts.uri(f"{artifact_prefix(built.version)}/manifest.json"))
    summary["feedback_rows"] = len(rows)
    summary["feedback_rows_stored"] = len(stored)
    summary["ratings"] = ratings
    return summary


async def forget(runtime: Runtime, subject_token: str, record_ids: set[str] | None = None) -> ForgetReport:
    """Forget one subject in the curated store and the dataset versions (`crucible forget` does
    every store through `forgetting.forget_subject_everywhere`; this is the dataset's part)."""
    from crucible.dataset.forget import forget_subject

    report = await asyncio.to_thread(forget_subject, runtime, subject_token, record_ids)
    log.info(
        "forgot subject: removed %d records, versions %s, marked models %s",
        report.removed_records,
        report.marked_versions,
        report.marked_models,
    )
    return report


async def maybe_auto_build(runtime: Runtime) -> dict[str, Any] | None:
    """Build when at least `auto_build_min_new_records` records arrived since the last version."""
    from crucible.dataset.store import count_new_since_last_version
    from crucible.dataset.versions import dataset_policy

    threshold = dataset_policy(runtime).auto_build_min_new_records
    new = await asyncio.to_thread(count_new_since_last_version, runtime.registry)
    if new < threshold:
        return None
    log.info("%d new curated records (threshold %d): building a dataset version", new, threshold)
    return await build(runtime)


async def on_forget(runtime: Runtime, payload: bytes) -> None:
    """A `subject.forget` event (from `crucible forget`, or published by the app itself): forget
    the subject it names in the dataset store (idempotent: usually already done by the command)."""
    from crucible.v1 import events_pb2

    event = events_pb2.SubjectForget.FromString(payload)
    await forget(runtime, event.subject_token, set(event.record_ids))


async def serve(runtime: Runtime) -> None:
    """Production loop: auto-build on new records. Runs until cancelled."""
    from crucible.dataset.versions import dataset_policy

    while True:
        try:
            await maybe_auto_build(runtime)
        except Exception:
            log.exception("automatic dataset build failed")
        await asyncio.sleep(dataset_policy(runtime).auto_build_check_seconds)


def run_summary(runtime: Runtime, run_id: str) -> dict[str, Any]:
    from crucible.dataset.versions import list_versions

    versions = list_versions(runtime.registry)
    if not versions:
        return {"versions": 0}
    last = versions[-1]
    return {"versions": len(versions), "latest": last["version"], "records": last["records"],
            "fairness_score": last["fairness_score"]}  # fmt: skip


SPEC = ServiceSpec(
    name="dataset",
    version=__version__,
    description="Curated store -> audited, balanced, leakage-free dataset versions; forget",
    order=50,
    consumes="records.curated",
    produces=None,
    policy_model="crucible.dataset.policy:DatasetPolicy",
    build_stage=build_stage,
    events={subjects.SUBJECT_FORGET: EventHandler(subjects.DATASET_FORGET, on_forget)},
    publishes=(subjects.DATASET_READY,),
    serve=serve,
    register_cli=deferred("crucible.dataset.cli:register"),
    benches={
        "dataset": deferred(
            "crucible.dataset.bench:bench_dataset",
            doc="Time to build a version from 100,000 generated curated records, and peak memory.",
        )
    },
    run_summary=run_summary,
    subject_stores=("crucible.dataset.subject_store:STORE",),
    hooks={"build": build, "forget": forget, "preferences": preferences},
)
