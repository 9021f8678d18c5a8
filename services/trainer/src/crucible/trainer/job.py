"""One training job, end to end: inputs -> LoRA/QLoRA training with checkpoints in the artifact
store -> the best checkpoint by validation loss -> adapter (+ merged model) and model card ->
registry rows. Synchronous (it runs in a worker thread); events go out through `emit`.

A restarted job (same job id) resumes from its last checkpoint in the artifact store. Every
failure ends as a failed `TrainingJob` row with the reason, and `model.trained` status=failed."""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import shutil
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from google.protobuf.message import Message

from crucible.common import lifecycle, subjects
from crucible.common.config import ConfigError, validate_section
from crucible.common.registry import DatasetVersion, ModelVersion, TrainingJob
from crucible.trainer import metrics as gauges
from crucible.trainer.init_from import choose_init
from crucible.trainer.inputs import TrainingData, TrainingInputError, data_from_files, data_from_registry
from crucible.trainer.naming import model_name
from crucible.trainer.policy import TrainerPolicy
from crucible.v1 import events_pb2

log = logging.getLogger(__name__)

Emit = Callable[[str, Message], None]
ACTOR = "trainer"  # who the lifecycle log names for a model's creation


@dataclass
class TrainRequest:
    job_id: str
    dataset_version: str = ""
    train_file: Path | None = None  # a local chat JSONL pair instead of a dataset version
    val_file: Path | None = None
    base_model: str = ""  # overrides the policy's
    overrides: Mapping[str, Any] = field(default_factory=dict)  # policy keys for this job
    deepspeed: str = ""  # "zero2" | "zero3" overrides the policy's


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
        }


class TrainingFailed(RuntimeError):
    def __init__(self, outcome: TrainOutcome) -> None:
        super().__init__(f"training job {outcome.job_id} failed: {outcome.reason}")
        self.outcome = outcome


