"""DPO through the job machinery: a planted preference set (specific, structured advice chosen over
a dismissive answer) on the tiny model; the preference loss falls, the chosen/rejected log-ratio
against the reference grows, and a killed job resumes from its checkpoint."""

from __future__ import annotations

import json
import math
import random
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch

from crucible.common.registry import DatasetVersion, ModelVersion, TrainingJob
from crucible.trainer.job import run_job
from crucible.trainer.request import TrainRequest

from .test_job import Events, _CrashAt

TOPICS = ["chores", "money", "family visits", "date nights", "screen time", "sleep", "work stress", "holidays"]


def planted_pairs(n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        topic = rng.choice(TOPICS)
        out.append(
            {
                "prompt": [{"role": "user", "content": f"We keep fighting about {topic}. What should we do?"}],
                "chosen": [{"role": "assistant", "content": f"Pick a calm time and each name one need about {topic}."}],
                "rejected": [{"role": "assistant", "content": "I do not know. Deal with it yourself."}],
            }
        )
    return out


def write_pairs(path: Path, pairs: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(p) + "\n" for p in pairs))
    return path


@pytest.fixture
def pair_files(tmp_path: Path) -> tuple[Path, Path]:
    return (
        write_pairs(tmp_path / "pairs" / "train.pairs.jsonl", planted_pairs(32, seed=1)),
        write_pairs(tmp_path / "pairs" / "val.pairs.jsonl", planted_pairs(8, seed=2)),
    )


def _dpo(job_id: str, files: tuple[Path, Path], **overrides: str) -> TrainRequest:
    return TrainRequest(
        job_id, train_file=files[0], val_file=files[1], method="dpo", overrides={"learning_rate": "5e-3", **overrides}
    )


def _sequence_logp(model: Any, tokenizer: Any, prompt: list[dict], answer: str) -> float:
    """log p(answer | prompt) summed over the answer's tokens (the quantity DPO's rewards compare)."""
    head = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template([*prompt, {"role": "assistant", "content": answer}], tokenize=False)
    ids = tokenizer(full, add_special_tokens=False, return_tensors="pt").input_ids
    start = len(tokenizer(head, add_special_tokens=False).input_ids)
    with torch.no_grad():
        logits = model(ids).logits[0, :-1].float()
    logp = torch.log_softmax(logits, -1).gather(1, ids[0, 1:, None])[:, 0]
    return float(logp[start - 1 :].sum())


def _log_ratio(model: Any, tokenizer: Any, pairs: list[dict[str, Any]]) -> float:
    return sum(
        _sequence_logp(model, tokenizer, p["prompt"], p["chosen"][0]["content"])
        - _sequence_logp(model, tokenizer, p["prompt"], p["rejected"][0]["content"])
        for p in pairs
    ) / len(pairs)


def test_dpo_lowers_the_preference_loss_and_grows_the_log_ratio(trainer_runtime, pair_files) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    events = Events()
    out = run_job(trainer_runtime, _dpo("dpo-a", pair_files), events)
    assert out.status == "succeeded", out.reason
    m = out.metrics
    assert m["dpo_loss_initial"] == pytest.approx(math.log(2), abs=1e-3)  # policy == reference at the start
    assert m["dpo_loss"] < 0.6 * m["dpo_loss_initial"]
    assert m["reward_margin"] > 0.5 and m["reward_accuracy"] >= 0.9
    assert m["global_step"] == 12
    assert out.objective == "dpo" and out.model_name.startswith("crucible-v1-")
    progress = events.named("train.progress")
    assert progress and progress[-1].step == 12 and all(p.total_steps == 12 for p in progress)
    (trained,) = events.named("model.trained")
    assert trained.status == "succeeded" and trained.metrics["reward_margin"] == pytest.approx(m["reward_margin"])

    # The log-ratio, measured here independently of TRL: base (= the reference) vs the trained adapter.
    store = trainer_runtime.artifacts
    adapter = store.local_path(f"models/{out.model_name}/adapter")
    assert not (adapter / "ref").exists()  # only the trained adapter is shipped
    base_path = trainer_runtime.settings.home / "models" / "tiny-base"
    tokenizer = AutoTokenizer.from_pretrained(str(adapter))
    val = [json.loads(line) for line in pair_files[1].read_text().splitlines()]
    base = AutoModelForCausalLM.from_pretrained(str(base_path), dtype=torch.float32).eval()
    before = _log_ratio(base, tokenizer, val)
    tuned = PeftModel.from_pretrained(base, str(adapter)).eval()
    after = _log_ratio(tuned, tokenizer, val)
    assert after > before + 1.0

    with trainer_runtime.registry.session() as s:
        mv = s.get(ModelVersion, out.model_name)
        assert mv.card["objective"] == "dpo" and mv.card["training"]["method"] == "dpo"
        assert mv.card["reference"] == {"kind": "base", "model": "tiny-base"}
        assert mv.metrics["dpo_loss"] == pytest.approx(m["dpo_loss"])


