"""One evaluation, start to finish: generate, measure, judge, rate, gate.

`evaluate_models` is the core: two model loaders, the test examples and the safety suite in,
the report dict out (no registry, no bus). `registered.evaluate_registered` wraps it for a model
version in the registry.
"""

from __future__ import annotations

import logging
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from crucible.common import guard
from crucible.evaluator import __version__, bradley_terry, gates, generation, judges, metrics, safety_suite
from crucible.evaluator.policy import EvaluatorPolicy
from crucible.evaluator.safety_classifier import make_classifier
from crucible.evaluator.testset import Example, TestSetError

log = logging.getLogger(__name__)

EVALUATOR_VERSION = __version__
Loader = Callable[[], generation.LoadedModel]


@dataclass
class Timer:
    phases: dict[str, float]

    def add(self, phase: str, started: float) -> None:
        self.phases[phase] = self.phases.get(phase, 0.0) + time.perf_counter() - started


def _versions() -> dict[str, str]:
    out = {"evaluator": EVALUATOR_VERSION, "python": platform.python_version()}
    for pkg in ("torch", "transformers", "peft", "sacrebleu", "rouge-score", "bert-score", "numpy"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "missing"
    return out


def evaluate_models(
    policy: EvaluatorPolicy,
    candidate: tuple[str, Loader],
    serving: tuple[str, str, Loader],
    examples: Sequence[Example],
    cases: Sequence[safety_suite.SafetyCase],
    *,
    judge: judges.PairwiseJudge | None = None,
    suite_sha256: str = "",
) -> dict[str, Any]:
    """The report dict. `candidate` = (label, loader); `serving` = (label, kind, loader)."""
    if not examples:
        raise TestSetError("no test examples")
    gen = policy.generation
    timer = Timer({})
    examples = list(examples)[: policy.max_test_examples]
    pair_examples = examples[: policy.pairwise_prompts]
    cand_label, cand_load = candidate
    serv_label, serv_kind, serv_load = serving
    compared_with = {"name": serv_label, "kind": serv_kind}
    if serv_label == cand_label:
        serv_label = f"{serv_label} (serving)"

    t = time.perf_counter()
    lm = cand_load()
    ppl = generation.perplexity(lm, examples, gen)
    raw_answers = generation.generate_answers(lm, [e.prompt_messages() for e in examples], gen)
    raw_safety_answers = generation.generate_answers(lm, [list(c.messages) for c in cases], gen)
    template = {
        "source": "policy" if gen.chat_template else "tokenizer",
        "sha256": lm.template_sha256,
        "text": lm.chat_template,
    }
    generation.free(lm)
    slm = serv_load()
    raw_serv_answers = generation.generate_answers(slm, [e.prompt_messages() for e in pair_examples], gen)
    generation.free(slm)
    timer.add("generation", t)

    # As served: the guard answers risky prompts before any model does (both models alike).
    with_guard = policy.serve_with_guard
    test_guard = [guard.check_messages(e.prompt_messages()) if with_guard else None for e in examples]
    suite_guard = [guard.check_messages(list(c.messages)) if with_guard else None for c in cases]
    cand_answers = as_served(raw_answers, test_guard)
    safety_answers = as_served(raw_safety_answers, suite_guard)
    serv_answers = as_served(raw_serv_answers, test_guard[: len(pair_examples)])

    t = time.perf_counter()
    refs = [e.reference for e in examples]
    bleu = metrics.bleu(cand_answers, refs)
    rouge = metrics.rouge_l(cand_answers, refs)
    bert = metrics.bertscore(cand_answers, refs, policy.bertscore)
    classifier = make_classifier(policy.safety.classifier)
    safety = safety_suite.judge_suite(cases, safety_answers, classifier, policy.safety.unsafe_threshold)
    safety["as_served"] = with_guard
    safety["guard"] = guard_summary(suite_guard, with_guard)
    safety_raw = safety_suite.judge_suite(cases, raw_safety_answers, classifier, policy.safety.unsafe_threshold)
    safety_raw["note"] = "the raw model without the serving guard: information only, not a gate"
    timer.add("metrics", t)

    t = time.perf_counter()
    items = [judges.PairItem(e.last_user_text(), e.reference) for e in pair_examples]
    if judge is None:
        judge = default_judge(policy, classifier)
    outcomes, stats = judges.judge_both_orders(judge, items, cand_answers[: len(pair_examples)], serv_answers)
    winner = {"candidate": "a", "serving": "b", "tie": "tie"}
    battles = [(cand_label, serv_label, winner[o]) for o in outcomes]
    r = policy.rating
    ratings = bradley_terry.bradley_terry(
        battles, anchor=serv_label, anchor_rating=r.anchor, scale=r.scale, base=r.base,
        rounds=r.bootstrap_rounds, seed=r.seed, l2=r.l2,
    )  # fmt: skip
    timer.add("judge", t)

    diff_ci = ratings.diff_ci[cand_label]
    elo_diff = ratings.elo[cand_label] - ratings.elo[serv_label]
    metric_values = {
        "perplexity": ppl.perplexity,
        "bleu": bleu["bleu"],
        "rouge_l": rouge,
        "bertscore_f1": bert.mean_f1,
        "safety_pass_rate": safety["pass_rate"],
        "safety_raw_model_pass_rate": safety_raw["pass_rate"],
        "elo_candidate": ratings.elo[cand_label],
        "elo_serving": ratings.elo[serv_label],
        "elo_diff": elo_diff,
        "elo_diff_ci_low": diff_ci[0],
        "elo_diff_ci_high": diff_ci[1],
        "win_rate": (stats["candidate_wins"] + 0.5 * stats["ties"]) / max(stats["pairs"], 1),
    }
    decision = gates.decide(policy.gates, metric_values, diff_ci[1])
    notes = []
    if policy.gates.safety.mode != "enforce":
        notes.append(
            f"WARNING: the safety gate is set to '{policy.gates.safety.mode}', not 'enforce': this model may be "
            "released with safety failures. Only acceptable for the embedded demo's tiny model."
        )
    if with_guard:
        notes.append(
            f"Safety judged as served: the serving guard ({guard.GUARD_VERSION}) answered "
            f"{safety['guard']['hits']} of {len(cases)} suite cases with vetted templates; the raw model alone "
            f"passed {safety_raw['passed']} of {len(cases)} (safety_raw_model, information only)."
        )
    else:
        notes.append("serve_with_guard is off: safety judged on the raw model's answers.")
    notes.append("BERTScore without baseline rescaling (none exists for the local MiniLM): raw F1.")
    if judge.name.startswith("offline"):
        notes.append("Pairwise judge is the offline proxy (BERTScore to the reference + safety veto), not an LLM.")
    return {
        "schema": 1,
        "model_name": cand_label,
        # What the candidate was rated against: the pool's serving model, or the base when none serves.
        "compared_with": compared_with,
        "metrics": metric_values,
        "gates": decision.as_dict(),
        "notes": notes,
        "perplexity": {"tokens": ppl.tokens, "nll_sum": ppl.nll_sum, "scope": "reference answer tokens"},
        "bleu": {k: v for k, v in bleu.items() if k != "bleu"},
        "safety": safety,
        "safety_raw_model": safety_raw,
        "guard": {
            "enabled": with_guard,
            "version": guard.GUARD_VERSION if with_guard else None,
            "safety_suite": safety["guard"],
            "test_prompts": guard_summary(test_guard, with_guard),
        },
        "pairwise": {
            "candidate": cand_label,
            "serving": serv_label,
            "serving_kind": serv_kind,
            "judge": judge.name,
            "order_rule": "both orders asked; disagreement counted as a tie",
            "stats": stats,
            "elo_diff": elo_diff,
            "elo_diff_ci": list(diff_ci),
            "ratings": {
                "elo": ratings.elo,
                "ci_low": ratings.ci_low,
                "ci_high": ratings.ci_high,
                "battles": ratings.battles,
                "bootstrap_rounds": ratings.rounds,
                "method": "Bradley-Terry MLE (Newton, ridge l2 on log-strength), ties = half win, Elo scale",
            },
        },
        "settings": {
            "generation": gen.model_dump(),
            "chat_template": template,
            "bertscore": bert.settings,
            "judge": policy.judge.model_dump(),
            "rating": r.model_dump(),
            "gates": policy.gates.model_dump(),
            "test_examples": len(examples),
            "pairwise_prompts": len(pair_examples),
            "safety_cases": len(cases),
            "safety_suite_sha256": suite_sha256,
            "serve_with_guard": with_guard,
        },
        "versions": _versions(),
        "timings": {k: round(v, 3) for k, v in timer.phases.items()},
        "answers": [
            {
                "example_id": e.example_id,
                "prompt": e.prompt_messages(),
                "reference": e.reference,
                "candidate": cand_answers[i],
                "candidate_raw": raw_answers[i],
                "guard": test_guard[i].category if test_guard[i] else None,
                "serving": serv_answers[i] if i < len(serv_answers) else None,
                # The judge's verdict on this prompt (both orders agreeing), so the dataset service can
                # turn it into a preference pair: candidate | serving | tie, None when not judged.
                "pairwise": outcomes[i] if i < len(outcomes) else None,
                "bertscore_f1": bert.f1[i],
            }
            for i, e in enumerate(examples)
        ],
    }


def as_served(answers: Sequence[str], decisions: Sequence[guard.GuardDecision | None]) -> list[str]:
    """What a person would get: the guard's template where it fired, the model's answer elsewhere."""
    return [guard.guarded_answer(d) if d is not None else a for a, d in zip(answers, decisions, strict=True)]


def guard_summary(decisions: Sequence[guard.GuardDecision | None], enabled: bool) -> dict[str, Any]:
    hits = [d for d in decisions if d is not None]
    by_cat: dict[str, int] = {}
    by_rule: dict[str, int] = {}
    for d in hits:
        by_cat[d.category] = by_cat.get(d.category, 0) + 1
        by_rule[d.rule_id] = by_rule.get(d.rule_id, 0) + 1
    return {
        "enabled": enabled,
        "prompts": len(decisions),
        "hits": len(hits),
        "by_category": dict(sorted(by_cat.items())),
        "by_rule": dict(sorted(by_rule.items())),
    }


def default_judge(policy: EvaluatorPolicy, classifier: Any) -> judges.PairwiseJudge:
    if policy.judge.kind == "llm":
        return judges.LLMJudge(policy.judge)
    threshold = policy.safety.unsafe_threshold

    def score(h: list[str], r: list[str]) -> list[float]:
        return metrics.bertscore(h, r, policy.bertscore).f1

    def unsafe(texts: list[str]) -> list[bool]:
        return [s >= threshold for s in classifier.unsafe_scores(texts)]

    return judges.OfflineJudge(score, unsafe, policy.judge.tie_margin)
