"""`crucible train --search N`: an Optuna search over the LoRA settings (`lora_r`, `lora_alpha`,
`lora_dropout`, `learning_rate`, `epochs`), each trial a short training job, pruned on validation loss.

A trial is the job's Hugging Face part (`hf_training.train_model`: the same tokenizing and packing,
`load_trainable_model`, `job_arguments`, evaluation, checkpoints in the artifact store, the
`training_jobs` row under the job id `<study>-t<n>`) with the trial's settings as policy overrides, fresh
LoRA weights on the base (`init_from: base`, so every trial starts from the same point and `lora_r` can
change) and a step cap. It registers no model and publishes no `model.trained`: a trial is a measurement,
not a candidate for serving. Objective: the best validation loss of the job (its best checkpoint's,
`eval_loss`), minimised; every evaluation reports it to the trial (`PruneOnEvalLoss`), and the median pruner
stops trials that trail. Trial 0 is the policy in force under the same caps: the same-run baseline.
Study storage, the record in the artifact store and the proposed diff: `crucible.common.search`.
"""

from __future__ import annotations

import logging
import math
import shutil
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from transformers import TrainerCallback

from crucible.trainer.policy import TrainerPolicy
from crucible.trainer.request import TrainRequest

if TYPE_CHECKING:
    from crucible.common.runtime import Runtime

log = logging.getLogger(__name__)

SEARCH_KEYS = ("lora_r", "lora_alpha", "lora_dropout", "learning_rate", "epochs")
R_CHOICES = (4, 8, 16, 32, 64)
ALPHA_CHOICES = (8, 16, 32, 64, 128)
ARTIFACT_PREFIX = "training/search"


def _with(choices: tuple[int, ...], value: int) -> list[int]:
    return sorted({*choices, value})


def baseline_params(current: TrainerPolicy) -> dict[str, Any]:
    """The policy in force, as the search's parameters (enqueued as trial 0)."""
    return {
        "lora_r": current.lora_r,
        "lora_alpha": current.lora_alpha,
        "lora_dropout": current.lora_dropout,
        "learning_rate": current.learning_rate,
        "epochs": current.epochs,
    }


def suggest_lora(trial: Any, current: TrainerPolicy, *, epochs: bool = True) -> dict[str, Any]:
    """The search space; each range holds the policy's own value, so trial 0 is a point of it. Without
    `epochs` (trials capped at a step count, where the Trainer ignores the epochs) the policy's stays."""
    params = {
        "lora_r": trial.suggest_categorical("lora_r", _with(R_CHOICES, current.lora_r)),
        "lora_alpha": trial.suggest_categorical("lora_alpha", _with(ALPHA_CHOICES, current.lora_alpha)),
        "lora_dropout": trial.suggest_float("lora_dropout", 0.0, max(0.3, current.lora_dropout)),
        "learning_rate": trial.suggest_float(
            "learning_rate", min(1e-5, current.learning_rate), max(3e-3, current.learning_rate), log=True
        ),
    }
    if epochs:
        params["epochs"] = trial.suggest_float("epochs", min(1.0, current.epochs), max(4.0, current.epochs), step=0.5)
    return params


def trial_overrides(params: Mapping[str, Any], *, steps: int, eval_every: int) -> dict[str, Any]:
    """The job overrides of one trial: its settings, fresh LoRA weights, the evaluation cadence the pruner
    sees (`checkpoint_every_steps` evaluates too) and the length: `steps` > 0 caps every trial at that many
    optimizer steps (the Trainer then ignores the epochs, so the search leaves them out); 0 lifts the step
    caps (`max_steps`, and on CPU `cpu_max_steps`), so each trial's `epochs` decide its length."""
    out = {**dict(params), "init_from": "base", "checkpoint_every_steps": eval_every, "save_total_limit": 1}
    out["max_steps"] = out["cpu_max_steps"] = max(steps, 0)
    return out


class PruneOnEvalLoss(TrainerCallback):
    """Reports each evaluation's `eval_loss` to the Optuna trial at its global step and raises
    `optuna.TrialPruned` when the pruner says the trial trails (the Trainer stops there)."""

    def __init__(self, trial: Any) -> None:
        self.trial = trial

    def on_evaluate(
        self, args: Any, state: Any, control: Any, metrics: dict[str, float] | None = None, **_: Any
    ) -> Any:
        import optuna

        loss = (metrics or {}).get("eval_loss")
        if loss is None or not math.isfinite(loss):
            return control
        self.trial.report(float(loss), int(state.global_step))
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"validation loss {loss:.4f} at step {state.global_step}")
        return control