def test_killed_dpo_job_resumes_from_its_checkpoint(trainer_runtime, pair_files) -> None:
    req = _dpo("dpo-r", pair_files)
    with pytest.raises(SystemExit):
        run_job(trainer_runtime, req, Events(), callbacks=[_CrashAt(6)])
    with trainer_runtime.registry.session() as s:
        job = s.get(TrainingJob, "dpo-r")
        assert job.last_checkpoint.endswith("checkpoint-4")
    shutil.rmtree(trainer_runtime.settings.home / "trainer" / "jobs" / "dpo-r")  # a new replica: no local files
    events = Events()
    out = run_job(trainer_runtime, req, events)
    assert out.status == "succeeded", out.reason
    assert out.resumed_from_step == 4
    steps = [p.step for p in events.named("train.progress")]
    assert steps[0] > 4 and steps[-1] == 12
    assert out.metrics["reward_margin"] > 0


def test_dpo_from_a_registered_preference_version_and_sft_refuses_it(trainer_runtime, tmp_path: Path) -> None:
    store = trainer_runtime.artifacts
    v = "v2_20261204_pref"
    for split, seed in (("train", 1), ("val", 2)):
        write_pairs(store.local_path(f"datasets/{v}/{split}.pairs.jsonl"), planted_pairs(8, seed))
    manifest = {
        "kind": "preference",
        "files": {
            f"{split}.pairs.jsonl": {"split": split, "format": "preference", "sha256": f"{split}-sha"}
            for split in ("train", "val", "test")
        }
        | {"test.chat.jsonl": {"split": "test", "format": "chat", "sha256": "x"}},
    }
    uri = store.write_json(f"datasets/{v}/manifest.json", manifest)
    with trainer_runtime.registry.session() as s:
        s.add(DatasetVersion(version=v, seq=2, manifest_uri=uri, manifest_sha256="p" * 64))
    out = run_job(
        trainer_runtime,
        TrainRequest("dpo-d", dataset_version=v, overrides={"max_steps": "2", "training.method": "dpo"}),
        Events(),
    )
    assert out.status == "succeeded", out.reason
    assert out.dataset_version == v and out.objective == "dpo"
    sft = run_job(trainer_runtime, TrainRequest("sft-d", dataset_version=v, overrides={"max_steps": "2"}), Events())
    assert sft.status == "failed" and "names no train chat file" in sft.reason


def test_bad_training_method_fails_naming_the_key(trainer_runtime, pair_files) -> None:
    out = run_job(trainer_runtime, _dpo("dpo-x", pair_files, **{"training.dpo_beta": "-1"}), Events())
    assert out.status == "failed" and "training.dpo_beta" in out.reason


def test_the_reference_is_the_serving_adapter_when_the_job_starts_from_it(trainer_runtime, splits, pair_files) -> None:
    from .test_init_from import _promote

    sft = run_job(
        trainer_runtime,
        TrainRequest("sft-s", train_file=splits[0], val_file=splits[1], overrides={"max_steps": "4"}),
        Events(),
    )
    assert sft.status == "succeeded", sft.reason
    _promote(trainer_runtime, sft.model_name)
    out = run_job(trainer_runtime, _dpo("dpo-s", pair_files, max_steps="4"), Events())
    assert out.status == "succeeded", out.reason
    assert out.init_from == {"kind": "serving", "model": sft.model_name}
    # Policy == reference at the start: the serving adapter, not the base (else the loss would not be ln 2).
    assert out.metrics["dpo_loss_initial"] == pytest.approx(math.log(2), abs=1e-3)
    with trainer_runtime.registry.session() as s:
        assert s.get(ModelVersion, out.model_name).card["reference"] == {"kind": "adapter", "model": sft.model_name}


def test_train_requested_carries_the_method_in_its_overrides() -> None:
    from crucible.trainer.job import effective_policy, effective_training
    from crucible.trainer.policy import TrainerPolicy, TrainingPolicy
    from crucible.trainer.service import request_from_event
    from crucible.v1 import events_pb2

    msg = events_pb2.TrainRequested(
        job_id="j",
        dataset_version="v2_x_pref",
        overrides={"training.method": "dpo", "training.dpo_beta": "0.3", "max_steps": "5"},
    )
    req = request_from_event(msg)
    assert effective_training(TrainingPolicy(), req).model_dump() == {
        **TrainingPolicy().model_dump(),
        "method": "dpo",
        "dpo_beta": 0.3,
    }
    assert effective_policy(TrainerPolicy(), req).max_steps == 5  # the training.* keys are not the trainer's
    assert effective_training(TrainingPolicy(method="dpo"), TrainRequest("k", method="sft")).method == "sft"


def test_dpo_without_val_pairs_trains_and_reports_the_training_figures(trainer_runtime, tmp_path: Path) -> None:
    # A small preference version whose leakage groups all landed in train has no val pairs.
    train = write_pairs(tmp_path / "t.pairs.jsonl", planted_pairs(8, seed=1))
    val = write_pairs(tmp_path / "v.pairs.jsonl", [])
    out = run_job(trainer_runtime, _dpo("dpo-n", (train, val), max_steps="4"), Events())
    assert out.status == "succeeded", out.reason
    assert math.isnan(out.metrics["dpo_loss"]) and out.metrics["train_reward_margin"] > 0
    assert out.metrics["global_step"] == 4
