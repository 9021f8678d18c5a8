"""Evaluating a model version in the registry: its candidate and serving model resolved from the
registry, its test split from the dataset version's manifest, the report written to the artifact
store, and the verdict recorded on the model's row as a lifecycle transition. The hook
(`crucible run`), `crucible serve evaluator` and `crucible eval run` all call `evaluate_registered`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crucible.common import lifecycle
from crucible.evaluator import generation, report, safety_suite
from crucible.evaluator.evaluation import Loader, evaluate_models
from crucible.evaluator.model_source import ModelRef, candidate_ref, local_dir, resolve_base, serving_ref
from crucible.evaluator.policy import EvaluatorPolicy
from crucible.evaluator.testset import Example, TestSetError, examples_from_lines, find_test_split_key, load_jsonl

if TYPE_CHECKING:
    from crucible.common.runtime import Runtime

log = logging.getLogger(__name__)

ACTOR = "evaluator"  # who the lifecycle log names for the evaluator's decisions


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
    verdict and status: a new report is only in the artifact store, the decision is the rollout's;
    people's ratings of the evaluation it has (`crucible eval ingest`) are still added to its row."""
    from crucible.common.registry import ModelVersion

    with runtime.registry.session() as s:
        mv = s.get(ModelVersion, rep["model_name"])
        if mv is None:
            return ""
        if mv.status not in DECIDABLE:
            if rep.get("human_eval") and (mv.evaluation or {}).get("evaluated_at") == rep.get("evaluated_at"):
                # The same evaluation, with people's ratings added: the verdict and the status stay.
                mv.evaluation = {**mv.evaluation, "human_eval": rep["human_eval"]}
                return mv.status
            log.warning(
                "model %s is %s: report %s written, its registry row and status left as they are",
                mv.name,
                mv.status,
                report_uri,
            )
            return mv.status
        # Reports written before `compared_with` existed (human ratings re-record them) name it in `pairwise`.
        compared_with = rep.get("compared_with") or {
            "name": rep["pairwise"]["serving"],
            "kind": rep["pairwise"]["serving_kind"],
        }
        mv.evaluation = {
            "passed": rep["gates"]["passed"],
            "report_uri": report_uri,
            "metrics": rep["metrics"],
            "failed_gates": rep["gates"]["failed_gates"],
            "warned_gates": rep["gates"]["warned_gates"],
            "evaluated_at": rep.get("evaluated_at", ""),
            "run_id": rep.get("run_id", ""),
            "human_eval": rep.get("human_eval"),
            "compared_with": compared_with,
        }
        to = lifecycle.EVALUATED if rep["gates"]["passed"] else lifecycle.REJECTED
        lifecycle.transition(s, mv.name, to, reason=verdict_reason(rep["gates"], compared_with), actor=ACTOR)
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
