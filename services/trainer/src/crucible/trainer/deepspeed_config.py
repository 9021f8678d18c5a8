"""DeepSpeed ZeRO-2/3 configuration generated from the policy. Batch sizes, learning rate,
clipping and precision are left as "auto" so the Trainer fills them from its own arguments
(one source of truth: the policy)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from crucible.trainer.policy import TrainerPolicy

DIST_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def deepspeed_config(stage: str, *, offload: bool = False, bf16: bool = False, fp16: bool = False) -> dict[str, Any]:
    if stage not in ("zero2", "zero3"):
        raise ValueError(f"deepspeed stage must be zero2 or zero3, got {stage!r}")
    zero: dict[str, Any] = {
        "stage": 2 if stage == "zero2" else 3,
        "overlap_comm": True,
        "contiguous_gradients": True,
        "reduce_bucket_size": "auto",
    }
    if stage == "zero2":
        zero |= {"allgather_partitions": True, "allgather_bucket_size": 2e8, "reduce_scatter": True}
    else:
        zero |= {
            "stage3_prefetch_bucket_size": "auto",
            "stage3_param_persistence_threshold": "auto",
            "sub_group_size": 1e9,
            "stage3_max_live_parameters": 1e9,
            "stage3_max_reuse_distance": 1e9,
            # Save a loadable (consolidated 16-bit) model, not only the shards.
            "stage3_gather_16bit_weights_on_model_save": True,
        }
    if offload:
        zero["offload_optimizer"] = {"device": "cpu", "pin_memory": True}
        if stage == "zero3":
            zero["offload_param"] = {"device": "cpu", "pin_memory": True}
    return {
        "zero_optimization": zero,
        "bf16": {"enabled": bf16},
        "fp16": {"enabled": fp16},
        "gradient_accumulation_steps": "auto",
        "gradient_clipping": "auto",
        "train_batch_size": "auto",
        "train_micro_batch_size_per_gpu": "auto",
        "steps_per_print": 1_000_000,
        "wall_clock_breakdown": False,
    }


def policy_deepspeed_config(policy: TrainerPolicy, *, bf16: bool, fp16: bool) -> dict[str, Any] | None:
    if policy.deepspeed == "off":
        return None
    return deepspeed_config(policy.deepspeed, offload=policy.deepspeed_offload, bf16=bf16, fp16=fp16)


def missing_dist_env(env: os._Environ[str] | dict[str, str] | None = None) -> list[str]:
    """The launcher variables DeepSpeed needs; without them it falls back to MPI (and fails on
    mpi4py). `deepspeed`/`torchrun` set them; a single CPU process sets them by hand."""
    env = os.environ if env is None else env
    return [v for v in DIST_VARS if not env.get(v)]


def prepare_dist_env(home: Path) -> None:
    """Launcher variables for a single process when none are set (a launcher sets all of them),
    and a persistent cache for DeepSpeed's compiled ops (the first build takes about a minute)."""
    import sys

    os.environ.setdefault("TORCH_EXTENSIONS_DIR", str(Path(sys.prefix) / "torch_extensions"))
    missing = missing_dist_env()
    if missing and len(missing) < len(DIST_VARS):
        raise ValueError(f"DeepSpeed launcher variables partly set: missing {', '.join(missing)}")
    if missing:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        os.environ.update(
            {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
        )
