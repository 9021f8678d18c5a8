"""`crucible scorer search`: the safety head's search space, seeded reproducibility, pruning inside the head's
training, and a two-trial search end to end (on small synthetic embeddings: the search, not MiniLM, is tested)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import optuna
import pytest

from crucible.common.search import create_study, open_storage, policy_diff
from crucible.scorer.labelled import SafetyExample
from crucible.scorer.policy import SAFETY_LABELS, SafetyHeadPolicy
from crucible.scorer.search import (
    SEARCH_KEYS,
    baseline_params,
    hidden_choices,
    proposed_values,
    search_heads,
    suggest_head,
)


def _synthetic(seed: int = 0, dim: int = 24) -> tuple[list[SafetyExample], dict, dict]:
    """Per label a cluster of unit vectors; train and val examples of every label."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(SAFETY_LABELS), dim))
    rows, embed, sentences = [], {}, {}
    for j, label in enumerate(SAFETY_LABELS):
        for split, n in (("train", 24), ("val", 8)):
            for i in range(n):
                v = centres[j] + 0.8 * rng.normal(size=dim)
                v = (v / np.linalg.norm(v)).astype(np.float32)
                text = f"{label}-{split}-{i}"
                rows.append(SafetyExample(text, (label,), split))
                embed[text], sentences[text] = v, v[None, :]
    return rows, embed, sentences


def test_the_policy_in_force_is_a_point_of_the_search_space() -> None:
    current = SafetyHeadPolicy()
    params = baseline_params(current)
    assert set(params) == set(SEARCH_KEYS)
    assert suggest_head(optuna.trial.FixedTrial(params), current) == current
    assert "64,128,256" in hidden_choices(current) and "128" in hidden_choices(current)
    assert proposed_values({**params, "hidden_sizes": "128"})["hidden_sizes"] == [128]


def test_policy_keys_of_the_proposal_are_the_policy_section() -> None:
    current = SafetyHeadPolicy().model_dump(include=set(SEARCH_KEYS))
    proposal = proposed_values({**baseline_params(SafetyHeadPolicy()), "hidden_sizes": "256", "focal_gamma": 1.5})
    diff = policy_diff(["scorer", "safety_head"], current, proposal)
    assert "+    focal_gamma: 1.5" in diff.splitlines()
    assert "-    - 64" in diff.splitlines() and "-    - 128" in diff.splitlines()
    assert "+    - 256" not in diff.splitlines()  # kept: the diff is minimal
    SafetyHeadPolicy(**proposal)  # a valid section


def _run(seed: int, trials: int = 3) -> optuna.Study:
    rows, embed, sentences = _synthetic()
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=2),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=0),
    )
    return search_heads(study, rows, embed, sentences, trials=trials, current=SafetyHeadPolicy(epochs=60))


def test_same_seed_same_trials_same_parameters_and_values() -> None:
    a, b = _run(5), _run(5)
    assert [t.params for t in a.trials] == [t.params for t in b.trials]
    assert [t.value for t in a.trials] == [t.value for t in b.trials]
    assert a.trials[0].user_attrs == {"baseline": True}
    assert all(t.intermediate_values for t in a.trials)  # every check reported (what the pruner reads)


def test_a_trailing_trial_is_pruned_inside_the_head_training() -> None:
    rows, embed, sentences = _synthetic()
    study = optuna.create_study(
        direction="maximize", pruner=optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=0)
    )
    current = SafetyHeadPolicy(hidden_sizes=[32], epochs=60)
    search_heads(study, rows, embed, sentences, trials=1, current=current)
    # The same settings, but a learning rate that cannot learn: below the median at the first check.
    study.enqueue_trial({**baseline_params(current), "learning_rate": 3e-4, "weight_decay": 1e-5})
    study.optimize(lambda t: _objective_from(t, rows, embed, sentences, current), n_trials=1)
    assert study.trials[-1].state == optuna.trial.TrialState.PRUNED
    assert list(study.trials[-1].intermediate_values) == [10]


