"""Trainer service shell: the `train` hook for `crucible run`, the event handlers (train.requested,
one job at a time per replica; dataset.ready -> train.requested when the policy asks), the CLI
and the bench. The work itself is `job.run_job`, the one way a job runs."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from crucible.common import subjects
from crucible.common.services import EventHandler, ServiceSpec, deferred
from crucible.trainer import __version__

if TYPE_CHECKING:
    from google.protobuf.message import Message

    from crucible.common.runtime import Runtime
    from crucible.trainer.policy import TrainerPolicy
    from crucible.trainer.request import TrainOutcome, TrainRequest
    from crucible.v1 import events_pb2

log = logging.getLogger(__name__)


def new_job_id() -> str:
    import datetime as dt

    return "train-" + dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


def bus_emitter(runtime: Runtime, loop: asyncio.AbstractEventLoop) -> Callable[[str, Message], None]:
    """Publish from the training thread on the event loop's bus, waiting for the PubAck so
    events keep their order and a lost bus is an error, not a silent gap."""
    bus = runtime.require_bus()

    def emit(name: str, msg: Message) -> None:
        asyncio.run_coroutine_threadsafe(bus.publish_event(name, msg), loop).result(timeout=60)

    return emit


async def run_training(
    runtime: Runtime,
    request: TrainRequest,
    *,
    on_event: Callable[[str, Message], None] | None = None,
    callbacks: Sequence[Any] = (),
) -> TrainOutcome:
    """Run one job in a worker thread (training is CPU/GPU bound), publishing its events."""
    from crucible.trainer.job import run_job

    publish = bus_emitter(runtime, asyncio.get_running_loop())

    def emit(name: str, msg: Message) -> None:
        publish(name, msg)
        if on_event is not None:
            on_event(name, msg)

    return await asyncio.to_thread(run_job, runtime, request, emit, callbacks=callbacks)


async def train_hook(runtime: Runtime, dataset_version: str) -> dict[str, Any]:
    """`crucible run`: train on a dataset version with the policy, register, publish model.trained."""
    from crucible.trainer.request import TrainingFailed, TrainRequest

    outcome = await run_training(runtime, TrainRequest(job_id=new_job_id(), dataset_version=dataset_version))
    if outcome.status != "succeeded":
        raise TrainingFailed(outcome)
    return outcome.as_dict()


async def base_model_hook(runtime: Runtime) -> dict[str, Any]:
    """`crucible run`: the base model training will start from (the tiny model is built on demand),
    for a step that needs a model to serve before training, such as the synthesizer's tgi-dev."""
    from crucible.trainer.hf_training import resolve_base_model

    path, name = await asyncio.to_thread(resolve_base_model, runtime, runtime.policy.section("trainer"))
    return {"path": path, "name": name}


async def train_dpo_hook(runtime: Runtime, dataset_version: str) -> dict[str, Any]:
    """`crucible run`'s preference round: DPO on a preference dataset version, same job machinery."""
    from crucible.trainer.request import TrainingFailed, TrainRequest

    request = TrainRequest(job_id=new_job_id(), dataset_version=dataset_version, method="dpo")
    outcome = await run_training(runtime, request)
    if outcome.status != "succeeded":
        raise TrainingFailed(outcome)
    return outcome.as_dict()


def request_from_event(msg: events_pb2.TrainRequested) -> TrainRequest:
    from crucible.trainer.request import TrainRequest

    return TrainRequest(
        job_id=msg.job_id or new_job_id(),
        dataset_version=msg.dataset_version,
        base_model=msg.base_model,
        overrides=dict(msg.overrides),
        deepspeed="zero2" if msg.deepspeed and "deepspeed" not in msg.overrides else "",
    )


async def on_train_requested(runtime: Runtime, payload: bytes) -> None:
    """One job per train.requested (the consumer allows one event in flight, so each replica
    runs one job; a redelivered job resumes from its checkpoint)."""
    from crucible.v1 import events_pb2

    req = request_from_event(events_pb2.TrainRequested.FromString(payload))
    outcome = await run_training(runtime, req)
    log.info("training job %s %s %s", outcome.job_id, outcome.status, outcome.model_name or outcome.reason)


async def on_dataset_ready(runtime: Runtime, payload: bytes) -> None:
    """dataset.ready -> train.requested, when the policy trains on every new version."""
    from crucible.v1 import events_pb2

    ready = events_pb2.DatasetReady.FromString(payload)
    req = events_pb2.TrainRequested(job_id=f"train-{ready.dataset_version}", dataset_version=ready.dataset_version)
    req.requested_at.GetCurrentTime()
    # The msg id makes a redelivered dataset.ready request the job once.
    await runtime.require_bus().publish_event(
        subjects.TRAIN_REQUESTED, req, msg_id=f"train-requested:{ready.dataset_version}"
    )


def auto_train(runtime: Runtime) -> bool:
    policy: TrainerPolicy = runtime.policy.section("trainer")
    return policy.auto_train_on_dataset_ready


SPEC = ServiceSpec(
    name="trainer",
    version=__version__,
    description="LoRA/QLoRA fine-tuning, SFT or DPO (PEFT + Transformers/TRL, DeepSpeed ZeRO-2/3)",
    order=60,
    policy_model="crucible.trainer.policy:TrainerPolicy",
    policy_sections={"training": "crucible.trainer.policy:TrainingPolicy"},
    events={
        subjects.TRAIN_REQUESTED: EventHandler(subjects.TRAINER_REQUESTS, on_train_requested, ack_wait=600),
        subjects.DATASET_READY: EventHandler(
            subjects.TRAINER_AUTO, on_dataset_ready, deliver_new_only=True, enabled=auto_train
        ),
    },
    publishes=(subjects.TRAIN_REQUESTED, subjects.TRAIN_PROGRESS, subjects.MODEL_TRAINED),
    register_cli=deferred("crucible.trainer.cli:register"),
    benches={
        "train": deferred(
            "crucible.trainer.bench:bench_train",
            doc="Training tokens/s with packing vs padding (effective non-pad tokens/s), tiny model, same run.",
        )
    },
    hooks={"train": train_hook, "base_model": base_model_hook, "train_dpo": train_dpo_hook},
)
