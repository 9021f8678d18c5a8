"""Checkpoints in the artifact store: each one the Trainer saves is copied to
`training/<job_id>/checkpoints/<name>` and recorded on the job's row, so a restarted job (same
job id, on any replica) downloads the last one (and the best one it names) and resumes."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transformers import TrainerCallback

from crucible.trainer.registry_rows import JobRow, upsert_job

if TYPE_CHECKING:
    from crucible.common.runtime import Runtime

log = logging.getLogger(__name__)


def checkpoint_key(job_id: str, name: str) -> str:
    return f"training/{job_id}/checkpoints/{name}"


class CheckpointUploader(TrainerCallback):
    """Copies each checkpoint the Trainer saves to the artifact store and records it on the job,
    so a restarted job (on any replica) resumes from it."""

    def __init__(self, runtime: Runtime, job_id: str) -> None:
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
        upsert_job(self.runtime, self.job_id, last_checkpoint=key, last_step=state.global_step)


def restore_checkpoint(runtime: Runtime, existing: JobRow | None, out_dir: Path) -> Path | None:
    """Download the job's last checkpoint (and the best one it names) from the artifact store."""
    if existing is None or not existing.last_checkpoint:
        return None
    key = existing.last_checkpoint
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
        best_key = checkpoint_key(existing.job_id, best) if best else ""
        if best and best != name and runtime.artifacts.exists(best_key) and not (out_dir / best).exists():
            runtime.artifacts.get_dir(best_key, out_dir / best)
    return local