def configure_threads() -> int:
    """CPU threads for this process: OMP_NUM_THREADS when set, else half the cores (at least one),
    because a second CPU-bound process on an unpinned machine can slow a run fifty-fold."""
    import torch

    threads = int(os.environ.get("OMP_NUM_THREADS") or max(1, (os.cpu_count() or 2) // 2))
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    torch.set_num_threads(threads)
    return threads


def effective_policy(base: TrainerPolicy, request: TrainRequest) -> TrainerPolicy:
    """The policy for one job: the section plus the request's overrides (strings are parsed as YAML
    scalars, so `learning_rate: "1e-3"` from a TrainRequested map becomes a number)."""
    raw = base.model_dump()
    for key, value in request.overrides.items():
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


def run_job(
    runtime: Any,
    request: TrainRequest,
    emit: Emit,
    *,
    callbacks: Sequence[Any] = (),
) -> TrainOutcome:
    """Run (or resume) one job; never raises for a failed job: the outcome says so, the registry
    has the reason, and `model.trained` (status failed) has been emitted."""
    configure_threads()
    if not is_main_process():
        # Under a multi-GPU launcher every rank trains; only rank 0 writes the registry,
        # the artifact store and the bus.
        emit = _silent
    started = time.perf_counter()
    existing = _job_row(runtime, request.job_id)
    if existing is not None and existing["status"] == "succeeded" and existing["model_name"]:
        # A redelivered request for a finished job: report what it produced, train nothing.
        return _finished_outcome(runtime, request.job_id, existing["model_name"])
    outcome = TrainOutcome(job_id=request.job_id, status="failed", dataset_version=request.dataset_version)
    try:
        policy = effective_policy(runtime.policy.section("trainer"), request)
        outcome.base_model = policy.base_model or "tiny-base"
        _upsert_job(runtime, request.job_id, status="running", reason="", dataset_version=request.dataset_version)
        data = _load_data(runtime, request)
        outcome.dataset_version = data.dataset_version
        _upsert_job(runtime, request.job_id, dataset_version=data.dataset_version)
        result = _train(runtime, request, policy, data, emit, callbacks, existing)
        outcome.base_model = result["base_model"]
        outcome.resumed_from_step = result["resumed_from_step"]
        outcome.init_from = result["init_from"]
        outcome.metrics = result["metrics"] | {"train_seconds": round(time.perf_counter() - started, 3)}
        if is_main_process():
            _register(runtime, request, policy, data, result, outcome)
        outcome.status = "succeeded"
    except TrainingInputError as exc:
        outcome.reason = str(exc)
    except Exception as exc:
        outcome.reason = _failure_reason(exc)
        log.exception("training job %s failed", request.job_id)
    if outcome.status == "failed":
        _upsert_job(runtime, request.job_id, status="failed", reason=outcome.reason[:4000])
    gauges.TRAIN_JOBS.labels(outcome.status).inc()
    emit(subjects.MODEL_TRAINED, outcome.as_event())
    return outcome


def _failure_reason(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, MemoryError) or "out of memory" in str(exc).lower() or type(exc).__name__ == "OutOfMemoryError":
        return f"out_of_memory: {text}"
    return text


def _load_data(runtime: Any, request: TrainRequest) -> TrainingData:
    if request.train_file is not None or request.val_file is not None:
        if request.train_file is None or request.val_file is None:
            raise TrainingInputError("a local dataset needs both a train file and a val file")
        return data_from_files(request.train_file, request.val_file, label=request.dataset_version)
    if not request.dataset_version:
        raise TrainingInputError("no dataset version given")
    return data_from_registry(runtime, request.dataset_version)


def resolve_base_model(runtime: Any, policy: TrainerPolicy) -> tuple[str, str]:
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
    return policy.base_model, policy.base_model  # a hub id (production: a reachable hub or a mirror)


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def choose_attention(policy: TrainerPolicy, device: str) -> str:
    """The attention implementation: packed rows need one that keeps samples apart cheaply."""
    import importlib.util

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


def _use_qlora(policy: TrainerPolicy, device: str) -> bool:
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


def _train(
    runtime: Any,
    request: TrainRequest,
    policy: TrainerPolicy,
    data: TrainingData,
    emit: Emit,
    callbacks: Sequence[Any],
    existing: dict[str, Any] | None,
) -> dict[str, Any]:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer, TrainingArguments

    from crucible.trainer.deepspeed_config import policy_deepspeed_config, prepare_dist_env
    from crucible.trainer.progress import ProgressReporter
    from crucible.trainer.samples import build_rows, make_collator, tokenize_chats

    load_from, base_name = resolve_base_model(runtime, policy)
    work = (runtime.settings.home / "trainer" / "jobs" / request.job_id).resolve()
    init = choose_init(runtime, policy, base_name, work)
    device = _device()
    qlora = _use_qlora(policy, device)
    bf16 = device == "cuda" and torch.cuda.is_bf16_supported()
    fp16 = device == "cuda" and not bf16

    tokenizer = AutoTokenizer.from_pretrained(load_from)
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

    model_kwargs: dict[str, Any] = {
        "dtype": torch.bfloat16 if bf16 else torch.float16 if fp16 else torch.float32,
        "attn_implementation": choose_attention(policy, device),
    }
    if qlora:
        from transformers import BitsAndBytesConfig

        model_kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=model_kwargs["dtype"],
        )
    model = AutoModelForCausalLM.from_pretrained(load_from, **model_kwargs)
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

    ds_config = policy_deepspeed_config(policy, bf16=bf16, fp16=fp16)
    if ds_config is not None:
        prepare_dist_env(runtime.settings.home)
    max_steps = policy.max_steps
    if device == "cpu" and policy.cpu_max_steps:
        max_steps = min(max_steps, policy.cpu_max_steps) if max_steps else policy.cpu_max_steps
    out_dir = work / "checkpoints"
    args = TrainingArguments(
        output_dir=str(out_dir),
        num_train_epochs=policy.epochs,
        max_steps=max_steps or -1,
        per_device_train_batch_size=policy.per_device_batch_size,
        per_device_eval_batch_size=policy.per_device_batch_size,
        gradient_accumulation_steps=policy.gradient_accumulation_steps,
        learning_rate=policy.learning_rate,
        warmup_steps=policy.warmup_ratio,
        lr_scheduler_type=policy.lr_scheduler,
        weight_decay=policy.weight_decay,
        max_grad_norm=policy.max_grad_norm,
        eval_strategy="steps",
        eval_steps=policy.checkpoint_every_steps,
        save_strategy="steps",
        save_steps=policy.checkpoint_every_steps,
        save_total_limit=policy.save_total_limit,
        load_best_model_at_end=True,
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        logging_steps=policy.progress_every_steps,
        logging_first_step=True,
        report_to="none",
        bf16=bf16,
        fp16=fp16,
        activation_checkpointing=checkpointing,
        activation_checkpointing_kwargs={"use_reentrant": False} if checkpointing else None,
        seed=policy.seed,
        data_seed=policy.seed,
        use_cpu=device == "cpu",
        deepspeed=ds_config,
        dataloader_num_workers=0,
        remove_unused_columns=False,
        include_num_input_tokens_seen="non_padding",
        disable_tqdm=True,
    )

    def emit_progress(msg: events_pb2.TrainProgress) -> None:
        emit(subjects.TRAIN_PROGRESS, msg)
        _upsert_job(runtime, request.job_id, last_step=int(msg.step))

    reporter = ProgressReporter(request.job_id, emit_progress)
    uploader = CheckpointUploader(runtime, request.job_id)
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=_ListDataset(train_rows),
        eval_dataset=_ListDataset(val_rows),
        data_collator=make_collator(policy.packing, tokenizer.pad_token_id),
        processing_class=tokenizer,
        callbacks=[reporter, uploader, FinalCheckpoint(), *callbacks],
    )
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # progress goes out as events and gauges, not prints
    resume = _restore_checkpoint(runtime, existing, out_dir)
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
    return {
        "base_model": base_name,
        "load_from": load_from,
        "adapter_dir": adapter_dir,
        "work": work,
        "metrics": result_metrics,
        "resumed_from_step": resumed_from_step,
        "best_checkpoint": best_ckpt,
        "device": device,
        "method": "qlora" if qlora else "lora",
        "dtype": str(model_kwargs["dtype"]).removeprefix("torch."),
        "attention": model_kwargs["attn_implementation"],
        "rows": {"train": len(train_rows), "val": len(val_rows)},
        "samples": {"train": len(train_samples), "val": len(val_samples)},
        "init_from": init.as_dict(),
    }


