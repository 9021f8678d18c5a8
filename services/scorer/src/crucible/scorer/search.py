"""`crucible scorer search`: an Optuna search over the safety head's training settings (`scorer.safety_head`:
hidden size, learning rate, weight decay, dropout, epochs, focal-loss gamma).

Objective: the validation macro-F1 (at threshold 0.5) of the head, the figure `fit_safety` already chooses
its hidden size and early-stops on; maximised. It is reported every `CHECK_EVERY` epochs, so the median
pruner stops trials that trail the earlier ones. (Not the validation focal loss: gamma is searched, and
losses under different gammas are not comparable.) Trial 0 is the policy in force, the same-run baseline.
Study storage, the record in the artifact store and the proposed diff: `crucible.common.search`.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from crucible.scorer.labelled import SafetyExample
from crucible.scorer.policy import SafetyHeadPolicy, ScorerPolicy

log = logging.getLogger(__name__)

SEARCH_KEYS = ("hidden_sizes", "learning_rate", "weight_decay", "dropout", "epochs", "focal_gamma")
HIDDEN_CHOICES = ("32", "64", "128", "256", "512")
ARTIFACT_PREFIX = "scorer/search"


def _hidden_label(sizes: list[int]) -> str:
    return ",".join(str(s) for s in sizes)


def hidden_choices(current: SafetyHeadPolicy) -> list[str]:
    """One hidden size per trial, plus the policy's own list (its best-of-several, so trial 0 is exactly it)."""
    own = _hidden_label(current.hidden_sizes)
    return [*HIDDEN_CHOICES, *([own] if own not in HIDDEN_CHOICES else [])]


def baseline_params(current: SafetyHeadPolicy) -> dict[str, Any]:
    """The policy in force, as the search's parameters (enqueued as trial 0)."""
    return {
        "hidden_sizes": _hidden_label(current.hidden_sizes),
        "learning_rate": current.learning_rate,
        "weight_decay": current.weight_decay,
        "dropout": current.dropout,
        "epochs": current.epochs,
        "focal_gamma": current.focal_gamma,
    }


def suggest_head(trial: Any, current: SafetyHeadPolicy) -> SafetyHeadPolicy:
    """The search space; each range holds the policy's own value, so trial 0 is a point of it."""
    c = current
    hidden = trial.suggest_categorical("hidden_sizes", hidden_choices(c))
    return SafetyHeadPolicy(
        hidden_sizes=[int(h) for h in hidden.split(",")],
        learning_rate=trial.suggest_float(
            "learning_rate", min(3e-4, c.learning_rate), max(3e-2, c.learning_rate), log=True
        ),
        weight_decay=trial.suggest_float(
            "weight_decay", min(1e-5, c.weight_decay or 1e-5), max(1e-1, c.weight_decay), log=True
        ),
        dropout=trial.suggest_float("dropout", 0.0, max(0.5, c.dropout)),
        epochs=trial.suggest_int("epochs", min(100, c.epochs), max(600, c.epochs)),
        focal_gamma=trial.suggest_float("focal_gamma", 0.0, max(4.0, c.focal_gamma)),
    )


def proposed_values(params: dict[str, Any]) -> dict[str, Any]:
    """A trial's parameters as `scorer.safety_head` policy values."""
    out = dict(params)
    out["hidden_sizes"] = [int(h) for h in str(params["hidden_sizes"]).split(",")]
    return out


