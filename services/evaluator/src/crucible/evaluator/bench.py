"""`crucible bench eval`: seconds to evaluate the tiny model on 200 test prompts, by phase
(generation, metrics, judge), on one core. Same-run baseline: the candidate's test answers
generated one prompt at a time (batch size 1) against the batched generation the evaluator uses."""

from __future__ import annotations

import contextlib
import os
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
    from crucible.evaluator import generation, safety_suite, tiny_lm
    from crucible.evaluator.pipeline import evaluate_models
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
        train = tiny_lm.coaching_chats(300, seed=1)
        base = tiny_lm.build_tiny_model(Path(tmp) / "base", train, steps=40 if quick else 120)
        adapter = tiny_lm.train_lora_adapter(base, Path(tmp) / "adapter", train, steps=10 if quick else 30)
        setup = time.perf_counter() - t
        examples = [example_from_messages(c["messages"], c["id"]) for c in tiny_lm.coaching_chats(n, seed=99)]

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
