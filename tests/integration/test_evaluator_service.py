"""The evaluator over a real NATS JetStream: `model.trained` in, `model.evaluated` out, and the
`crucible run` hook publishing the same event."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from crucible.common import subjects
from crucible.common.config import Settings, load_policy
from crucible.common.registry import DatasetVersion, ModelVersion
from crucible.common.runtime import Runtime
from crucible.common.serving import consume_events
from crucible.evaluator import chats
from crucible.evaluator.policy import EvaluatorPolicy
from crucible.evaluator.service import SPEC, evaluate_hook
from crucible.v1 import events_pb2

os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="module")
def tiny(tiny_base_model: Path, tiny_adapter: Path) -> tuple[Path, Path]:
    """The shared tiny Llama (`crucible models init-tiny`) and a random-B LoRA on it."""
    import torch

    torch.set_num_threads(1)
    return tiny_base_model, tiny_adapter


def _runtime(tmp_path: Path, tiny: tuple[Path, Path], model: str) -> Runtime:
    base, adapter = tiny
    policy = load_policy(None, section_models={"evaluator": EvaluatorPolicy})
    sec = policy.section("evaluator")
    sec.generation.max_new_tokens = 8
    sec.max_test_examples = 6
    sec.pairwise_prompts = 6
    sec.rating.bootstrap_rounds = 20
    rt = Runtime.create(Settings(home=tmp_path / "home", log_json=False), policy)
    lines = "".join(json.dumps(c) + "\n" for c in chats.coaching_chats(6, seed=8))
    rt.artifacts.write_text("datasets/v1/test.chat.jsonl", lines)
    manifest = rt.artifacts.write_json("datasets/v1/manifest.json", {"splits": {"test": "datasets/v1/test.chat.jsonl"}})
    adapter_uri = rt.artifacts.put_dir(adapter, f"models/{model}/adapter")
    with rt.registry.session() as s:
        s.add(DatasetVersion(version="v1", seq=1, manifest_uri=manifest))
        s.add(ModelVersion(name=model, seq=1, base_model=str(base), adapter_uri=adapter_uri, dataset_version="v1"))
    return rt


async def _next_evaluated(sub, model: str, timeout: float = 120.0) -> events_pb2.ModelEvaluated:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        msg = await sub.next_msg(timeout=max(0.1, deadline - asyncio.get_running_loop().time()))
        ev = events_pb2.ModelEvaluated.FromString(msg.data)
        if ev.model_name == model:
            return ev


def test_spec_wires_the_hook_serve_and_bench() -> None:
    assert SPEC.name == "evaluator" and subjects.MODEL_TRAINED in SPEC.events
    assert SPEC.hooks["evaluate"] is evaluate_hook and {"eval", "guard"} <= set(SPEC.benches)
    assert SPEC.policy_class() is EvaluatorPolicy


def test_serve_evaluates_a_trained_model_and_publishes(nats_url: str, tmp_path: Path, tiny) -> None:
    model = f"crucible-v1-test-{uuid.uuid4().hex[:6]}"
    rt = _runtime(tmp_path, tiny, model)
    # Without the serving guard the gibberish model fails the enforced safety gate: the failing path.
    rt.policy.section("evaluator").serve_with_guard = False

    async def scenario() -> events_pb2.ModelEvaluated:
        bus = await rt.connect(nats_url)
        sub = await bus.nc.subscribe("crucible.events.model.evaluated")
        stop = asyncio.Event()
        durable = f"evaluator-test-{uuid.uuid4().hex[:6]}"
        handler = replace(SPEC.events[subjects.MODEL_TRAINED], durable=durable, deliver_new_only=True)
        task = asyncio.create_task(consume_events(rt, replace(SPEC, events={subjects.MODEL_TRAINED: handler}), stop))
        for _ in range(100):  # the consumer must exist before we publish (it takes new events only)
            try:
                await bus.js.consumer_info("EVENTS", durable)
                break
            except Exception:
                await asyncio.sleep(0.1)
        failed = events_pb2.ModelTrained(model_name=model + "-x", status="failed", reason="oom")
        await bus.publish_event("model.trained", failed)
        await bus.publish_event("model.trained", events_pb2.ModelTrained(model_name=model, status="succeeded"))
        try:
            ev = await _next_evaluated(sub, model)
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)
            await rt.close()
        return ev

    ev = asyncio.run(scenario())
    assert ev.passed is False and list(ev.failed_gates) == ["safety"]
    assert ev.report_uri.endswith(f"evaluations/{model}/report.json")
    assert {"perplexity", "bleu", "rouge_l", "bertscore_f1", "safety_pass_rate", "elo_diff"} <= set(ev.metrics)


def test_run_hook_returns_passed_and_publishes(nats_url: str, tmp_path: Path, tiny) -> None:
    model = f"crucible-v1-hook-{uuid.uuid4().hex[:6]}"
    rt = _runtime(tmp_path, tiny, model)

    async def scenario() -> tuple[dict, events_pb2.ModelEvaluated]:
        bus = await rt.connect(nats_url)
        sub = await bus.nc.subscribe("crucible.events.model.evaluated")
        try:
            summary = await evaluate_hook(rt, model)
            ev = await _next_evaluated(sub, model, timeout=10)
        finally:
            await rt.close()
        return summary, ev

    summary, ev = asyncio.run(scenario())
    assert summary["passed"] is True and ev.passed is True
    (row,) = SPEC.run_summary(rt, rt.run_id)["evaluations"]
    assert row["model_name"] == model and row["passed"] is True and row["status"] == "evaluated"
    # As served (guard on by default, safety enforced) the tiny model passes; raw safety is information.
    assert "safety" not in summary["warned_gates"] and "safety" not in ev.warned_gates
    assert ev.metrics["safety_pass_rate"] == 1.0 and ev.metrics["safety_raw_model_pass_rate"] < 1.0
    json.dumps(summary)  # JSON-able for the run summary
