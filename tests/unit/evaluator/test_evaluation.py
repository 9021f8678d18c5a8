"""A whole evaluation of a tiny LoRA model: reruns give identical numbers, the report lands in
the artifact store and the registry, an enforced gate blocks, human ratings round-trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crucible.common import lifecycle
from crucible.common.config import Settings, load_policy
from crucible.common.registry import DatasetVersion, ModelVersion
from crucible.common.runtime import Runtime
from crucible.evaluator import chats, generation, human_eval, safety_suite
from crucible.evaluator.evaluation import evaluate_models
from crucible.evaluator.policy import EvaluatorPolicy
from crucible.evaluator.registered import evaluate_registered, record_in_registry
from crucible.evaluator.testset import example_from_messages

MODEL = "crucible-v1-20261122-tiny"
SERVING = "crucible-v0-20261121-tiny"
DATASET = "v1_20261122"


def _examples(n: int = 12):
    return [example_from_messages(c["messages"], c["id"]) for c in chats.coaching_chats(n, seed=42)]


def _cases():
    cases, _ = safety_suite.load_suite()
    return cases[::20]


def _loaders(tiny_models, policy):
    base, adapter = tiny_models
    cand = ("cand", lambda: generation.load_model("cand", str(base), adapter, policy.generation))
    serv = ("base", "base", lambda: generation.load_model("base", str(base), None, policy.generation))
    return cand, serv


def test_rerun_gives_identical_numbers(tiny_models, fast_policy) -> None:
    cand, serv = _loaders(tiny_models, fast_policy)
    first = evaluate_models(fast_policy, cand, serv, _examples(), _cases())
    second = evaluate_models(fast_policy, cand, serv, _examples(), _cases())
    assert first["metrics"] == second["metrics"]
    assert first["answers"] == second["answers"]
    assert first["safety"] == second["safety"]
    assert first["safety_raw_model"] == second["safety_raw_model"] and first["guard"] == second["guard"]
    m = first["metrics"]
    assert 1.0 < m["perplexity"] < 1e4
    assert 0.0 <= m["bleu"] <= 1.0 and 0.0 <= m["rouge_l"] <= 1.0
    assert first["settings"]["generation"]["seed"] == fast_policy.generation.seed
    assert first["settings"]["chat_template"]["sha256"]
    assert first["pairwise"]["stats"]["pairs"] == 12
    assert set(first["timings"]) == {"generation", "metrics", "judge"}


def test_sampled_generation_is_reproducible_with_its_seed(tiny_models, fast_policy) -> None:
    fast_policy.generation.temperature = 0.9
    base, adapter = tiny_models
    lm = generation.load_model("cand", str(base), adapter, fast_policy.generation)
    prompts = [e.prompt_messages() for e in _examples(6)]
    a = generation.generate_answers(lm, prompts, fast_policy.generation)
    b = generation.generate_answers(lm, prompts, fast_policy.generation)
    assert a == b
    fast_policy.generation.seed += 1
    assert generation.generate_answers(lm, prompts, fast_policy.generation) != a


def test_perplexity_is_token_weighted_over_answer_tokens(tiny_models, fast_policy) -> None:
    import math

    base, _ = tiny_models
    lm = generation.load_model("base", str(base), None, fast_policy.generation)
    exs = _examples(5)
    whole = generation.perplexity(lm, exs, fast_policy.generation)
    parts = [generation.perplexity(lm, [e], fast_policy.generation) for e in exs]
    assert whole.tokens == sum(p.tokens for p in parts)
    assert whole.perplexity == pytest.approx(math.exp(sum(p.nll_sum for p in parts) / whole.tokens), rel=1e-4)


@pytest.fixture
def registered(tmp_path: Path, tiny_models) -> Runtime:
    _base, adapter = tiny_models
    policy = load_policy(None, section_models={"evaluator": EvaluatorPolicy})
    sec = policy.section("evaluator")
    sec.generation.max_new_tokens = 16
    sec.max_test_examples = 10
    sec.pairwise_prompts = 10
    sec.rating.bootstrap_rounds = 50
    rt = Runtime.create(Settings(home=tmp_path / "home", log_json=False), policy)
    store = rt.artifacts
    adapter_uri = store.put_dir(adapter, f"models/{MODEL}/adapter")
    test_lines = "".join(json.dumps(c) + "\n" for c in chats.coaching_chats(10, seed=5))
    # The dataset service's layout: file names relative to the manifest, described in `files`.
    store.write_text(f"datasets/{DATASET}/test.chat.jsonl", test_lines)
    store.write_text(f"datasets/{DATASET}/train.chat.jsonl", test_lines)
    manifest_uri = store.write_json(
        f"datasets/{DATASET}/manifest.json",
        {"files": {"train.chat.jsonl": {"split": "train", "format": "chat"},
                   "test.chat.jsonl": {"split": "test", "format": "chat"}}},
    )  # fmt: skip
    with rt.registry.session() as s:
        s.add(DatasetVersion(version=DATASET, seq=1, manifest_uri=manifest_uri))
        # The base recorded by name, as the trainer does for the embedded model.
        mv = ModelVersion(name=MODEL, seq=1, base_model="tiny-base", adapter_uri=adapter_uri, dataset_version=DATASET)
        s.add(mv)
        s.flush()
        lifecycle.record_created(s, mv, reason="test", actor="test")
    return rt


def test_registered_model_gets_a_report_and_a_registry_entry(registered: Runtime, tmp_path: Path) -> None:
    rep = evaluate_registered(registered, MODEL)
    store = registered.artifacts
    prefix = f"evaluations/{MODEL}"
    for name in ("report.json", "report.md", "report.html", "rating.png", "answers.jsonl"):
        assert store.exists(f"{prefix}/{name}"), name
    saved = store.read_json(f"{prefix}/report.json")
    assert saved["metrics"] == pytest.approx(rep["metrics"])
    assert saved["test_source"].endswith("test.chat.jsonl")
    md = store.read_text(f"{prefix}/report.md")
    assert "no baseline rescaling" in md.lower() or "without baseline rescaling" in md.lower()
    assert "Safety suite" in md and "Pairwise rating" in md
    # The tiny model is gibberish: as served (guard + model) it passes the enforced safety gate,
    # on its own it fails the suite, which the report shows beside the gate (not as a gate).
    assert rep["gates"]["passed"] is True and rep["gates"]["failed_gates"] == []
    assert set(rep["gates"]["warned_gates"]) <= {"perplexity", "bleu", "rouge_l", "bertscore", "pairwise"}
    assert rep["safety"]["cases"] == 106 and rep["safety"]["pass_rate"] == 1.0 and rep["safety"]["as_served"]
    assert rep["guard"]["safety_suite"]["hits"] == 106 and rep["guard"]["version"].startswith("guard-1+")
    raw = rep["safety_raw_model"]
    assert raw["cases"] == 106 and raw["failures"] and raw["pass_rate"] < 0.5
    assert rep["metrics"]["safety_raw_model_pass_rate"] == raw["pass_rate"]
    assert "safety_raw_model" not in {g["gate"] for g in rep["gates"]["gates"]}
    assert "Raw model without the guard" in md and "as served" in md
    with registered.registry.session() as s:
        mv = s.get(ModelVersion, MODEL)
        assert mv.status == "evaluated"
        assert mv.evaluation["report_uri"] == rep["report_uri"]
        assert mv.evaluation["failed_gates"] == rep["gates"]["failed_gates"]
    assert rep["pairwise"]["serving_kind"] == "base"
    # No model serves yet: rated against the base, and the report, the registry and the summary say so.
    assert rep["compared_with"] == {"name": "base:tiny-base", "kind": "base"} == saved["compared_with"]
    assert "Compared with: `base:tiny-base`, the base model" in md
    with registered.registry.session() as s:
        assert s.get(ModelVersion, MODEL).evaluation["compared_with"]["kind"] == "base"
        [created, decided] = [(t.to_status, t.actor) for t in lifecycle.history(s, MODEL)]
    assert created == ("trained", "test") and decided == ("evaluated", "evaluator")
    answers = [json.loads(x) for x in store.read_text(f"{prefix}/answers.jsonl").splitlines()]
    assert any(a["serving"] != a["candidate"] for a in answers if a["serving"] is not None)

    # Human evaluation: blinded export, ratings back into the report.
    out = tmp_path / "rate.jsonl"
    exported = human_eval.export_sample(registered, None, 4, 0, out)
    assert exported["model_name"] == MODEL and exported["items"] == 4
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert all("candidate" not in json.dumps(r) and "serving" not in json.dumps(r) for r in rows)
    key = store.read_json(f"evaluations/human_eval/{exported['sample_id']}.json")["items"]
    for r in rows:
        for slot in ("1", "2"):
            good = key[r["item_id"]][slot] == "candidate"
            r["ratings"][slot] = {"empathy": 5 if good else 2, "helpfulness": 4, "accuracy": 4,
                                  "personalization": 3, "safety": "pass"}  # fmt: skip
        r["preferred"] = next(s for s in ("1", "2") if key[r["item_id"]][s] == "candidate")
    out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = human_eval.ingest_ratings(registered, out)
    assert result["candidate"]["empathy"] == 5.0 and result["serving"]["empathy"] == 2.0
    assert result["preference"] == {"candidate": 4, "serving": 0, "tie": 0}
    assert result["meets_targets"]["empathy"] is True and result["meets_targets"]["personalization"] is False
    assert "Human evaluation" in store.read_text(f"{prefix}/report.md")
    with registered.registry.session() as s:
        assert s.get(ModelVersion, MODEL).evaluation["human_eval"]["items"] == 4


def test_without_the_guard_the_enforced_safety_gate_blocks_the_raw_model(registered: Runtime) -> None:
    registered.policy.section("evaluator").serve_with_guard = False
    rep = evaluate_registered(registered, MODEL)
    assert rep["gates"]["passed"] is False and rep["gates"]["failed_gates"] == ["safety"]
    assert rep["safety"]["failures"] and rep["safety"]["pass_rate"] == rep["safety_raw_model"]["pass_rate"]
    assert rep["guard"]["enabled"] is False and rep["guard"]["safety_suite"]["hits"] == 0
    with registered.registry.session() as s:
        assert s.get(ModelVersion, MODEL).status == "rejected"
        last = lifecycle.history(s, MODEL)[-1]
        assert (last.from_status, last.to_status, last.actor) == ("trained", "rejected", "evaluator")
        assert last.reason.startswith("failed gates: safety")
    # Re-evaluation before a rollout may change the verdict ...
    registered.policy.section("evaluator").serve_with_guard = True
    assert evaluate_registered(registered, MODEL)["status"] == "evaluated"
    # ... but a model in a rollout keeps its status and its row: the rollout decides it now.
    registered.policy.section("evaluator").serve_with_guard = False
    with registered.registry.session() as s:
        lifecycle.transition(s, MODEL, "canary", reason="rollout r1 started", actor="gateway")
        before = dict(s.get(ModelVersion, MODEL).evaluation)
    rep = evaluate_registered(registered, MODEL)
    assert rep["gates"]["passed"] is False and rep["status"] == "canary"
    with registered.registry.session() as s:
        mv = s.get(ModelVersion, MODEL)
        assert mv.status == "canary" and mv.evaluation == before
        assert [t.to_status for t in lifecycle.history(s, MODEL)] == ["trained", "rejected", "evaluated", "canary"]
    # People's ratings of the evaluation that let it out still reach its row (human_eval re-records it).
    rated = {"model_name": MODEL, "evaluated_at": before["evaluated_at"], "human_eval": {"items": 3}}
    assert record_in_registry(registered, rated, before["report_uri"]) == "canary"
    with registered.registry.session() as s:
        mv = s.get(ModelVersion, MODEL)
        assert mv.evaluation == before | {"human_eval": {"items": 3}} and mv.status == "canary"


def test_the_candidate_is_rated_against_the_model_serving_its_pool(registered: Runtime, tiny_models) -> None:
    """Not the base: what people get today. A model serving another pool does not count. The
    serving model here carries the candidate's own adapter, so its answers must equal the
    candidate's word for word (the base's do not: see the first test)."""
    store = registered.artifacts
    _base, other = tiny_models
    with registered.registry.session() as s:
        for name, pool, seq in ((SERVING, "default", 0), ("crucible-v9-elsewhere", "other", 9)):
            uri = store.put_dir(other, f"models/{name}/adapter")
            mv = ModelVersion(name=name, seq=seq, base_model="tiny-base", adapter_uri=uri, pool=pool)
            s.add(mv)
            s.flush()
            lifecycle.record_created(s, mv, reason="test", actor="test")
            for to in ("evaluated", "canary", "serving"):
                lifecycle.transition(s, name, to, reason="test", actor="test")
    rep = evaluate_registered(registered, MODEL)
    assert rep["compared_with"] == {"name": SERVING, "kind": "serving"}
    assert rep["pairwise"]["serving"] == SERVING and rep["pairwise"]["serving_kind"] == "serving"
    assert SERVING in rep["pairwise"]["ratings"]["elo"]
    answers = [json.loads(x) for x in store.read_text(f"evaluations/{MODEL}/answers.jsonl").splitlines()]
    paired = [a for a in answers if a["serving"] is not None]
    assert len(paired) == 10 and all(a["serving"] == a["candidate"] for a in paired)
    assert rep["pairwise"]["stats"]["ties"] == rep["pairwise"]["stats"]["pairs"]
    assert store.read_json(f"evaluations/{MODEL}/report.json")["compared_with"]["name"] == SERVING
    md = store.read_text(f"evaluations/{MODEL}/report.md")
    assert f"Compared with: `{SERVING}`, the model serving its pool" in md
    with registered.registry.session() as s:
        mv = s.get(ModelVersion, MODEL)
        assert mv.evaluation["compared_with"] == {"name": SERVING, "kind": "serving"}
        assert f"rated against {SERVING} (serving)" in lifecycle.history(s, MODEL)[-1].reason
        assert s.get(ModelVersion, SERVING).status == "serving"  # the evaluator never moves it


def test_safety_on_warn_lets_the_model_pass_with_a_loud_note(registered: Runtime) -> None:
    registered.policy.section("evaluator").serve_with_guard = False
    registered.policy.section("evaluator").gates.safety.mode = "warn"
    rep = evaluate_registered(registered, MODEL)
    assert rep["gates"]["passed"] is True
    assert "safety" in rep["gates"]["warned_gates"]
    assert any("safety gate is set to 'warn'" in n for n in rep["notes"])


def test_an_unknown_model_or_dataset_is_a_clear_error(registered: Runtime) -> None:
    from crucible.evaluator.model_source import ModelNotFound
    from crucible.evaluator.testset import TestSetError

    with pytest.raises(ModelNotFound, match="not in the registry"):
        evaluate_registered(registered, "nope")
    with registered.registry.session() as s:
        s.get(ModelVersion, MODEL).dataset_version = "v9_missing"
    with pytest.raises(TestSetError, match="v9_missing"):
        evaluate_registered(registered, MODEL)


def test_a_short_base_name_resolves_like_the_trainer_records_it(tiny_models, tmp_path: Path) -> None:
    """The trainer records the embedded base as `tiny-base`; its folder is found through the
    adapter's adapter_config.json, else under $CRUCIBLE_HOME/models/<name>."""
    import shutil

    from crucible.common.artifacts import ArtifactStore
    from crucible.evaluator.model_source import resolve_base

    base, adapter = tiny_models
    store = ArtifactStore((tmp_path / "art").as_uri())
    home = tmp_path / "home"
    assert resolve_base(store, "tiny-base", tmp_path, home, adapter) == str(base)
    assert resolve_base(store, str(base), tmp_path, home, None) == str(base)
    shutil.copytree(base, home / "models" / "tiny-base")
    assert resolve_base(store, "tiny-base", tmp_path, home, None) == str((home / "models" / "tiny-base").resolve())
    assert resolve_base(store, "org/some-hub-model", tmp_path, home, None) == "org/some-hub-model"
