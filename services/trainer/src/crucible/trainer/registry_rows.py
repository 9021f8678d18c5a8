"""The trainer's rows in the registry: the `training_jobs` row a job keeps up to date (status,
reason, last checkpoint) and the `models` row a finished job registers, with its adapter, merged
model and card in the artifact store. Under a multi-GPU launcher only rank 0 writes."""

from __future__ import annotations

import datetime as dt
import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from crucible.common import lifecycle
from crucible.common.registry import DatasetVersion, ModelVersion, TrainingJob
from crucible.trainer.card import model_card
from crucible.trainer.inputs import PreferenceData, TrainingData
from crucible.trainer.naming import model_name
from crucible.trainer.policy import TrainerPolicy, TrainingPolicy
from crucible.trainer.request import TrainOutcome, TrainRequest, TrainResult

if TYPE_CHECKING:
    from crucible.common.runtime import Runtime

ACTOR = "trainer"  # who the lifecycle log names for a model's creation


@dataclass(frozen=True)
class JobRow:
    job_id: str
    status: str
    last_checkpoint: str
    last_step: int
    model_name: str


def inherits_forget_mark(version: DatasetVersion | None, trained_manifest_sha256: str) -> bool:
    """A model trained from a version marked `contains_forgotten_subject` is marked too, unless it
    read the version's redacted revision (files re-materialised without the forgotten people:
    the manifest it read is the version's current one). A job that read the files before a
    redaction carries the old manifest's sha256 and keeps the mark."""
    if version is None or not version.contains_forgotten_subject:
        return False
    redacted = (version.counts or {}).get("revision") == "redacted"
    return not (redacted and trained_manifest_sha256 and trained_manifest_sha256 == version.manifest_sha256)


def is_main_process() -> bool:
    return os.environ.get("RANK", "0") == "0"


def job_row(runtime: Runtime, job_id: str) -> JobRow | None:
    with runtime.registry.session() as s:
        row = s.get(TrainingJob, job_id)
        if row is None:
            return None
        return JobRow(row.job_id, row.status, row.last_checkpoint, row.last_step, row.model_name)


def upsert_job(runtime: Runtime, job_id: str, **values: Any) -> None:
    if not is_main_process():
        return
    with runtime.registry.session() as s:
        row = s.get(TrainingJob, job_id)
        if row is None:
            row = TrainingJob(job_id=job_id)
            s.add(row)
        for key, value in values.items():
            setattr(row, key, value)


def finished_outcome(runtime: Runtime, job_id: str, name: str) -> TrainOutcome:
    """The outcome of a job that already registered `name` (a redelivered request)."""
    with runtime.registry.session() as s:
        mv = s.get(ModelVersion, name)
        if mv is None:
            return TrainOutcome(job_id=job_id, status="succeeded", model_name=name)
        return TrainOutcome(
            job_id=job_id,
            status="succeeded",
            model_name=name,
            adapter_uri=mv.adapter_uri,
            merged_uri=mv.merged_uri,
            base_model=mv.base_model,
            dataset_version=mv.dataset_version,
            metrics={k: float(v) for k, v in (mv.metrics or {}).items() if isinstance(v, int | float)},
            init_from=dict((mv.card or {}).get("init_from") or {}),
        )


def register_model(
    runtime: Runtime,
    request: TrainRequest,
    policy: TrainerPolicy,
    data: TrainingData | PreferenceData,
    result: TrainResult,
    outcome: TrainOutcome,
    *,
    training: TrainingPolicy | None = None,
) -> None:
    """Upload the adapter (and merged model), write the model card, register the version."""
    from sqlalchemy import func, select

    store = runtime.artifacts
    today = dt.datetime.now(dt.UTC).date()
    with runtime.registry.session() as s:
        seq = int(s.scalar(select(func.max(ModelVersion.seq))) or 0) + 1
        dsv = s.get(DatasetVersion, data.dataset_version)
        forgotten = inherits_forget_mark(dsv, data.manifest_sha256)
    name = model_name(seq, result.base_model, today)
    prefix = f"models/{name}"
    outcome.model_name = name
    outcome.adapter_uri = store.put_dir(result.adapter_dir, f"{prefix}/adapter")
    if policy.merge:
        from crucible.trainer.hf_training import merge_adapter

        merged_dir = merge_adapter(result.load_from, result.adapter_dir, result.work / "merged")
        outcome.merged_uri = store.put_dir(merged_dir, f"{prefix}/merged")
    card = model_card(policy, data, result, outcome, training=training)
    store.write_json(f"{prefix}/card.json", card)
    finite = {k: v for k, v in outcome.metrics.items() if not math.isnan(v)}
    with runtime.registry.session() as s:
        mv = ModelVersion(
            name=name,
            seq=seq,
            job_id=request.job_id,
            base_model=result.base_model,
            dataset_version=data.dataset_version,
            status=lifecycle.TRAINED,
            pool=policy.pool,
            adapter_uri=outcome.adapter_uri,
            merged_uri=outcome.merged_uri,
            metrics=finite,
            card=card,
            contains_forgotten_subject=forgotten,
        )
        s.add(mv)
        s.flush()
        start = result.init_from
        lifecycle.record_created(
            s,
            mv,
            reason=f"{result.objective} job {request.job_id} on dataset {data.dataset_version or '(local files)'}, "
            f"from {start['kind']} {start['model']}",
            actor=ACTOR,
        )
        job = s.get(TrainingJob, request.job_id)
        if job is not None:
            job.status = "succeeded"
            job.reason = ""
            job.model_name = name
            job.base_model = result.base_model
