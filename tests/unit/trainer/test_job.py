from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback

from crucible.common.registry import DatasetVersion, ModelVersion, TrainingJob
from crucible.trainer.job import run_job
from crucible.trainer.request import TrainRequest
from crucible.v1 import events_pb2

from .conftest import new_style_chats, write_chat_jsonl


class Events(list):
    def __call__(self, name: str, msg: Any) -> None:
        self.append((name, msg))

    def named(self, name: str) -> list[Any]:
        return [m for n, m in self if n == name]


def _job(rt: Any, job_id: str) -> TrainingJob:
    with rt.registry.session() as s:
        return s.get(TrainingJob, job_id)


def test_short_lora_run_lowers_validation_loss_and_registers_the_model(trainer_runtime, splits) -> None:
    events = Events()
    out = run_job(trainer_runtime, TrainRequest("job-a", train_file=splits[0], val_file=splits[1]), events)
    assert out.status == "succeeded", out.reason
    assert out.metrics["eval_loss"] < out.metrics["eval_loss_initial"] * 0.9
    assert out.metrics["global_step"] == 12
    assert out.model_name.startswith("crucible-v1-") and out.model_name.endswith("-tiny-base")
    progress = events.named("train.progress")
    assert [p.step for p in progress][-1] == 12 and all(p.total_steps == 12 for p in progress)
    assert any(not math.isnan(p.eval_loss) for p in progress)
    assert any(p.tokens_per_second > 0 for p in progress)
    trained = events.named("model.trained")
    assert len(trained) == 1 and trained[0].status == "succeeded" and trained[0].model_name == out.model_name
    with trainer_runtime.registry.session() as s:
        mv = s.get(ModelVersion, out.model_name)
        assert mv.job_id == "job-a" and mv.adapter_uri == out.adapter_uri
        assert mv.card["dataset"]["files"]["train"]["sha256"]
        assert mv.card["policy"]["learning_rate"] == 2e-3
        assert mv.card["best_checkpoint"].startswith("checkpoint-")
    job = _job(trainer_runtime, "job-a")
    assert job.status == "succeeded" and job.model_name == out.model_name
    assert trainer_runtime.artifacts.exists(job.last_checkpoint)
    # The same job requested again (a redelivery) trains nothing and reports the model.
    again = run_job(trainer_runtime, TrainRequest("job-a", train_file=splits[0], val_file=splits[1]), Events())
    assert again.model_name == out.model_name
    # A second job gets the next version number.
    second = run_job(
        trainer_runtime,
        TrainRequest("job-b", train_file=splits[0], val_file=splits[1], overrides={"max_steps": "2"}),
        Events(),
    )
    assert second.model_name.startswith("crucible-v2-")


def test_adapter_save_load_merge_round_trips(trainer_runtime, splits) -> None:
    from peft import PeftModel

    from crucible.trainer.hf_training import merge_adapter

    out = run_job(
        trainer_runtime,
        TrainRequest("job-m", train_file=splits[0], val_file=splits[1], overrides={"merge": "true", "max_steps": "6"}),
        Events(),
    )
    assert out.status == "succeeded", out.reason
    store = trainer_runtime.artifacts
    adapter = store.local_path(f"models/{out.model_name}/adapter")
    merged = store.local_path(f"models/{out.model_name}/merged")
    base_path = trainer_runtime.settings.home / "models" / "tiny-base"
    tok = AutoTokenizer.from_pretrained(adapter)
    ids = tok.apply_chat_template(new_style_chats(1, seed=9)[0], return_tensors="pt", return_dict=True)["input_ids"]
    base = AutoModelForCausalLM.from_pretrained(base_path)
    with torch.no_grad():
        base_logits = base(input_ids=ids).logits
        peft_logits = PeftModel.from_pretrained(base, str(adapter)).eval()(input_ids=ids).logits
        merged_logits = AutoModelForCausalLM.from_pretrained(merged)(input_ids=ids).logits
    assert not torch.allclose(base_logits, peft_logits, atol=1e-3)  # the adapter changes the model
    torch.testing.assert_close(merged_logits, peft_logits, atol=1e-4, rtol=1e-4)
    again = merge_adapter(str(base_path), adapter, trainer_runtime.settings.home / "merged-again")
    with torch.no_grad():
        torch.testing.assert_close(
            AutoModelForCausalLM.from_pretrained(again)(input_ids=ids).logits, peft_logits, atol=1e-4, rtol=1e-4
        )