def search_heads(
    study: Any,
    rows: list[SafetyExample],
    embed: dict[str, np.ndarray],
    sentences: dict[str, np.ndarray],
    *,
    trials: int,
    current: SafetyHeadPolicy,
    progress: Callable[[str], None] = log.info,
) -> Any:
    """Run `trials` trials on `study` (the first is the policy in force); returns the study."""
    import optuna

    from crucible.scorer.training import fit_safety_scored

    study.enqueue_trial(baseline_params(current), user_attrs={"baseline": True})

    def objective(trial: optuna.Trial) -> float:
        settings = suggest_head(trial, current)

        def report(step: int, f1: float) -> None:
            trial.report(f1, step)
            if trial.should_prune():
                raise optuna.TrialPruned(f"validation macro-F1 {f1:.4f} at epoch {step}")

        _, f1 = fit_safety_scored(rows, embed, sentences, settings=settings, report=report)
        return f1

    def announce(st: optuna.Study, t: optuna.trial.FrozenTrial) -> None:
        shown = ", ".join(f"{k}={_fmt(v)}" for k, v in t.params.items())
        value = f"val macro-F1 {t.value:.4f}" if t.value is not None else t.state.name.lower()
        if t.state == optuna.trial.TrialState.PRUNED and t.intermediate_values:
            step = max(t.intermediate_values)
            value = f"pruned at epoch {step} (val macro-F1 {t.intermediate_values[step]:.4f})"
        seconds = t.duration.total_seconds() if t.duration else 0.0
        progress(f"trial {t.number} ({t.number + 1}/{trials}): {value} in {seconds:.1f} s [{shown}]")

    study.optimize(objective, n_trials=trials, callbacks=[announce], catch=())
    return study


def _fmt(v: Any) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def safety_embeddings(
    artifacts: Any, policy: ScorerPolicy, rows: list[SafetyExample], progress: Callable[[str], None]
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Turn and sentence vectors of the safety set from the stored encoder (exported when none is stored)."""
    from crucible.scorer.encoder import OnnxEncoder, embed_turns, export_onnx
    from crucible.scorer.models import models_present

    key = policy.model_key.rstrip("/")
    if models_present(artifacts, policy):
        graph = artifacts.read_bytes(f"{key}/encoder.onnx")
    else:
        progress("no stored encoder: exporting MiniLM to ONNX")
        with tempfile.TemporaryDirectory() as tmp:
            graph = export_onnx(Path(tmp), quantized=policy.encoder.quantized).read_bytes()
    enc = policy.encoder
    encoder = OnnxEncoder(graph, max_tokens=enc.max_tokens, batch_size=enc.batch_size, batch_tokens=enc.batch_tokens)
    texts = list(dict.fromkeys(e.text for e in rows))
    progress(f"encoding {len(texts)} safety examples")
    embedded = embed_turns(encoder, texts)
    return dict(zip(texts, embedded.turns, strict=True)), dict(zip(texts, embedded.sentences, strict=True))


def run_search(
    runtime: Any,
    policy: ScorerPolicy,
    *,
    trials: int,
    seed: int,
    study_name: str,
    progress: Callable[[str], None] = log.info,
) -> dict[str, Any]:
    """The whole command: storage, embeddings, trials, the record in the artifact store, the proposed diff."""
    import torch

    from crucible.common.search import (
        check_trials,
        create_study,
        open_storage,
        policy_diff,
        policy_file_label,
        study_record,
        write_study,
    )
    from crucible.scorer.labelled import safety_set

    check_trials(trials)
    storage = open_storage(runtime.registry.url)  # first: an unreachable database fails before any work
    torch.set_num_threads(1)
    started = time.perf_counter()
    rows = safety_set()
    embed, sentences = safety_embeddings(runtime.artifacts, policy, rows, progress)
    study = create_study(storage, study_name, direction="maximize", seed=seed, n_warmup_steps=5 * 10)
    search_heads(study, rows, embed, sentences, trials=trials, current=policy.safety_head, progress=progress)
    record = study_record(
        study,
        extra={
            "objective": "validation macro-F1 of the safety head (threshold 0.5), maximised",
            "seed": seed,
            "wall_seconds": round(time.perf_counter() - started, 2),
        },
    )
    baseline = next((t for t in record["trials"] if t["user_attrs"].get("baseline")), None)
    record["baseline"] = {"number": baseline["number"], "value": baseline["value"]} if baseline else None
    diff = ""
    if record["best"] is not None:
        current = policy.safety_head.model_dump(include=set(SEARCH_KEYS))
        label = f"best trial {record['best']['number']} of study {study_name}"
        diff = policy_diff(
            ["scorer", "safety_head"],
            current,
            proposed_values(record["best"]["params"]),
            source=policy_file_label(runtime.policy.source),
            label=label,
        )
    record["proposed_diff"] = diff
    record["artifact_uri"] = write_study(runtime.artifacts, ARTIFACT_PREFIX, record)
    return record
