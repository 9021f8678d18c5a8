"""One evaluation, start to finish: generate, measure, judge, rate, gate.

`evaluate_models` is the core: two model loaders, the test examples and the safety suite in,
the report dict out (no registry, no bus). `evaluate_registered` wraps it for a model version
in the registry: resolves inputs, writes the report to the artifact store and the registry.
The hook (`crucible run`), `crucible serve evaluator` and `crucible eval run` all call it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import platform
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crucible.common import guard, lifecycle
from crucible.evaluator import bradley_terry, gates, generation, judges, metrics, report, safety_suite
from crucible.evaluator.model_source import ModelRef, candidate_ref, local_dir, resolve_base, serving_ref
from crucible.evaluator.policy import EvaluatorPolicy
from crucible.evaluator.safety_classifier import make_classifier
from crucible.evaluator.testset import Example, TestSetError, examples_from_lines, find_test_split_key, load_jsonl

if TYPE_CHECKING:
    from crucible.common.runtime import Runtime

log = logging.getLogger(__name__)

EVALUATOR_VERSION = "0.1.0"
ACTOR = "evaluator"  # who the lifecycle log names for the evaluator's decisions
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


# --- the registry-facing shell -------------------------------------------------------------


def test_examples_for(runtime: Runtime, dataset_version: str) -> tuple[list[Example], str]:
    """The dataset version's test split (chat JSONL named in its manifest)."""
    from crucible.common.registry import DatasetVersion

    with runtime.registry.session() as s:
        dv = s.get(DatasetVersion, dataset_version)
        if dv is None:
            raise TestSetError(f"dataset version {dataset_version!r} is not in the registry")
        manifest_uri = dv.manifest_uri
    if not manifest_uri:
        raise TestSetError(f"dataset version {dataset_version!r} has no manifest")
    manifest = json.loads(_read_text(runtime, manifest_uri))
    ref = find_test_split_key(manifest)
    text = None
    candidates = [ref]
    if "://" not in ref and not ref.startswith("/"):
        candidates.append(manifest_uri.rsplit("/", 1)[0] + "/" + ref)
    for c in candidates:
        try:
            text = _read_text(runtime, c)
            break
        except (FileNotFoundError, OSError):
            continue
    if text is None:
        raise TestSetError(f"test split {ref!r} of dataset {dataset_version} could not be read")
    return examples_from_lines(text.splitlines(), f"{dataset_version}/test"), ref


def _read_text(runtime: Runtime, ref: str) -> str:
    root = runtime.artifacts.root_url.rstrip("/") + "/"
    if ref.startswith(root):
        return runtime.artifacts.read_text(ref[len(root) :])
    if ref.startswith("file://"):
        return Path(ref.removeprefix("file://")).read_text(encoding="utf-8")
    if "://" not in ref and Path(ref).is_absolute():
        return Path(ref).read_text(encoding="utf-8")
    return runtime.artifacts.read_text(ref)


def loader_for(runtime: Runtime, ref: ModelRef, policy: EvaluatorPolicy, scratch: Path) -> Loader:
    def load() -> generation.LoadedModel:
        store, home = runtime.artifacts, runtime.settings.home
        adapter = local_dir(store, ref.adapter_uri, scratch) if ref.adapter_uri else None
        hint = adapter or (local_dir(store, ref.hint_adapter_uri, scratch) if ref.hint_adapter_uri else None)
        base = resolve_base(store, ref.base_model, scratch, home, hint)
        if adapter is None and ref.merged_uri:
            base = str(local_dir(store, ref.merged_uri, scratch))
        return generation.load_model(ref.label, base, adapter, policy.generation)

    return load


def report_prefix(model_name: str) -> str:
    return f"evaluations/{model_name}"


def write_report(runtime: Runtime, rep: dict[str, Any]) -> str:
    """Report JSON, answers JSONL, Markdown, HTML and the rating plot into the artifact store;
    returns the report JSON's URI."""
    prefix = report_prefix(rep["model_name"])
    answers = rep.pop("answers", None)
    if answers is not None:
        lines = "".join(json.dumps(a, ensure_ascii=False, sort_keys=True) + "\n" for a in answers)
        rep["answers_uri"] = runtime.artifacts.write_text(f"{prefix}/answers.jsonl", lines)
    image, ext = report.rating_plot(rep)
    plot_name = f"rating.{ext}"
    runtime.artifacts.write_bytes(f"{prefix}/{plot_name}", image)
    md = report.markdown(rep, plot_name)
    rep["report_md_uri"] = runtime.artifacts.write_text(f"{prefix}/report.md", md)
    rep["report_html_uri"] = runtime.artifacts.write_text(
        f"{prefix}/report.html", report.html_page(md, rep["model_name"], plot_name)
    )
    return runtime.artifacts.write_json(f"{prefix}/report.json", rep)