def _objective_from(trial: optuna.Trial, rows, embed, sentences, current) -> float:
    from crucible.scorer.training import fit_safety_scored

    def report(step: int, f1: float) -> None:
        trial.report(f1, step)
        if trial.should_prune():
            raise optuna.TrialPruned()

    return fit_safety_scored(rows, embed, sentences, settings=suggest_head(trial, current), report=report)[1]


def test_two_trial_study_in_the_registry_storage(tmp_path: Path) -> None:
    rows, embed, sentences = _synthetic()
    storage = open_storage(f"sqlite:///{tmp_path / 'registry.db'}")
    study = create_study(storage, "heads-e2e", direction="maximize", seed=1)
    lines: list[str] = []
    search_heads(study, rows, embed, sentences, trials=2, current=SafetyHeadPolicy(epochs=60), progress=lines.append)
    loaded = optuna.load_study(study_name="heads-e2e", storage=open_storage(f"sqlite:///{tmp_path / 'registry.db'}"))
    assert len(loaded.trials) == 2 and loaded.trials[0].params == baseline_params(SafetyHeadPolicy(epochs=60))
    assert 0.0 < loaded.best_value <= 1.0
    assert lines[0].startswith("trial 0 (1/2): val macro-F1")
    json.dumps(loaded.best_params)


def test_fit_safety_defaults_are_unchanged_by_the_parameters() -> None:
    """Without settings, fit_safety trains as before: the policy's defaults are the old constants."""
    d = SafetyHeadPolicy()
    assert (d.hidden_sizes, d.learning_rate, d.weight_decay, d.dropout, d.epochs, d.focal_gamma) == (
        [64, 128, 256],
        3e-3,
        1e-3,
        0.1,
        400,
        2.0,
    )
    with pytest.raises(ValueError):
        SafetyHeadPolicy(hidden_sizes=[])


def test_two_trial_search_end_to_end_on_the_stored_encoder(scorer_store, tmp_path: Path) -> None:
    """The command's path: the stored encoder, the labelled safety set, the study in the registry database's
    study storage, the record in the artifact store, the diff of `scorer.safety_head`."""
    from crucible.common.artifacts import ArtifactStore
    from crucible.common.config import Settings, load_policy
    from crucible.common.runtime import Runtime
    from crucible.scorer.policy import ScorerPolicy
    from crucible.scorer.search import run_search

    store = ArtifactStore((tmp_path / "artifacts").as_uri())
    key = ScorerPolicy().model_key
    for name in ("encoder.onnx", "replies.npz", "heads.npz"):
        store.write_bytes(f"{key}/{name}", scorer_store.read_bytes(f"{key}/{name}"))
    policy = load_policy(None, {"scorer": ScorerPolicy}, overrides={"scorer.safety_head.epochs": 60})
    runtime = Runtime.create(Settings(home=tmp_path / "home", log_json=False), policy=policy)
    runtime.artifacts = store
    try:
        lines: list[str] = []
        record = run_search(
            runtime, policy.section("scorer"), trials=2, seed=3, study_name="heads-cli", progress=lines.append
        )
    finally:
        runtime.registry.dispose()
    assert record["baseline"]["number"] == 0 and record["trials"][0]["params"]["epochs"] == 60
    assert record["states"] == {"COMPLETE": 2} and 0.0 < record["best"]["value"] <= 1.0
    assert json.loads(store.read_text("scorer/search/heads-cli/study.json"))["trials"] == record["trials"]
    assert (tmp_path / "home" / "registry.optuna.db").exists()
    if record["best"]["number"] == 0:
        assert record["proposed_diff"] == ""
    else:
        assert record["proposed_diff"].startswith("--- crucible.yaml (in force)\n+++ crucible.yaml (best trial 1")
        assert "   safety_head:" in record["proposed_diff"].splitlines()
    assert any(line.startswith("encoding") for line in lines)
