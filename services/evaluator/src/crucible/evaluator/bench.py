"""`crucible bench eval`: seconds to evaluate the tiny model on 200 test prompts, by phase
(generation, metrics, judge), on one core. Same-run baseline: the candidate's test answers
generated one prompt at a time (batch size 1) against the batched generation the evaluator uses.

The models come from the trainer's command line, as a user would make them: the base from
`crucible models init-tiny`, the candidate adapter from `crucible train --train-file/--val-file
--base-model` in a throwaway CRUCIBLE_HOME (services share data, not code), found afterwards
in that home's registry and artifact store."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def bench_eval(quick: bool = False) -> dict[str, Any]:
    """Seconds to evaluate the tiny model on 200 test prompts, by phase, on one core."""
    # Libraries imported on the way (peft pulls in DeepSpeed, which logs to stdout) must not
    # mix their lines into `--json` output.
    with contextlib.redirect_stdout(sys.stderr):
        return _bench_eval(quick)


def _bench_eval(quick: bool) -> dict[str, Any]:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch

    torch.set_num_threads(1)
    from crucible.evaluator import chats, generation, safety_suite
    from crucible.evaluator.evaluation import evaluate_models
    from crucible.evaluator.policy import EvaluatorPolicy
    from crucible.evaluator.testset import example_from_messages

    n = 20 if quick else 200
    policy = EvaluatorPolicy()
    policy.max_test_examples = n
    policy.pairwise_prompts = n
    policy.rating.bootstrap_rounds = 100 if quick else 1000
    cases, _ = safety_suite.load_suite()
    if quick:
        cases = cases[::5]
    with tempfile.TemporaryDirectory(prefix="crucible-bench-eval-") as tmp:
        t = time.perf_counter()
        base, adapter, trained = build_models(Path(tmp), quick)
        setup = time.perf_counter() - t
        examples = [example_from_messages(c["messages"], c["id"]) for c in chats.coaching_chats(n, seed=99)]

        def candidate() -> generation.LoadedModel:
            return generation.load_model("tiny-candidate", str(base), adapter, policy.generation)

        def serving() -> generation.LoadedModel:
            return generation.load_model("tiny-base", str(base), None, policy.generation)

        t = time.perf_counter()
        rep = evaluate_models(policy, ("tiny-candidate", candidate), ("tiny-base", "base", serving), examples, cases)
        total = time.perf_counter() - t

        lm = candidate()
        unbatched = policy.generation.model_copy(update={"batch_size": 1})
        prompts = [e.prompt_messages() for e in examples]
        t = time.perf_counter()
        single = generation.generate_answers(lm, prompts, unbatched)
        baseline = time.perf_counter() - t
        t = time.perf_counter()
        batched = generation.generate_answers(lm, prompts, policy.generation)
        batched_s = time.perf_counter() - t
    phases = rep["timings"]
    return {
        "test_prompts": n,
        "safety_cases": len(cases),
        "pairwise_prompts": n,
        "bootstrap_rounds": policy.rating.bootstrap_rounds,
        "threads": torch.get_num_threads(),
        "setup_seconds_not_counted": round(setup, 2),
        "models": trained,
        "seconds": {"total": round(total, 2), **{k: round(v, 2) for k, v in phases.items()}},
        "generation_detail": {
            "answers_generated": n + len(cases) + n,
            "max_new_tokens": policy.generation.max_new_tokens,
            "batch_size": policy.generation.batch_size,
        },
        "baseline": {
            "what": "candidate test answers, batch size 1 vs the evaluator's batched generation, same run",
            "batch1_seconds": round(baseline, 2),
            "batched_seconds": round(batched_s, 2),
            "speedup": round(baseline / batched_s, 2) if batched_s else None,
            "identical_answers": sum(a == b for a, b in zip(single, batched, strict=True)) / len(single),
        },
        "metrics": {k: round(v, 4) for k, v in rep["metrics"].items()},
        "passed": rep["gates"]["passed"],
        "failed_gates": rep["gates"]["failed_gates"],
        "warned_gates": rep["gates"]["warned_gates"],
    }


def build_models(root: Path, quick: bool) -> tuple[Path, Path, dict[str, Any]]:
    """(base folder, adapter folder, what was built): `crucible models init-tiny`, then a short
    `crucible train` on coaching chats in a CRUCIBLE_HOME of its own under `root`."""
    from sqlalchemy import select

    from crucible.common.artifacts import ArtifactStore
    from crucible.common.config import Settings
    from crucible.common.registry import ModelVersion, Registry
    from crucible.evaluator import chats
    from crucible.evaluator.model_source import local_dir

    home, base = root / "home", root / "base"
    pretrain_steps, train_steps = (80, 10) if quick else (200, 30)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRUCIBLE_")}
    env.update(CRUCIBLE_HOME=str(home), CRUCIBLE_LOG_JSON="false", OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    _crucible(root, env, "models", "init-tiny", str(base), "--steps", str(pretrain_steps))
    splits = {"train": chats.coaching_chats(300, seed=1), "val": chats.coaching_chats(30, seed=2)}
    for split, rows in splits.items():
        lines = "".join(json.dumps({"messages": c["messages"]}) + "\n" for c in rows)
        (root / f"{split}.chat.jsonl").write_text(lines)
    # The built-in corpus (it includes rendered chats, so the base knows the template); 80 steps is
    # about where it starts writing words, fewer gives empty answers and zero overlap metrics.
    # A higher learning rate than the policy's default, so ten steps move the adapter off its
    # zero-initialised B and the candidate answers differently from its base.
    _crucible(
        root, env, "train", "--train-file", str(root / "train.chat.jsonl"), "--val-file", str(root / "val.chat.jsonl"),
        "--base-model", str(base), "--set", f"max_steps={train_steps}", "--set", "learning_rate=2e-3",
    )  # fmt: skip
    settings = Settings(home=home)
    registry = Registry(settings.resolved_database_url())
    try:
        with registry.session() as s:
            (mv,) = s.scalars(select(ModelVersion)).all()  # a fresh home holds the one model just trained
            name, adapter_uri, metrics = mv.name, mv.adapter_uri, dict(mv.metrics or {})
    finally:
        registry.engine.dispose()
    adapter = local_dir(ArtifactStore(settings.resolved_artifacts_url()), adapter_uri, root / "scratch")
    losses = {k: round(float(metrics[k]), 4) for k in ("eval_loss_initial", "eval_loss") if k in metrics}
    built = {
        "base": f"crucible models init-tiny --steps {pretrain_steps}",
        "candidate": f"crucible train --set max_steps={train_steps} --set learning_rate=2e-3 (300 train, 30 val chats)",
        "candidate_model_name": name,
        "candidate_eval_loss": losses,
    }
    return base, adapter, built


def _crucible(cwd: Path, env: dict[str, str], *args: str) -> None:
    # cwd: a ./crucible.yaml where the bench was started must not change the trainer's policy.
    proc = subprocess.run(
        [sys.executable, "-m", "crucible.common.cli", *args], check=False, cwd=cwd, env=env, capture_output=True,
        text=True, timeout=1200,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"crucible {' '.join(args[:2])} failed ({proc.returncode}): {proc.stderr[-2000:]}")