# The evaluator decides only before a rollout; once the gateway has a model, its status is the rollout's.
DECIDABLE = (lifecycle.TRAINED, lifecycle.EVALUATED, lifecycle.REJECTED)


def verdict_reason(gates_result: dict[str, Any], compared_with: dict[str, str]) -> str:
    against = f"rated against {compared_with['name']} ({compared_with['kind']})"
    if not gates_result["passed"]:
        return f"failed gates: {', '.join(gates_result['failed_gates'])}; {against}"
    warned = ", ".join(gates_result["warned_gates"])
    return f"passed every enforced gate{f' (only warned: {warned})' if warned else ''}; {against}"


def record_in_registry(runtime: Runtime, rep: dict[str, Any], report_uri: str) -> str:
    """Write the evaluation onto the model's row and move it to `evaluated` or `rejected`;
    returns the model's status afterwards. A model already in a rollout (or past one) keeps its
    row untouched: the report is in the artifact store, the decision is the rollout's."""
    from crucible.common.registry import ModelVersion

    with runtime.registry.session() as s:
        mv = s.get(ModelVersion, rep["model_name"])
        if mv is None:
            return ""
        if mv.status not in DECIDABLE:
            log.warning(
                "model %s is %s: report %s written, its registry row and status left as they are",
                mv.name,
                mv.status,
                report_uri,
            )
            return mv.status
        mv.evaluation = {
            "passed": rep["gates"]["passed"],
            "report_uri": report_uri,
            "metrics": rep["metrics"],
            "failed_gates": rep["gates"]["failed_gates"],
            "warned_gates": rep["gates"]["warned_gates"],
            "evaluated_at": rep.get("evaluated_at", ""),
            "run_id": rep.get("run_id", ""),
            "human_eval": rep.get("human_eval"),
            "compared_with": rep["compared_with"],
        }
        to = lifecycle.EVALUATED if rep["gates"]["passed"] else lifecycle.REJECTED
        lifecycle.transition(s, mv.name, to, reason=verdict_reason(rep["gates"], rep["compared_with"]), actor=ACTOR)
        return mv.status


def evaluate_registered(runtime: Runtime, model_name: str, *, test_file: Path | None = None) -> dict[str, Any]:
    """Evaluate a registered model version; writes the report; returns it with `report_uri`."""
    policy: EvaluatorPolicy = runtime.policy.section("evaluator")
    cand, dataset_version = candidate_ref(runtime.registry, model_name)
    serv = serving_ref(runtime.registry, cand)
    if test_file is not None:
        examples, test_source = load_jsonl(test_file), str(test_file)
    else:
        if not dataset_version:
            raise TestSetError(f"model {model_name!r} names no dataset version; pass a test file")
        examples, test_source = test_examples_for(runtime, dataset_version)
    cases, suite_text = safety_suite.load_suite(policy.safety.suite or None)
    with tempfile.TemporaryDirectory(prefix="crucible-eval-") as scratch:
        rep = evaluate_models(
            policy,
            (cand.label, loader_for(runtime, cand, policy, Path(scratch))),
            (serv.label, serv.kind, loader_for(runtime, serv, policy, Path(scratch))),
            examples,
            cases,
            suite_sha256=hashlib.sha256(suite_text.encode()).hexdigest(),
        )
    rep["dataset_version"] = dataset_version
    rep["test_source"] = test_source
    rep["evaluated_at"] = dt.datetime.now(dt.UTC).isoformat()
    rep["run_id"] = runtime.run_id
    uri = write_report(runtime, rep)
    rep["status"] = record_in_registry(runtime, rep, uri)
    rep["report_uri"] = uri
    log.info(
        "model %s evaluated against %s (%s): passed=%s failed=%s warned=%s",
        model_name,
        rep["compared_with"]["name"],
        rep["compared_with"]["kind"],
        rep["gates"]["passed"],
        rep["gates"]["failed_gates"],
        rep["gates"]["warned_gates"],
    )
    return rep