class _ListDataset:
    """A map-style dataset over prepared rows (the Trainer needs only len and getitem)."""

    def __init__(self, rows: list[dict[str, list[int]]]) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, list[int]]:
        return self.rows[i]


def _callback_base() -> type:
    from transformers import TrainerCallback

    return TrainerCallback


class FinalCheckpoint(_callback_base()):  # type: ignore[misc]
    """Evaluate and checkpoint at the last step too, so the best-by-validation choice always
    includes the final weights (the step count is rarely a multiple of the save interval)."""

    def on_step_end(self, args: Any, state: Any, control: Any, **_: Any) -> Any:
        if state.global_step >= state.max_steps:
            control.should_evaluate = True
            control.should_save = True
        return control


class CheckpointUploader(_callback_base()):  # type: ignore[misc]
    """Copies each checkpoint the Trainer saves to the artifact store and records it on the job,
    so a restarted job (on any replica) resumes from it."""

    def __init__(self, runtime: Any, job_id: str) -> None:
        self.runtime = runtime
        self.job_id = job_id

    def on_save(self, args: Any, state: Any, control: Any, **_: Any) -> None:
        if not state.is_world_process_zero:
            return
        local = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if not local.exists():
            return
        key = checkpoint_key(self.job_id, local.name)
        self.runtime.artifacts.put_dir(local, key)
        _upsert_job(self.runtime, self.job_id, last_checkpoint=key, last_step=state.global_step)


def checkpoint_key(job_id: str, name: str) -> str:
    return f"training/{job_id}/checkpoints/{name}"


def _restore_checkpoint(runtime: Any, existing: dict[str, Any] | None, out_dir: Path) -> Path | None:
    """Download the job's last checkpoint (and the best one it names) from the artifact store."""
    import json

    if not existing or not existing.get("last_checkpoint"):
        return None
    key = existing["last_checkpoint"]
    if not runtime.artifacts.exists(key):
        log.warning("checkpoint %s is gone from the artifact store; starting over", key)
        return None
    name = key.rsplit("/", 1)[-1]
    local = out_dir / name
    shutil.rmtree(local, ignore_errors=True)
    runtime.artifacts.get_dir(key, local)
    state_file = local / "trainer_state.json"
    if state_file.exists():
        best = Path(json.loads(state_file.read_text()).get("best_model_checkpoint") or "").name
        best_key = checkpoint_key(existing["job_id"], best) if best else ""
        if best and best != name and runtime.artifacts.exists(best_key) and not (out_dir / best).exists():
            runtime.artifacts.get_dir(best_key, out_dir / best)
    return local


def _job_row(runtime: Any, job_id: str) -> dict[str, Any] | None:
    with runtime.registry.session() as s:
        row = s.get(TrainingJob, job_id)
        if row is None:
            return None
        return {
            "job_id": row.job_id,
            "status": row.status,
            "last_checkpoint": row.last_checkpoint,
            "last_step": row.last_step,
            "model_name": row.model_name,
        }


