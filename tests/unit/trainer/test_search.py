"""`crucible train --search`: the LoRA search space, trial overrides, the pruning callback (on a real
Optuna study), seeded reproducibility, and one tiny end-to-end search of two trial jobs."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import optuna
import pytest
from sqlalchemy import select

from crucible.common.registry import TrainingJob
from crucible.trainer.policy import TrainerPolicy
from crucible.trainer.request import TrainRequest
from crucible.trainer.search import (
    SEARCH_KEYS,
    PruneOnEvalLoss,
    baseline_params,
    run_search,
    suggest_lora,
    trial_overrides,
)


def test_the_policy_in_force_is_a_point_of_the_search_space() -> None:
    policy = TrainerPolicy()
    params = baseline_params(policy)
    assert set(params) == set(SEARCH_KEYS)
    assert suggest_lora(optuna.trial.FixedTrial(params), policy) == params
    # A policy outside the built-in ranges widens them instead of being unreachable.
    odd = TrainerPolicy(lora_r=12, lora_alpha=24, learning_rate=5e-2, epochs=6.0)
    assert suggest_lora(optuna.trial.FixedTrial(baseline_params(odd)), odd) == baseline_params(odd)


def test_trial_overrides_start_fresh_and_let_epochs_decide_unless_capped() -> None:
    params = {"lora_r": 8, "lora_alpha": 16, "lora_dropout": 0.1, "learning_rate": 1e-3, "epochs": 2.0}
    out = trial_overrides(params, steps=0, eval_every=5)
    assert out["init_from"] == "base" and out["checkpoint_every_steps"] == 5
    assert out["max_steps"] == 0 and out["cpu_max_steps"] == 0  # no cap: the trial's epochs decide
    assert {k: out[k] for k in params} == params
    capped = trial_overrides(params, steps=30, eval_every=5)
    assert capped["max_steps"] == 30 and capped["cpu_max_steps"] == 30
    # Capped trials do not search the epochs (the Trainer ignores them under max_steps).
    fixed = {k: v for k, v in params.items() if k != "epochs"}
    assert suggest_lora(optuna.trial.FixedTrial(fixed), TrainerPolicy(), epochs=False) == fixed
    # The overrides are valid policy values.
    TrainerPolicy(**{**TrainerPolicy().model_dump(), **out})


def _evaluate(cb: PruneOnEvalLoss, step: int, loss: float) -> None:
    cb.on_evaluate(SimpleNamespace(), SimpleNamespace(global_step=step), SimpleNamespace(), metrics={"eval_loss": loss})


def test_pruning_callback_reports_eval_loss_and_prunes_a_trailing_trial() -> None:
    study = optuna.create_study(direction="minimize", pruner=optuna.pruners.MedianPruner(n_startup_trials=2))
    for final in (1.0, 1.2):  # two finished trials whose validation loss was low at every step
        trial = study.ask()
        cb = PruneOnEvalLoss(trial)
        for step in (5, 10):
            _evaluate(cb, step, final)
        study.tell(trial, final)
    good = study.ask()
    _evaluate(PruneOnEvalLoss(good), 5, 0.5)  # better than the median: goes on
    assert study.trials[good.number].intermediate_values == {5: 0.5}
    bad = study.ask()
    with pytest.raises(optuna.TrialPruned, match=r"validation loss 9\.0000 at step 5"):
        _evaluate(PruneOnEvalLoss(bad), 5, 9.0)
    # NaN (nothing to evaluate on) is not reported.
    _evaluate(PruneOnEvalLoss(good), 10, math.nan)
    assert 10 not in study.trials[good.number].intermediate_values


def _params_sequence(seed: int) -> list[dict]:
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=3))
    policy = TrainerPolicy()

    def objective(trial: optuna.Trial) -> float:
        p = suggest_lora(trial, policy)
        return abs(math.log10(p["learning_rate"]) + 3) + p["lora_dropout"] + 1 / p["lora_r"] + p["epochs"] / 10

    study.optimize(objective, n_trials=8)
    return [t.params for t in study.trials]


def test_same_seed_same_trials_same_parameters() -> None:
    assert _params_sequence(7) == _params_sequence(7)
    assert _params_sequence(7) != _params_sequence(8)


def test_two_trial_search_end_to_end(trainer_runtime, splits, tmp_path: Path) -> None:
    request = TrainRequest("unused", train_file=splits[0], val_file=splits[1])
    lines: list[str] = []
    record = run_search(
        trainer_runtime, request, trials=2, seed=3, study_name="t-e2e", steps=4, eval_every=2, progress=lines.append
    )
    assert [t["number"] for t in record["trials"]] == [0, 1]
    policy_values = baseline_params(trainer_runtime.policy.section("trainer"))
    assert record["trials"][0]["params"] == {k: v for k, v in policy_values.items() if k != "epochs"}
    assert all(t["user_attrs"].get("global_step") in (None, 4.0) for t in record["trials"])
    assert record["baseline"]["number"] == 0 and record["trials"][0]["state"] == "COMPLETE"
    assert all(t["intermediate_values"] for t in record["trials"])
    assert record["best"]["value"] == min(t["value"] for t in record["trials"] if t["state"] == "COMPLETE")
    assert len(lines) == 2 and lines[0].startswith("trial 0 (1/2): val loss")
    # The record in the artifact store, the study in the registry database's study storage, the job rows.
    stored = json.loads(Path(record["artifact_uri"].removeprefix("file://")).read_text())
    assert stored["trials"] == json.loads(json.dumps(record["trials"]))
    from crucible.common.search import open_storage

    loaded = optuna.load_study(study_name="t-e2e", storage=open_storage(trainer_runtime.registry.url))
    assert [t.params for t in loaded.trials] == [t["params"] for t in record["trials"]]
    with trainer_runtime.registry.session() as s:
        jobs = {r.job_id: r.status for r in s.scalars(select(TrainingJob))}
    assert set(jobs) == {"t-e2e-t0", "t-e2e-t1"}
    assert all(status in ("succeeded", "failed") for status in jobs.values())
    if record["best"]["number"] != 0:
        assert record["proposed_diff"].startswith("--- crucible.yaml (in force)")
    else:
        assert record["proposed_diff"] == ""
