"""`init_from: serving`: a job continues from the adapter serving its pool, or starts from the
base (fresh LoRA weights) with the reason on its card when that adapter cannot carry on."""

from __future__ import annotations

from typing import Any

import torch
from safetensors.torch import load_file
from transformers import TrainerCallback

from crucible.common import lifecycle
from crucible.common.registry import ModelVersion
from crucible.trainer.job import run_job
from crucible.trainer.request import TrainRequest


def _events(name: str, msg: Any) -> None:
    return None


class InitialLora(TrainerCallback):
    """The LoRA weights (and whether they train) as the Trainer starts."""

    def __init__(self) -> None:
        self.weights: dict[str, torch.Tensor] = {}
        self.trainable: set[bool] = set()

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **_: Any) -> None:
        for name, param in model.named_parameters():
            if "lora_" in name:
                self.weights[name.replace(".default", "")] = param.detach().cpu().clone()
                self.trainable.add(param.requires_grad)


def _promote(rt: Any, name: str) -> None:
    with rt.registry.session() as s:
        for to in ("evaluated", "canary", "serving"):
            lifecycle.transition(s, name, to, reason="test", actor="test")


def _row(rt: Any, name: str) -> ModelVersion:
    with rt.registry.session() as s:
        mv = s.get(ModelVersion, name)
        s.expunge(mv)
        return mv


def test_a_job_continues_from_the_adapter_serving_its_pool(trainer_runtime, splits) -> None:
    rt = trainer_runtime

    def job(job_id: str, callbacks: list[Any] = (), **overrides: str) -> Any:
        req = TrainRequest(job_id, train_file=splits[0], val_file=splits[1], overrides={"max_steps": "2", **overrides})
        out = run_job(rt, req, _events, callbacks=callbacks)
        assert out.status == "succeeded", out.reason
        return out

    fresh = InitialLora()
    first = job("job-i1", [fresh])
    assert first.init_from == {"kind": "base", "model": "tiny-base", "reason": "no model serves pool 'default'"}
    assert all(not w.any() for n, w in fresh.weights.items() if "lora_B" in n)  # PEFT starts B at zero
    row = _row(rt, first.model_name)
    assert row.pool == "default" and row.card["init_from"]["kind"] == "base"
    with rt.registry.session() as s:
        [(frm, to, actor)] = [(t.from_status, t.to_status, t.actor) for t in lifecycle.history(s, first.model_name)]
    assert (frm, to, actor) == ("", "trained", "trainer")

    _promote(rt, first.model_name)
    start = InitialLora()
    second = job("job-i2", [start])
    assert second.init_from == {"kind": "serving", "model": first.model_name}
    assert _row(rt, second.model_name).card["init_from"] == {"kind": "serving", "model": first.model_name}
    served = load_file(rt.artifacts.local_path(f"models/{first.model_name}/adapter") / "adapter_model.safetensors")
    assert set(start.weights) == set(served) and start.trainable == {True}
    assert all(torch.equal(start.weights[n], served[n]) for n in served)
    assert any(served[n].any() for n in served if "lora_B" in n)  # really the trained weights, not a fresh start

    # Another LoRA shape cannot continue from that adapter: fresh weights on the base, and why.
    other = job("job-i3", lora_r="8")
    assert other.init_from["kind"] == "base" and "r=16" in other.init_from["reason"]
    assert _row(rt, other.model_name).card["init_from"]["reason"] == other.init_from["reason"]
    # `init_from: base` is a plain start, whatever serves.
    assert job("job-i4", init_from="base").init_from == {"kind": "base", "model": "tiny-base"}


def test_a_serving_model_on_another_base_is_not_a_starting_point(trainer_runtime, splits) -> None:
    rt = trainer_runtime
    with rt.registry.session() as s:
        mv = ModelVersion(name="crucible-v7-20261101-big", seq=7, base_model="org/bigger-model", adapter_uri="x")
        s.add(mv)
        s.flush()
        lifecycle.record_created(s, mv, reason="test", actor="test")
    _promote(rt, "crucible-v7-20261101-big")
    req = TrainRequest("job-o", train_file=splits[0], val_file=splits[1], overrides={"max_steps": "2"})
    out = run_job(rt, req, _events)
    assert out.status == "succeeded", out.reason
    assert out.init_from == {
        "kind": "base",
        "model": "tiny-base",
        "reason": "serving model crucible-v7-20261101-big is on base org/bigger-model, this job trains on tiny-base",
    }


def test_the_base_serving_a_pool_is_a_plain_start(trainer_runtime, tmp_path) -> None:
    """The gateway registers a pool's base model as its first serving row, with no adapter."""
    from crucible.trainer.init_from import choose_init

    rt = trainer_runtime
    policy = rt.policy.section("trainer")
    with rt.registry.session() as s:
        base = ModelVersion(name="tiny-base", seq=0, base_model="tiny-base", status="serving", pool="default")
        s.add(base)
        lifecycle.record_created(s, base, reason="test", actor="gateway")
    init = choose_init(rt, policy, "tiny-base", tmp_path)
    assert (init.kind, init.model, init.adapter_dir) == ("base", "tiny-base", None)
    assert init.reason == "tiny-base serves pool 'default' without an adapter (the base model)"
    policy.pool = "elsewhere"
    assert choose_init(rt, policy, "tiny-base", tmp_path).reason == "no model serves pool 'elsewhere'"