class _CrashAt(TrainerCallback):
    """Stands in for a killed pod: the process dies in the middle of the run."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise SystemExit(f"killed at step {self.step}")


def test_restarted_job_resumes_from_its_last_checkpoint(trainer_runtime, splits) -> None:
    import shutil

    req = TrainRequest("job-r", train_file=splits[0], val_file=splits[1])
    with pytest.raises(SystemExit):
        run_job(trainer_runtime, req, Events(), callbacks=[_CrashAt(6)])
    job = _job(trainer_runtime, "job-r")
    assert job.last_checkpoint.endswith("checkpoint-4") and job.last_step >= 4
    # A new replica has none of the local files: only the artifact store and the registry.
    shutil.rmtree(trainer_runtime.settings.home / "trainer" / "jobs" / "job-r")
    events = Events()
    out = run_job(trainer_runtime, req, events)
    assert out.status == "succeeded", out.reason
    assert out.resumed_from_step == 4
    steps = [p.step for p in events.named("train.progress")]
    assert steps[0] > 4 and steps[-1] == 12  # continued, did not start from zero


def test_missing_dataset_version_fails_the_job_with_a_reason(trainer_runtime) -> None:
    events = Events()
    out = run_job(trainer_runtime, TrainRequest("job-x", dataset_version="v99_20990101"), events)
    assert out.status == "failed" and "v99_20990101" in out.reason and "does not exist" in out.reason
    assert _job(trainer_runtime, "job-x").status == "failed"
    assert "does not exist" in _job(trainer_runtime, "job-x").reason
    (trained,) = events.named("model.trained")
    assert trained.status == "failed" and trained.reason == out.reason


def test_empty_split_fails_the_job(trainer_runtime, tmp_path: Path) -> None:
    train = write_chat_jsonl(tmp_path / "t.jsonl", new_style_chats(4, seed=1))
    val = tmp_path / "v.jsonl"
    val.write_text("")
    events = Events()
    out = run_job(trainer_runtime, TrainRequest("job-e", train_file=train, val_file=val), events)
    assert out.status == "failed" and "val split is empty" in out.reason
    assert events.named("model.trained")[0].status == "failed"


def test_base_model_path_without_weights_fails_the_job(trainer_runtime, splits, tmp_path: Path) -> None:
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    (empty / "config.json").write_text("{}")
    events = Events()
    out = run_job(
        trainer_runtime, TrainRequest("job-w", train_file=splits[0], val_file=splits[1], base_model=str(empty)), events
    )
    assert out.status == "failed" and "has no weights" in out.reason
    assert _job(trainer_runtime, "job-w").reason == out.reason
    assert events.named("model.trained")[0].status == "failed"


def test_bad_policy_override_fails_the_job_naming_the_key(trainer_runtime, splits) -> None:
    out = run_job(
        trainer_runtime,
        TrainRequest("job-p", train_file=splits[0], val_file=splits[1], overrides={"learning_rate": "-1"}),
        Events(),
    )
    assert out.status == "failed" and "trainer.learning_rate" in out.reason


def test_trains_from_a_registered_dataset_version(trainer_runtime, tmp_path: Path) -> None:
    store = trainer_runtime.artifacts
    for split, seed in (("train", 1), ("val", 2)):
        write_chat_jsonl(store.local_path(f"datasets/v1_20261122/{split}.chat.jsonl"), new_style_chats(16, seed))
    # The dataset service's manifest: `files` keyed by names relative to the manifest.
    manifest = {
        "version": "v1_20261122",
        "files": {
            f"{split}.{fmt}.jsonl": {"split": split, "format": fmt, "sha256": f"{split}-{fmt}-sha"}
            for split in ("train", "val")
            for fmt in ("alpaca", "chat")
        },
    }
    uri = store.write_json("datasets/v1_20261122/manifest.json", manifest)
    with trainer_runtime.registry.session() as s:
        s.add(DatasetVersion(version="v1_20261122", seq=1, manifest_uri=uri, manifest_sha256="m" * 64))
    out = run_job(
        trainer_runtime, TrainRequest("job-d", dataset_version="v1_20261122", overrides={"max_steps": "2"}), Events()
    )
    assert out.status == "succeeded", out.reason
    with trainer_runtime.registry.session() as s:
        card = s.get(ModelVersion, out.model_name).card
    assert card["dataset"]["version"] == "v1_20261122"
    assert card["dataset"]["manifest_sha256"] == "m" * 64
    assert card["dataset"]["files"]["val"]["sha256"] == "val-chat-sha"
    assert card["dataset"]["files"]["train"]["uri"].endswith("datasets/v1_20261122/train.chat.jsonl")


def test_progress_event_fields(trainer_runtime, splits) -> None:
    events = Events()
    run_job(
        trainer_runtime,
        TrainRequest("job-f", train_file=splits[0], val_file=splits[1], overrides={"max_steps": "4"}),
        events,
    )
    last = events.named("train.progress")[-1]
    assert isinstance(last, events_pb2.TrainProgress)
    assert last.job_id == "job-f" and last.step == 4 and last.epoch > 0 and last.loss > 0
    assert last.eta_seconds == 0
    from prometheus_client import REGISTRY

    assert REGISTRY.get_sample_value("crucible_train_step") == 4
    assert REGISTRY.get_sample_value("crucible_train_total_steps") == 4
    assert REGISTRY.get_sample_value("crucible_train_loss") == pytest.approx(last.loss)
    assert REGISTRY.get_sample_value("crucible_train_jobs_total", {"status": "succeeded"}) >= 1
