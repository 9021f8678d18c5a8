"""One training job, end to end: inputs -> LoRA/QLoRA training with checkpoints in the artifact
store -> the best checkpoint by validation loss -> adapter (+ merged model) and model card ->
registry rows. Synchronous (it runs in a worker thread); events go out through `emit`.

A restarted job (same job id) resumes from its last checkpoint in the artifact store. Every
failure ends as a failed `TrainingJob` row with the reason, and `model.trained` status=failed.

The parts: `request` (types in and out), `hf_training` (Transformers + PEFT, callbacks),
`init_from` (the starting adapter), `checkpoints`, `registry_rows`, `card`."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import yaml
from google.protobuf.message import Message

from crucible.common import subjects
from crucible.common.config import ConfigError, validate_section
from crucible.trainer import instruments
from crucible.trainer.inputs import (
    PreferenceData,
    TrainingData,
    TrainingInputError,
    data_from_files,
    data_from_registry,
    preference_data_from_files,
    preference_data_from_registry,
)
from crucible.trainer.policy import TrainerPolicy, TrainingPolicy
from crucible.trainer.registry_rows import finished_outcome, is_main_process, job_row, register_model, upsert_job
from crucible.trainer.request import Emit, TrainOutcome, TrainRequest

if TYPE_CHECKING:
    from crucible.common.runtime import Runtime

log = logging.getLogger(__name__)


def effective_policy(base: TrainerPolicy, request: TrainRequest) -> TrainerPolicy:
    """The policy for one job: the section plus the request's overrides (strings are parsed as YAML
    scalars, so `learning_rate: "1e-3"` from a TrainRequested map becomes a number)."""
    raw = base.model_dump()
    for key, value in request.overrides.items():
        if key.startswith(TRAINING_PREFIX):
            continue  # the `training` section's (effective_training)
        raw[key] = yaml.safe_load(value) if isinstance(value, str) else value
    if request.base_model:
        raw["base_model"] = request.base_model
    if request.deepspeed:
        raw["deepspeed"] = request.deepspeed
    try:
        policy = validate_section("trainer", TrainerPolicy, raw)
    except ConfigError as err:
        raise TrainingInputError(str(err)) from None
    assert isinstance(policy, TrainerPolicy)
    return policy


TRAINING_PREFIX = "training."


def effective_training(base: TrainingPolicy, request: TrainRequest) -> TrainingPolicy:
    """The `training` section for one job: overrides named `training.<key>` (a TrainRequested map
    carries them that way), then the request's method."""
    raw = base.model_dump()
    for key, value in request.overrides.items():
        if key.startswith(TRAINING_PREFIX):
            raw[key.removeprefix(TRAINING_PREFIX)] = yaml.safe_load(value) if isinstance(value, str) else value
    if request.method:
        raw["method"] = request.method
    try:
        training = validate_section("training", TrainingPolicy, raw)
    except ConfigError as err:
        raise TrainingInputError(str(err)) from None
    assert isinstance(training, TrainingPolicy)
    return training


def training_section(runtime: Runtime) -> TrainingPolicy:
    """The policy's `training` section; its defaults where the policy was loaded without it."""
    try:
        section = runtime.policy.section("training")
    except ConfigError:
        return TrainingPolicy()
    assert isinstance(section, TrainingPolicy)
    return section


def run_job(
    runtime: Runtime,
    request: TrainRequest,
    emit: Emit,
    *,
    callbacks: Sequence[Any] = (),
) -> TrainOutcome:
    """Run (or resume) one job; never raises for a failed job: the outcome says so, the registry
    has the reason, and `model.trained` (status failed) has been emitted."""
    from crucible.trainer.hf_training import configure_threads, train_model

    configure_threads()
    if not is_main_process():
        # Under a multi-GPU launcher every rank trains; only rank 0 writes the registry,
        # the artifact store and the bus.
        emit = _silent
    started = time.perf_counter()
    existing = job_row(runtime, request.job_id)
    if existing is not None and existing.status == "succeeded" and existing.model_name:
        # A redelivered request for a finished job: report what it produced, train nothing.
        return finished_outcome(runtime, request.job_id, existing.model_name)
    outcome = TrainOutcome(job_id=request.job_id, status="failed", dataset_version=request.dataset_version)
    try:
        policy = effective_policy(runtime.policy.section("trainer"), request)
        training = effective_training(training_section(runtime), request)
        outcome.objective = training.method
        outcome.base_model = policy.base_model or "tiny-base"
        upsert_job(runtime, request.job_id, status="running", reason="", dataset_version=request.dataset_version)
        data: TrainingData | PreferenceData
        if training.method == "dpo":
            from crucible.trainer.dpo_training import train_dpo

            data = _load_preferences(runtime, request)
            outcome.dataset_version = data.dataset_version
            upsert_job(runtime, request.job_id, dataset_version=data.dataset_version)
            result = train_dpo(runtime, request, policy, training, data, emit, callbacks, existing)
        else:
            data = _load_data(runtime, request)
            outcome.dataset_version = data.dataset_version
            upsert_job(runtime, request.job_id, dataset_version=data.dataset_version)
            result = train_model(runtime, request, policy, data, emit, callbacks, existing)
        outcome.base_model = result.base_model
        outcome.resumed_from_step = result.resumed_from_step
        outcome.init_from = result.init_from
        outcome.metrics = result.metrics | {"train_seconds": round(time.perf_counter() - started, 3)}
        if is_main_process():
            register_model(runtime, request, policy, data, result, outcome, training=training)
        outcome.status = "succeeded"
    except TrainingInputError as exc:
        outcome.reason = str(exc)
    except Exception as exc:
        outcome.reason = _failure_reason(exc)
        log.exception("training job %s failed", request.job_id)
    if outcome.status == "failed":
        upsert_job(runtime, request.job_id, status="failed", reason=outcome.reason[:4000])
    instruments.TRAIN_JOBS.labels(outcome.status).inc()
    emit(subjects.MODEL_TRAINED, outcome.as_event())
    return outcome


def _failure_reason(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, MemoryError) or "out of memory" in str(exc).lower() or type(exc).__name__ == "OutOfMemoryError":
        return f"out_of_memory: {text}"
    return text


def _load_data(runtime: Runtime, request: TrainRequest) -> TrainingData:
    if request.train_file is not None or request.val_file is not None:
        if request.train_file is None or request.val_file is None:
            raise TrainingInputError("a local dataset needs both a train file and a val file")
        return data_from_files(request.train_file, request.val_file, label=request.dataset_version)
    if not request.dataset_version:
        raise TrainingInputError("no dataset version given")
    return data_from_registry(runtime, request.dataset_version)


def _load_preferences(runtime: Runtime, request: TrainRequest) -> PreferenceData:
    if request.train_file is not None or request.val_file is not None:
        if request.train_file is None or request.val_file is None:
            raise TrainingInputError("local preference pairs need both a train file and a val file")
        return preference_data_from_files(request.train_file, request.val_file, label=request.dataset_version)
    if not request.dataset_version:
        raise TrainingInputError("no dataset version given")
    return preference_data_from_registry(runtime, request.dataset_version)


def _silent(name: str, msg: Message) -> None:
    return None
