"""The Hugging Face part of a job: the base model (and the adapter it starts from) loaded with
Transformers, LoRA/QLoRA through PEFT, and the Transformers `Trainer` with evaluation, checkpoints
and the callbacks that report progress and upload checkpoints. Imported only when a job trains
(torch and transformers load with it)."""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transformers import TrainerCallback

from crucible.common import subjects
from crucible.common.hub import model_source
from crucible.trainer.checkpoints import CheckpointUploader, restore_checkpoint
from crucible.trainer.init_from import choose_init
from crucible.trainer.inputs import TrainingData, TrainingInputError
from crucible.trainer.policy import TrainerPolicy
from crucible.trainer.registry_rows import JobRow, upsert_job
from crucible.trainer.request import Emit, TrainRequest, TrainResult
from crucible.v1 import events_pb2

if TYPE_CHECKING:
    from crucible.common.runtime import Runtime

log = logging.getLogger(__name__)


def configure_threads() -> int:
    """CPU threads for this process: OMP_NUM_THREADS when set, else half the cores (at least one),
    because a second CPU-bound process on an unpinned machine can slow a run fifty-fold."""
    import torch

    threads = int(os.environ.get("OMP_NUM_THREADS") or max(1, (os.cpu_count() or 2) // 2))
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    torch.set_num_threads(threads)
    return threads


def resolve_base_model(runtime: Runtime, policy: TrainerPolicy) -> tuple[str, str]:
    """(what to load, the name recorded): the policy's model, or the tiny model built on demand."""
    from crucible.trainer.tiny import ensure_tiny_model

    if not policy.base_model:
        return str(ensure_tiny_model(runtime.settings.home)), "tiny-base"
    path = Path(policy.base_model).expanduser()
    if path.exists() or policy.base_model.startswith((".", "/", "~")):
        if not path.is_dir():
            raise TrainingInputError(f"base model path {policy.base_model} is not a folder")
        if not any(path.glob("*.safetensors")) and not any(path.glob("*.bin")):
            raise TrainingInputError(f"base model path {policy.base_model} has no weights (*.safetensors or *.bin)")
        return str(path), policy.base_model
    model_source(policy.base_model)  # a hub id must be pinned (org/name@<commit>): refused here, before any work
    return policy.base_model, policy.base_model  # a hub id (production: a reachable hub or a mirror)


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def choose_attention(policy: TrainerPolicy, device: str) -> str:
    """The attention implementation: packed rows need one that keeps samples apart cheaply."""
    if policy.attention != "auto":
        if policy.attention == "crucible_segments":
            from crucible.trainer.segment_attention import register

            register()
        return policy.attention
    if device == "cuda" and importlib.util.find_spec("flash_attn") is not None:
        return "flash_attention_2"
    if policy.packing:
        from crucible.trainer.segment_attention import register

        return register()
    return "sdpa"


def use_qlora(policy: TrainerPolicy, device: str) -> bool:
    if policy.method == "lora" or device != "cuda":
        if policy.method == "qlora" and device != "cuda":
            log.warning("method qlora needs a CUDA GPU; training plain LoRA on %s", device)
        return False
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        if policy.method == "qlora":
            raise TrainingInputError("method qlora needs bitsandbytes (pip install crucible-trainer[gpu])") from None
        return False
    return True


def training_steps(policy: TrainerPolicy, device: str) -> int:
    """The step cap (0: none): `max_steps`, and on CPU at most `cpu_max_steps`."""
    max_steps = policy.max_steps
    if device == "cpu" and policy.cpu_max_steps:
        max_steps = min(max_steps, policy.cpu_max_steps) if max_steps else policy.cpu_max_steps
    return max_steps


def job_arguments(
    policy: TrainerPolicy,
    out_dir: Path,
    max_steps: int,
    *,
    evaluate: bool,
    bf16: bool,
    fp16: bool,
    checkpointing: bool,
    device: str,
) -> dict[str, Any]:
    """The Trainer arguments every job shares, SFT and DPO (`TrainingArguments` and TRL's
    `DPOConfig`, its subclass): schedule, checkpoints kept and the best one chosen on the eval loss
    (when there is something to evaluate on), precision, seeds, quiet logs."""
    return {
        "output_dir": str(out_dir),
        "num_train_epochs": policy.epochs,
        "max_steps": max_steps or -1,
        "per_device_train_batch_size": policy.per_device_batch_size,
        "per_device_eval_batch_size": policy.per_device_batch_size,
        "gradient_accumulation_steps": policy.gradient_accumulation_steps,
        "learning_rate": policy.learning_rate,
        "warmup_steps": policy.warmup_ratio,
        "lr_scheduler_type": policy.lr_scheduler,
        "weight_decay": policy.weight_decay,
        "max_grad_norm": policy.max_grad_norm,
        "eval_strategy": "steps" if evaluate else "no",
        "eval_steps": policy.checkpoint_every_steps,
        "save_strategy": "steps",
        "save_steps": policy.checkpoint_every_steps,
        "save_total_limit": policy.save_total_limit,
        "load_best_model_at_end": evaluate,
        "metric_for_best_model": "eval_loss" if evaluate else None,
        "greater_is_better": False,
        "logging_steps": policy.progress_every_steps,
        "logging_first_step": True,
        "report_to": "none",
        "bf16": bf16,
        "fp16": fp16,
        "activation_checkpointing": checkpointing,
        "activation_checkpointing_kwargs": {"use_reentrant": False} if checkpointing else None,
        "seed": policy.seed,
        "data_seed": policy.seed,
        "use_cpu": device == "cpu",
        "dataloader_num_workers": 0,
        "disable_tqdm": True,
    }


def load_trainable_model(
    source: Any, policy: TrainerPolicy, init: Any, *, dtype: Any, attention: str, qlora: bool, device: str
) -> tuple[Any, bool]:
    """The model a job trains, SFT and DPO alike: the base (`source`, a pinned `hub.ModelSource`;
    4-bit under QLoRA) with the starting adapter (`init.adapter_dir`: the serving one, trainable)
    or a new LoRA from the policy; and whether gradient checkpointing is on."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model_kwargs: dict[str, Any] = {"dtype": dtype, "attn_implementation": attention}
    if qlora:
        from transformers import BitsAndBytesConfig

        model_kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=dtype,
        )
    model = AutoModelForCausalLM.from_pretrained(source.path, revision=source.revision, **model_kwargs)
    # No KV cache while training: with a cache the model ignores packed position_ids when masking.
    model.config.use_cache = False
    checkpointing = policy.gradient_checkpointing == "on" or (
        policy.gradient_checkpointing == "auto" and device == "cuda"
    )
    if qlora:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=checkpointing)
    if init.adapter_dir is not None:
        from peft import PeftModel

        # Continue from the serving adapter's weights (same base, same LoRA shape: choose_init checked).
        model = PeftModel.from_pretrained(model, str(init.adapter_dir), is_trainable=True)
    else:
        model = get_peft_model(
            model,
            LoraConfig(
                task_type="CAUSAL_LM",
                r=policy.lora_r,
                lora_alpha=policy.lora_alpha,
                lora_dropout=policy.lora_dropout,
                target_modules=list(policy.target_modules),
            ),
        )
    return model, checkpointing


def train_model(
    runtime: Runtime,
    request: TrainRequest,
    policy: TrainerPolicy,
    data: TrainingData,
    emit: Emit,
    callbacks: Sequence[Any],
    existing: JobRow | None,
) -> TrainResult:
    """Tokenize and pack the splits, load the base (and the starting adapter), train with
    evaluation and checkpoints, and save the best checkpoint's adapter under the job's folder."""
    import torch
    from transformers import AutoTokenizer, Trainer, TrainingArguments

    from crucible.trainer.deepspeed_config import policy_deepspeed_config, prepare_dist_env
    from crucible.trainer.progress import ProgressReporter
    from crucible.trainer.samples import build_rows, make_collator, tokenize_chats

    load_from, base_name = resolve_base_model(runtime, policy)
    work = (runtime.settings.home / "trainer" / "jobs" / request.job_id).resolve()
    init = choose_init(runtime, policy, base_name, work)
    device = _device()
    qlora = use_qlora(policy, device)
    bf16 = device == "cuda" and torch.cuda.is_bf16_supported()
    fp16 = device == "cuda" and not bf16

    source = model_source(load_from)
    tokenizer = AutoTokenizer.from_pretrained(source.path, revision=source.revision)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not getattr(tokenizer, "chat_template", None):
        raise TrainingInputError(f"base model {base_name} has no chat template")
    train_samples = tokenize_chats(tokenizer, data.train, policy.max_seq_length)
    val_samples = tokenize_chats(tokenizer, data.val, policy.max_seq_length)
    for split, samples in (("train", train_samples), ("val", val_samples)):
        if not samples:
            raise TrainingInputError(f"dataset {data.dataset_version}: no {split} sample has an assistant turn")
    train_rows = build_rows(train_samples, packing=policy.packing, max_length=policy.max_seq_length)
    val_rows = build_rows(val_samples, packing=policy.packing, max_length=policy.max_seq_length)

    dtype = torch.bfloat16 if bf16 else torch.float16 if fp16 else torch.float32
    attention = choose_attention(policy, device)
    model, checkpointing = load_trainable_model(
        source, policy, init, dtype=dtype, attention=attention, qlora=qlora, device=device
    )

    ds_config = policy_deepspeed_config(policy, bf16=bf16, fp16=fp16)
    if ds_config is not None:
        prepare_dist_env(runtime.settings.home)
    max_steps = training_steps(policy, device)
    out_dir = work / "checkpoints"
    args = TrainingArguments(
        **job_arguments(
            policy, out_dir, max_steps, evaluate=True, bf16=bf16, fp16=fp16, checkpointing=checkpointing, device=device
        ),
        deepspeed=ds_config,
        remove_unused_columns=False,
        include_num_input_tokens_seen="non_padding",
    )

    def emit_progress(msg: events_pb2.TrainProgress) -> None:
        emit(subjects.TRAIN_PROGRESS, msg)
        upsert_job(runtime, request.job_id, last_step=int(msg.step))

    reporter = ProgressReporter(request.job_id, emit_progress)
    uploader = CheckpointUploader(runtime, request.job_id)
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=ListDataset(train_rows),
        eval_dataset=ListDataset(val_rows),
        data_collator=make_collator(policy.packing, tokenizer.pad_token_id),
        processing_class=tokenizer,
        callbacks=[reporter, uploader, FinalCheckpoint(), *callbacks],
    )
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # progress goes out as events and gauges, not prints
    resume = restore_checkpoint(runtime, existing, out_dir)
    resumed_from_step = 0
    initial_eval = math.nan
    if resume is not None:
        resumed_from_step = int(resume.name.rsplit("-", 1)[-1])
        log.info("job %s resumes from %s", request.job_id, resume.name)
    elif ds_config is None:  # the Trainer cannot evaluate under ZeRO before train() builds the engine
        initial_eval = float(trainer.evaluate()["eval_loss"])
    t0 = time.perf_counter()
    train_out = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    train_seconds = time.perf_counter() - t0
    best_eval = trainer.state.best_metric
    best_ckpt = Path(trainer.state.best_model_checkpoint or "").name
    adapter_dir = work / "adapter"
    shutil.rmtree(adapter_dir, ignore_errors=True)
    trainer.save_model(str(adapter_dir))  # the best checkpoint's weights (load_best_model_at_end)
    tokenizer.save_pretrained(adapter_dir)
    tokens = int(trainer.state.num_input_tokens_seen or 0)
    result_metrics = {
        "train_loss": float(train_out.training_loss),
        "eval_loss": float(best_eval) if best_eval is not None else math.nan,
        "eval_loss_initial": initial_eval,
        "global_step": float(trainer.state.global_step),
        "best_step": float(best_ckpt.rsplit("-", 1)[-1]) if best_ckpt else math.nan,
        "epochs": float(trainer.state.epoch or 0.0),
        "tokens_seen": float(tokens),
        "tokens_per_second": tokens / train_seconds if train_seconds > 0 and not resume else math.nan,
        "trainable_parameters": float(sum(p.numel() for p in model.parameters() if p.requires_grad)),
    }
    del trainer
    return TrainResult(
        base_model=base_name,
        load_from=load_from,
        adapter_dir=adapter_dir,
        work=work,
        metrics=result_metrics,
        resumed_from_step=resumed_from_step,
        best_checkpoint=best_ckpt,
        device=device,
        method="qlora" if qlora else "lora",
        dtype=str(dtype).removeprefix("torch."),
        attention=attention,
        rows={"train": len(train_rows), "val": len(val_rows)},
        samples={"train": len(train_samples), "val": len(val_samples)},
        init_from=init.as_dict(),
    )


class ListDataset:
    """A map-style dataset over prepared rows (the Trainer needs only len and getitem)."""

    def __init__(self, rows: list[dict[str, list[int]]]) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, list[int]]:
        return self.rows[i]


class FinalCheckpoint(TrainerCallback):
    """Evaluate and checkpoint at the last step too, so the best-by-validation choice always
    includes the final weights (the step count is rarely a multiple of the save interval)."""

    def __init__(self, *, evaluate: bool = True) -> None:
        self.evaluate = evaluate  # False when there is nothing to evaluate on (a DPO job without val pairs)

    def on_step_end(self, args: Any, state: Any, control: Any, **_: Any) -> Any:
        if state.global_step >= state.max_steps:
            control.should_evaluate = self.evaluate
            control.should_save = True
        return control


def merge_adapter(base: str, adapter_dir: Path, out: Path) -> Path:
    """The base model with the adapter folded in (full precision, not quantized), saved for serving."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = model_source(base)
    base_model = AutoModelForCausalLM.from_pretrained(source.path, revision=source.revision, dtype=torch.float32)
    merged = PeftModel.from_pretrained(base_model, str(adapter_dir)).merge_and_unload()
    shutil.rmtree(out, ignore_errors=True)
    merged.save_pretrained(out)
    AutoTokenizer.from_pretrained(str(adapter_dir)).save_pretrained(out)  # nosec B615 (the job's own local folder)
    return out
