"""The DPO part of a job (`training.method: dpo`): TRL's `DPOTrainer` on the LoRA adapter, with
the same base model, starting adapter, checkpoints, resume, progress events and result as the
SFT path (`hf_training`). Imported only when a DPO job trains (torch, transformers, TRL).

The reference policy is the adapter the job starts from: TRL copies a pretrained adapter into a
frozen `ref` adapter, so with `trainer.init_from: serving` the reference is the serving adapter;
a fresh LoRA adapter is zero at the start (LoRA's B matrix), so from the base the reference is
the base model.
"""

from __future__ import annotations

import logging
import math
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crucible.common import subjects
from crucible.common.hub import model_source
from crucible.trainer.checkpoints import CheckpointUploader, restore_checkpoint
from crucible.trainer.hf_training import (
    FinalCheckpoint,
    _device,
    job_arguments,
    load_trainable_model,
    resolve_base_model,
    training_steps,
    use_qlora,
)
from crucible.trainer.init_from import choose_init
from crucible.trainer.inputs import PreferenceData, TrainingInputError
from crucible.trainer.policy import TrainerPolicy, TrainingPolicy
from crucible.trainer.registry_rows import JobRow, upsert_job
from crucible.trainer.request import Emit, TrainRequest, TrainResult
from crucible.v1 import events_pb2

if TYPE_CHECKING:
    from crucible.common.runtime import Runtime

log = logging.getLogger(__name__)

# TRL's logged figures, as the job's metrics name them.
DPO_FIGURES = {
    "rewards/margins": "reward_margin",
    "rewards/accuracies": "reward_accuracy",
    "rewards/chosen": "reward_chosen",
    "rewards/rejected": "reward_rejected",
}


def train_dpo(
    runtime: Runtime,
    request: TrainRequest,
    policy: TrainerPolicy,
    training: TrainingPolicy,
    data: PreferenceData,
    emit: Emit,
    callbacks: Sequence[Any],
    existing: JobRow | None,
) -> TrainResult:
    """Load the base and the starting adapter, train DPO with evaluation on the val pairs (when
    there are any) and checkpoints, and save the best checkpoint's adapter under the job's folder."""
    import datasets
    import torch
    from transformers import AutoTokenizer
    from transformers.trainer_callback import PrinterCallback
    from trl import DPOConfig, DPOTrainer

    from crucible.trainer.progress import ProgressReporter

    load_from, base_name = resolve_base_model(runtime, policy)
    work = (runtime.settings.home / "trainer" / "jobs" / request.job_id).resolve()
    init = choose_init(runtime, policy, base_name, work)
    device = _device()
    qlora = use_qlora(policy, device)
    bf16 = device == "cuda" and torch.cuda.is_bf16_supported()
    fp16 = device == "cuda" and not bf16
    dtype = torch.bfloat16 if bf16 else torch.float16 if fp16 else torch.float32

    source = model_source(load_from)
    tokenizer = AutoTokenizer.from_pretrained(source.path, revision=source.revision)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not getattr(tokenizer, "chat_template", None):
        raise TrainingInputError(f"base model {base_name} has no chat template")
    model, checkpointing = load_trainable_model(
        source, policy, init, dtype=dtype, attention="sdpa", qlora=qlora, device=device
    )

    max_steps = training_steps(policy, device)
    has_val = bool(data.val)
    out_dir = work / "checkpoints"
    args = DPOConfig(
        **job_arguments(
            policy,
            out_dir,
            max_steps,
            evaluate=has_val,
            bf16=bf16,
            fp16=fp16,
            checkpointing=checkpointing,
            device=device,
        ),
        max_length=policy.max_seq_length,
        beta=training.dpo_beta,
        loss_type=[training.dpo_loss],
        label_smoothing=training.dpo_label_smoothing,
    )

    def emit_progress(msg: events_pb2.TrainProgress) -> None:
        emit(subjects.TRAIN_PROGRESS, msg)
        upsert_job(runtime, request.job_id, last_step=int(msg.step))

    reporter = ProgressReporter(request.job_id, emit_progress)
    trainer = DPOTrainer(
        model=model,
        args=args,
        train_dataset=datasets.Dataset.from_list(data.train),
        eval_dataset=datasets.Dataset.from_list(data.val) if has_val else None,
        processing_class=tokenizer,
        callbacks=[
            reporter,
            CheckpointUploader(runtime, request.job_id),
            FinalCheckpoint(evaluate=has_val),
            *callbacks,
        ],
    )
    trainer.remove_callback(PrinterCallback)
    resume = restore_checkpoint(runtime, existing, out_dir)
    resumed_from_step = 0
    initial: dict[str, float] = {}
    if resume is not None:
        resumed_from_step = int(resume.name.rsplit("-", 1)[-1])
        log.info("job %s resumes from %s", request.job_id, resume.name)
    elif has_val:
        initial = trainer.evaluate()
    t0 = time.perf_counter()
    train_out = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    train_seconds = time.perf_counter() - t0
    final = trainer.evaluate() if has_val else {}
    best_ckpt = Path(trainer.state.best_model_checkpoint or "").name
    adapter_dir = work / "adapter"
    shutil.rmtree(adapter_dir, ignore_errors=True)
    # Only the trained adapter: the frozen `ref` copy TRL adds is the reference, not the model.
    trainer.model.save_pretrained(str(adapter_dir), selected_adapters=["default"])
    tokenizer.save_pretrained(adapter_dir)
    metrics = {
        "train_loss": float(train_out.training_loss),
        "dpo_loss": float(final.get("eval_loss", math.nan)),
        "dpo_loss_initial": float(initial.get("eval_loss", math.nan)),
        "eval_loss": float(final.get("eval_loss", math.nan)),
        "global_step": float(trainer.state.global_step),
        "best_step": float(best_ckpt.rsplit("-", 1)[-1]) if best_ckpt else math.nan,
        "epochs": float(trainer.state.epoch or 0.0),
        "pairs_train": float(len(data.train)),
        "pairs_val": float(len(data.val)),
        "pairs_per_second": len(data.train) * float(trainer.state.epoch or 0.0) / train_seconds
        if train_seconds > 0 and not resume
        else math.nan,
        "trainable_parameters": float(sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)),
        "dpo_beta": training.dpo_beta,
    }
    metrics |= _reward_figures(final, trainer.state.log_history)
    del trainer
    return TrainResult(
        base_model=base_name,
        load_from=load_from,
        adapter_dir=adapter_dir,
        work=work,
        metrics=metrics,
        resumed_from_step=resumed_from_step,
        best_checkpoint=best_ckpt,
        device=device,
        method="qlora" if qlora else "lora",
        dtype=str(dtype).removeprefix("torch."),
        attention="sdpa",
        rows={"train": len(data.train), "val": len(data.val)},
        samples={"train": len(data.train), "val": len(data.val)},
        init_from=init.as_dict(),
        objective="dpo",
        reference={"kind": "adapter" if init.adapter_dir is not None else "base", "model": init.model},
    )


def _reward_figures(final: dict[str, float], history: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Reward margin, accuracy and the implicit rewards: `train_*` from the last training log,
    and without prefix on the val pairs after training (when there are val pairs)."""
    out = {}
    last_train = next((h for h in reversed(history) if "rewards/margins" in h and "loss" in h), {})
    for trl_name, ours in DPO_FIGURES.items():
        if trl_name in last_train:
            out["train_" + ours] = float(last_train[trl_name])
        if f"eval_{trl_name}" in final:
            out[ours] = float(final[f"eval_{trl_name}"])
    return out
