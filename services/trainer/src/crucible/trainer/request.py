"""What goes into a training job and what comes out of it: the request, the result of the
Hugging Face training run, and the outcome reported to the caller, the registry and the bus."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf.message import Message

from crucible.v1 import events_pb2

Emit = Callable[[str, Message], None]


@dataclass
class TrainRequest:
    job_id: str
    dataset_version: str = ""
    train_file: Path | None = None  # a local chat JSONL pair instead of a dataset version
    val_file: Path | None = None
    base_model: str = ""  # overrides the policy's
    overrides: Mapping[str, Any] = field(default_factory=dict)  # policy keys for this job
    deepspeed: str = ""  # "zero2" | "zero3" overrides the policy's
    method: str = ""  # "sft" | "dpo" overrides the policy's training.method


@dataclass(frozen=True)
class TrainResult:
    """What one Hugging Face training run produced, before anything is uploaded or registered."""

    base_model: str  # the name recorded in the registry (e.g. `tiny-base`)
    load_from: str  # the folder or hub id the base was loaded from
    adapter_dir: Path  # the best checkpoint's adapter, saved with the tokenizer
    work: Path  # the job's local working folder
    metrics: dict[str, float]
    resumed_from_step: int
    best_checkpoint: str
    device: str
    method: str  # "lora" | "qlora"
    dtype: str
    attention: str
    rows: dict[str, int]  # split -> rows after packing
    samples: dict[str, int]  # split -> samples with an assistant turn
    init_from: dict[str, str]  # {kind: serving|base, model, reason?}
    objective: str = "sft"  # "sft" | "dpo" (training.method)
    reference: dict[str, str] = field(default_factory=dict)  # dpo: {kind: adapter|base, model}


@dataclass
class TrainOutcome:
    job_id: str
    status: str  # succeeded | failed
    model_name: str = ""
    reason: str = ""
    adapter_uri: str = ""
    merged_uri: str = ""
    base_model: str = ""
    dataset_version: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    resumed_from_step: int = 0
    init_from: dict[str, str] = field(default_factory=dict)  # {kind: serving|base, model, reason?}
    objective: str = "sft"

    def as_event(self) -> events_pb2.ModelTrained:
        msg = events_pb2.ModelTrained(
            job_id=self.job_id,
            model_name=self.model_name,
            status=self.status,
            reason=self.reason,
            adapter_uri=self.adapter_uri,
            merged_uri=self.merged_uri,
            base_model=self.base_model,
            dataset_version=self.dataset_version,
            metrics=self.metrics,
        )
        msg.finished_at.GetCurrentTime()
        return msg

    def as_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "status": self.status,
            "model_name": self.model_name,
            "reason": self.reason,
            "adapter_uri": self.adapter_uri,
            "merged_uri": self.merged_uri,
            "base_model": self.base_model,
            "dataset_version": self.dataset_version,
            "metrics": self.metrics,
            "resumed_from_step": self.resumed_from_step,
            "init_from": self.init_from,
            "objective": self.objective,
        }


class TrainingFailed(RuntimeError):
    def __init__(self, outcome: TrainOutcome) -> None:
        super().__init__(f"training job {outcome.job_id} failed: {outcome.reason}")
        self.outcome = outcome