def is_main_process() -> bool:
    return os.environ.get("RANK", "0") == "0"


def _silent(name: str, msg: Message) -> None:
    return None


def _upsert_job(runtime: Any, job_id: str, **values: Any) -> None:
    if not is_main_process():
        return
    with runtime.registry.session() as s:
        row = s.get(TrainingJob, job_id)
        if row is None:
            row = TrainingJob(job_id=job_id)
            s.add(row)
        for key, value in values.items():
            setattr(row, key, value)


def _finished_outcome(runtime: Any, job_id: str, name: str) -> TrainOutcome:
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
        )


def _register(
    runtime: Any,
    request: TrainRequest,
    policy: TrainerPolicy,
    data: TrainingData,
    result: dict[str, Any],
    outcome: TrainOutcome,
) -> None:
    """Upload the adapter (and merged model), write the model card, register the version."""
    from sqlalchemy import func, select

    store = runtime.artifacts
    today = dt.datetime.now(dt.UTC).date()
    with runtime.registry.session() as s:
        seq = int(s.scalar(select(func.max(ModelVersion.seq))) or 0) + 1
        dsv = s.get(DatasetVersion, data.dataset_version)
        forgotten = bool(dsv.contains_forgotten_subject) if dsv else False
    name = model_name(seq, result["base_model"], today)
    prefix = f"models/{name}"
    outcome.model_name = name
    outcome.adapter_uri = store.put_dir(result["adapter_dir"], f"{prefix}/adapter")
    if policy.merge:
        merged_dir = merge_adapter(result["load_from"], result["adapter_dir"], result["work"] / "merged")
        outcome.merged_uri = store.put_dir(merged_dir, f"{prefix}/merged")
    card = model_card(policy, data, result, outcome)
    store.write_json(f"{prefix}/card.json", card)
    finite = {k: v for k, v in outcome.metrics.items() if not math.isnan(v)}
    with runtime.registry.session() as s:
        mv = ModelVersion(
            name=name,
            seq=seq,
            job_id=request.job_id,
            base_model=result["base_model"],
            dataset_version=data.dataset_version,
            status="trained",
            adapter_uri=outcome.adapter_uri,
            merged_uri=outcome.merged_uri,
            metrics=finite,
            card=card,
            contains_forgotten_subject=forgotten,
            pool=policy.pool,
        )
        s.add(mv)
        s.flush()
        start = result["init_from"]
        lifecycle.record_created(
            s,
            mv,
            reason=f"job {request.job_id} on dataset {data.dataset_version or '(local files)'}, "
            f"from {start['kind']} {start['model']}",
            actor=ACTOR,
        )
        job = s.get(TrainingJob, request.job_id)
        if job is not None:
            job.status = "succeeded"
            job.reason = ""
            job.model_name = name
            job.base_model = result["base_model"]


def model_card(policy: TrainerPolicy, data: TrainingData, result: dict[str, Any], outcome: TrainOutcome) -> dict:
    import peft
    import torch
    import transformers

    return {
        "model_name": outcome.model_name,
        "job_id": outcome.job_id,
        "base_model": result["base_model"],
        "method": result["method"],
        "device": result["device"],
        "dtype": result["dtype"],
        "attention": result["attention"],
        "dataset": {
            "version": data.dataset_version,
            "manifest_sha256": data.manifest_sha256,
            "files": data.files,
            "samples": result["samples"],
            "rows": result["rows"],
        },
        "policy": policy.model_dump(),
        "metrics": {k: (None if math.isnan(v) else v) for k, v in outcome.metrics.items()},
        "best_checkpoint": result["best_checkpoint"],
        "resumed_from_step": result["resumed_from_step"],
        "init_from": result["init_from"],
        "pool": policy.pool,
        "training_seconds": outcome.metrics.get("train_seconds"),
        "trained_at": dt.datetime.now(dt.UTC).isoformat(),
        "libraries": {
            "python": sys.version.split()[0],
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "peft": peft.__version__,
        },
    }


def merge_adapter(base: str, adapter_dir: Path, out: Path) -> Path:
    """The base model with the adapter folded in (full precision, not quantized), saved for serving."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base_model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    merged = PeftModel.from_pretrained(base_model, str(adapter_dir)).merge_and_unload()
    shutil.rmtree(out, ignore_errors=True)
    merged.save_pretrained(out)
    AutoTokenizer.from_pretrained(str(adapter_dir)).save_pretrained(out)
    return out
