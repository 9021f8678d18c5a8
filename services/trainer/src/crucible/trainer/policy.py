"""The trainer's section of `crucible.yaml`; defaults are the seeds' values
(3 epochs, per-device batch 4, learning rate 2e-5, warm-up, gradient clipping)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from crucible.common.config import PolicyModel


class TrainerPolicy(PolicyModel):
    base_model: str = Field(
        default="",
        description="Local path, or Hugging Face id pinned to a commit (org/name@<sha>), of the base causal LM; "
        "empty = the tiny Llama built on demand at $CRUCIBLE_HOME/models/tiny-base.",
    )
    epochs: float = Field(default=3.0, gt=0, le=100, description="Training epochs (seed: 3).")
    per_device_batch_size: int = Field(default=4, ge=1, le=1024, description="Rows per device per step (seed: 4).")
    gradient_accumulation_steps: int = Field(default=1, ge=1, le=1024)
    learning_rate: float = Field(default=2e-5, gt=0, le=1.0, description="Peak learning rate (seed: 2e-5).")
    warmup_ratio: float = Field(default=0.03, ge=0, le=0.5, description="Fraction of steps spent warming up.")
    lr_scheduler: Literal["linear", "cosine", "constant_with_warmup"] = "cosine"
    weight_decay: float = Field(default=0.0, ge=0, le=1.0)
    max_grad_norm: float = Field(default=1.0, gt=0, le=100, description="Gradient clipping norm.")
    max_seq_length: int = Field(default=1024, ge=16, le=131_072, description="Tokens per packed row / sample cap.")
    packing: bool = Field(default=True, description="Pack samples into rows (no attention across samples).")
    attention: Literal["auto", "sdpa", "eager", "flash_attention_2", "crucible_segments"] = Field(
        default="auto",
        description="auto = flash_attention_2 on CUDA when flash-attn is installed (varlen over packed rows), "
        "crucible_segments on CPU with packing (causal SDPA per packed sample), else sdpa.",
    )
    gradient_checkpointing: Literal["auto", "on", "off"] = Field(
        default="auto", description="auto = on when a GPU is present (memory), off on CPU (speed)."
    )
    method: Literal["auto", "lora", "qlora"] = Field(
        default="auto", description="auto = QLoRA (4-bit base) on CUDA with bitsandbytes installed, else LoRA."
    )
    lora_r: int = Field(default=16, ge=1, le=1024)
    lora_alpha: int = Field(default=32, ge=1, le=4096)
    lora_dropout: float = Field(default=0.05, ge=0, le=0.9)
    target_modules: list[str] = Field(
        default=["q_proj", "k_proj", "v_proj", "o_proj"], min_length=1, description="Modules LoRA adapts."
    )
    checkpoint_every_steps: int = Field(default=50, ge=1, le=1_000_000, description="Save (and evaluate) every N.")
    save_total_limit: int = Field(default=3, ge=1, le=1000, description="Local checkpoints kept (best always kept).")
    progress_every_steps: int = Field(default=10, ge=1, le=1_000_000, description="train.progress every N steps.")
    max_steps: int = Field(default=0, ge=0, description="Stop after N optimizer steps; 0 = run the epochs.")
    cpu_max_steps: int = Field(
        default=40, ge=0, description="Cap on optimizer steps when no GPU is present (the embedded run); 0 = none."
    )
    merge: bool = Field(default=False, description="Also save the base model with the adapter merged in.")
    deepspeed: Literal["off", "zero2", "zero3"] = Field(default="off", description="DeepSpeed ZeRO stage.")
    deepspeed_offload: bool = Field(default=False, description="ZeRO optimizer (and zero3 parameter) CPU offload.")
    seed: int = Field(default=42, ge=0)
    pool: str = Field(
        default="default",
        min_length=1,
        max_length=64,
        description="The serving pool (one base model, many adapters) this trainer's adapters are for.",
    )
    init_from: Literal["base", "serving"] = Field(
        default="serving",
        description="serving = start from the adapter the registry marks serving in the pool when it is on the "
        "same base with the same LoRA shape (the model learns incrementally), else from the base; base = always "
        "start from fresh LoRA weights on the base.",
    )
    auto_train_on_dataset_ready: bool = Field(
        default=False, description="`serve`: request a training job when a dataset.ready event arrives."
    )
    gpu_products: list[str] = Field(
        default=["NVIDIA-A100-SXM4-80GB", "NVIDIA-A100-80GB-PCIe", "NVIDIA-H100-80GB-HBM3"],
        description="Kubernetes node affinity on nvidia.com/gpu.product (rendered by the deploy chart).",
    )


class TrainingPolicy(PolicyModel):
    """The `training` section: what a job optimises. `method` picks the objective (`sft` on chat
    examples, `dpo` on preference pairs); the adapter kind (LoRA/QLoRA) stays `trainer.method`.
    Both run through the same job: checkpoints, resume, progress, registry, `model.trained`."""

    method: Literal["sft", "dpo"] = Field(
        default="sft",
        description="sft = supervised on a dataset version's chat files; dpo = DPO on a preference "
        "version's pairs (TRL DPOTrainer on the LoRA adapter; the reference is the adapter the job starts from: "
        "the serving one under trainer.init_from: serving, else the base).",
    )
    dpo_beta: float = Field(default=0.1, gt=0, le=10.0, description="DPO beta: how far from the reference.")
    dpo_loss: Literal["sigmoid", "ipo", "hinge", "robust"] = Field(default="sigmoid", description="TRL loss_type.")
    dpo_label_smoothing: float = Field(default=0.0, ge=0.0, lt=0.5, description="Robust DPO's label noise.")