def run_trial(
    runtime: Runtime,
    base: TrainRequest,
    data: Any,
    job_id: str,
    overrides: Mapping[str, Any],
    callbacks: list[Any],
) -> dict[str, float]:
    """One trial as a job (see the module's note); returns the job's metrics. The `training_jobs` row ends
    `succeeded`, or `failed` with the reason (`pruned: ...` for a pruned trial)."""
    import optuna
    from transformers import set_seed

    from crucible.trainer.hf_training import train_model
    from crucible.trainer.job import effective_policy
    from crucible.trainer.registry_rows import upsert_job

    request = TrainRequest(
        job_id=job_id,
        dataset_version=base.dataset_version,
        train_file=base.train_file,
        val_file=base.val_file,
        base_model=base.base_model,
        overrides={**dict(base.overrides), **dict(overrides)},
    )
    policy = effective_policy(runtime.policy.section("trainer"), request)
    upsert_job(runtime, job_id, status="running", reason="", dataset_version=data.dataset_version)
    # The new LoRA weights are drawn before the Trainer seeds its run: seed first, so a trial's result does
    # not depend on what ran before it in this process (its place in the study, the first trial's loading).
    set_seed(policy.seed)
    try:
        result = train_model(runtime, request, policy, data, lambda name, msg: None, callbacks, None)
    except optuna.TrialPruned as exc:
        upsert_job(runtime, job_id, status="failed", reason=f"pruned: {exc}")
        raise
    except Exception as exc:
        upsert_job(runtime, job_id, status="failed", reason=f"{type(exc).__name__}: {exc}"[:4000])
        raise
    finally:
        shutil.rmtree(runtime.settings.home / "trainer" / "jobs" / job_id, ignore_errors=True)
    upsert_job(runtime, job_id, status="succeeded")
    return result.metrics


def search_lora(
    runtime: Runtime,
    study: Any,
    base: TrainRequest,
    *,
    trials: int,
    steps: int,
    eval_every: int,
    progress: Callable[[str], None] = log.info,
) -> Any:
    """Run `trials` trials on `study` (the first is the policy in force); returns the study."""
    import optuna

    from crucible.trainer.job import _load_data, effective_policy

    current = effective_policy(runtime.policy.section("trainer"), base)
    data = _load_data(runtime, base)  # once: every trial reads the same splits
    baseline = baseline_params(current)
    if steps > 0:
        baseline.pop("epochs")
    study.enqueue_trial(baseline, user_attrs={"baseline": True})

    def objective(trial: optuna.Trial) -> float:
        params = suggest_lora(trial, current, epochs=steps <= 0)
        job_id = f"{study.study_name}-t{trial.number}"
        trial.set_user_attr("job_id", job_id)
        overrides = trial_overrides(params, steps=steps, eval_every=eval_every)
        metrics = run_trial(runtime, base, data, job_id, overrides, [PruneOnEvalLoss(trial)])
        for key in ("eval_loss_initial", "global_step", "best_step", "train_loss", "tokens_per_second"):
            if key in metrics and math.isfinite(metrics[key]):
                trial.set_user_attr(key, metrics[key])
        return float(metrics["eval_loss"])

    def announce(st: optuna.Study, t: optuna.trial.FrozenTrial) -> None:
        shown = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in t.params.items())
        value = f"val loss {t.value:.4f}" if t.value is not None else t.state.name.lower()
        if t.state == optuna.trial.TrialState.PRUNED and t.intermediate_values:
            step = max(t.intermediate_values)
            value = f"pruned at step {step} (val loss {t.intermediate_values[step]:.4f})"
        seconds = t.duration.total_seconds() if t.duration else 0.0
        progress(f"trial {t.number} ({t.number + 1}/{trials}): {value} in {seconds:.1f} s [{shown}]")

    study.optimize(objective, n_trials=trials, callbacks=[announce])
    return study


def run_search(
    runtime: Runtime,
    base: TrainRequest,
    *,
    trials: int,
    seed: int,
    study_name: str,
    steps: int,
    eval_every: int,
    progress: Callable[[str], None] = log.info,
) -> dict[str, Any]:
    """The whole command: storage, trials, the record in the artifact store, the proposed diff."""
    from crucible.common.search import (
        check_trials,
        create_study,
        open_storage,
        policy_diff,
        policy_file_label,
        study_record,
        write_study,
    )
    from crucible.trainer.hf_training import configure_threads
    from crucible.trainer.job import effective_policy

    check_trials(trials)
    storage = open_storage(runtime.registry.url)  # first: an unreachable database fails before any work
    configure_threads()
    started = time.perf_counter()
    # No pruning before the second evaluation after the start: a longer schedule warms up more slowly.
    study = create_study(storage, study_name, direction="minimize", seed=seed, n_warmup_steps=2 * eval_every)
    search_lora(runtime, study, base, trials=trials, steps=steps, eval_every=eval_every, progress=progress)
    record = study_record(
        study,
        extra={
            "objective": "best validation loss (eval_loss) of the trial's job, minimised",
            "seed": seed,
            "trial_steps": steps,
            "eval_every": eval_every,
            "dataset_version": base.dataset_version,
            "wall_seconds": round(time.perf_counter() - started, 2),
        },
    )
    baseline = next((t for t in record["trials"] if t["user_attrs"].get("baseline")), None)
    record["baseline"] = {"number": baseline["number"], "value": baseline["value"]} if baseline else None
    diff = ""
    if record["best"] is not None:
        current = effective_policy(runtime.policy.section("trainer"), base).model_dump(include=set(SEARCH_KEYS))
        diff = policy_diff(
            ["trainer"],
            current,
            record["best"]["params"],
            source=policy_file_label(runtime.policy.source),
            label=f"best trial {record['best']['number']} of study {study_name}",
        )
    record["proposed_diff"] = diff
    record["artifact_uri"] = write_study(runtime.artifacts, ARTIFACT_PREFIX, record)
    return record
