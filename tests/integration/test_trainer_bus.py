"""The trainer on a real NATS JetStream: the `train` hook and the `serve` loop publish
train.progress and model.trained (succeeded or failed) on crucible.events.*."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from crucible.common import subjects
from crucible.common.config import Settings, load_policy
from crucible.common.registry import DatasetVersion, TrainingJob
from crucible.common.runtime import Runtime
from crucible.trainer.policy import TrainerPolicy
from crucible.trainer.request import TrainingFailed
from crucible.v1 import events_pb2

FAST = {"max_steps": 4, "checkpoint_every_steps": 2, "progress_every_steps": 1, "max_seq_length": 128}


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from crucible.trainer.tiny import TinySpec, build_tiny_model, tiny_corpus

    path = tmp_path_factory.mktemp("tiny") / "tiny-base"
    texts, chats = tiny_corpus(None)
    build_tiny_model(path, texts, TinySpec(pretrain_steps=20), chats=chats)
    return path


@pytest.fixture
def rt(tmp_path: Path, tiny_model: Path) -> Runtime:
    home = tmp_path / "home"
    shutil.copytree(tiny_model, home / "models" / "tiny-base")
    policy = load_policy(None, {"trainer": TrainerPolicy}, overrides={f"trainer.{k}": v for k, v in FAST.items()})
    return Runtime.create(Settings(home=home, log_json=False), policy=policy)


def register_dataset(rt: Runtime, version: str) -> None:
    from crucible.trainer.corpus import coaching_dialogues

    store = rt.artifacts
    files = {}
    for split, n in (("train", 16), ("val", 4)):
        key = f"datasets/{version}/{split}.chat.jsonl"
        store.write_text(key, "".join(json.dumps({"messages": c}) + "\n" for c in coaching_dialogues(n, seed=n)))
        files[split] = {"key": key, "sha256": store.sha256(key)}
    uri = store.write_json(f"datasets/{version}/manifest.json", {"splits": files})
    with rt.registry.session() as s:
        s.add(DatasetVersion(version=version, seq=1, manifest_uri=uri))


async def _collect(rt: Runtime, into: list[tuple[str, Any]]) -> Any:
    async def on_msg(m: Any) -> None:
        name = m.subject.removeprefix(subjects.event(""))
        cls = {"train.progress": events_pb2.TrainProgress, "model.trained": events_pb2.ModelTrained}.get(name)
        if cls is not None:
            into.append((name, cls.FromString(m.data)))

    return await rt.require_bus().nc.subscribe(subjects.event(">"), cb=on_msg)


def test_train_hook_publishes_progress_and_model_trained(rt: Runtime, nats_url: str) -> None:
    from crucible.trainer.service import SPEC

    register_dataset(rt, "v1_20261122")

    async def main() -> dict:
        await rt.connect(nats_url)
        seen: list[tuple[str, Any]] = []
        sub = await _collect(rt, seen)
        try:
            result = await SPEC.hooks["train"](rt, "v1_20261122")
            await asyncio.sleep(0.2)
        finally:
            await sub.unsubscribe()
            await rt.close()
        return {"result": result, "seen": seen}

    out = asyncio.run(main())
    result, seen = out["result"], out["seen"]
    assert result["status"] == "succeeded" and result["model_name"].startswith("crucible-v1-")
    progress = [m for n, m in seen if n == "train.progress" and m.job_id == result["job_id"]]
    trained = [m for n, m in seen if n == "model.trained" and m.job_id == result["job_id"]]
    assert [p.step for p in progress] == [1, 2, 3, 4]
    assert len(trained) == 1 and trained[0].status == "succeeded"
    assert trained[0].dataset_version == "v1_20261122" and trained[0].model_name == result["model_name"]


def test_failed_job_publishes_a_failed_model_trained_event(rt: Runtime, nats_url: str) -> None:
    from crucible.trainer.service import train_hook

    async def main() -> tuple[BaseException | None, list]:
        await rt.connect(nats_url)
        seen: list[tuple[str, Any]] = []
        sub = await _collect(rt, seen)
        err = None
        try:
            await train_hook(rt, "v404_20990101")
        except TrainingFailed as exc:
            err = exc
        await asyncio.sleep(0.2)
        await sub.unsubscribe()
        await rt.close()
        return err, seen

    err, seen = asyncio.run(main())
    assert err is not None and "does not exist" in str(err)
    failed = [m for n, m in seen if n == "model.trained" and m.job_id == err.outcome.job_id]
    assert len(failed) == 1 and failed[0].status == "failed" and "v404_20990101" in failed[0].reason
    with rt.registry.session() as s:
        assert s.get(TrainingJob, err.outcome.job_id).status == "failed"


def test_serve_runs_train_requested_jobs_one_at_a_time(rt: Runtime, embedded_nats: Any) -> None:
    from crucible.common.serving import consume_events
    from crucible.trainer.service import SPEC

    register_dataset(rt, "v2_20261122")

    async def main() -> list:
        await rt.connect(embedded_nats.url)
        seen: list[tuple[str, Any]] = []
        sub = await _collect(rt, seen)
        stop = asyncio.Event()
        task = asyncio.create_task(consume_events(rt, SPEC, stop))
        for job_id, version in (("job-s1", "v2_20261122"), ("job-s2", "missing_v9")):
            req = events_pb2.TrainRequested(job_id=job_id, dataset_version=version, overrides={"max_steps": "2"})
            await rt.require_bus().publish_event(subjects.TRAIN_REQUESTED, req)
        for _ in range(600):
            if len([1 for n, _ in seen if n == "model.trained"]) >= 2:
                break
            await asyncio.sleep(0.2)
        stop.set()
        await asyncio.wait_for(task, 30)
        await sub.unsubscribe()
        await rt.close()
        return seen

    seen = asyncio.run(main())
    trained = {m.job_id: m for n, m in seen if n == "model.trained"}
    assert trained["job-s1"].status == "succeeded"
    assert trained["job-s2"].status == "failed" and "missing_v9" in trained["job-s2"].reason
    # One job at a time: every progress event of job-s1 precedes job-s2's outcome.
    order = [(n, m.job_id) for n, m in seen]
    assert order.index(("model.trained", "job-s1")) < order.index(("model.trained", "job-s2"))


def test_dataset_ready_trains_the_new_version_when_auto_train_is_on(rt: Runtime, embedded_nats: Any) -> None:
    """The continuous loop: dataset.ready -> train.requested (once per version) -> a job -> model.trained."""
    from sqlalchemy import select

    from crucible.common.registry import ModelVersion
    from crucible.common.serving import consume_events
    from crucible.trainer.service import SPEC

    rt.policy.section("trainer").auto_train_on_dataset_ready = True
    register_dataset(rt, "v3_20261122")

    async def main() -> tuple[list, list]:
        await rt.connect(embedded_nats.url)
        seen: list[tuple[str, Any]] = []
        sub = await _collect(rt, seen)
        requested: list[str] = []

        async def on_request(m: Any) -> None:
            requested.append(events_pb2.TrainRequested.FromString(m.data).dataset_version)

        req_sub = await rt.require_bus().nc.subscribe(subjects.event(subjects.TRAIN_REQUESTED), cb=on_request)
        stop = asyncio.Event()
        task = asyncio.create_task(consume_events(rt, SPEC, stop))
        ready = events_pb2.DatasetReady(dataset_version="v3_20261122", split_counts={"train": 16, "val": 4})
        # The auto-train consumer takes new events only: publish until it has picked one up.
        for i in range(600):
            if i % 10 == 0 and not requested:
                await rt.require_bus().publish_event(subjects.DATASET_READY, ready, msg_id=f"ready-{i}")
            if any(n == "model.trained" for n, _ in seen):
                break
            await asyncio.sleep(0.2)
        stop.set()
        await asyncio.wait_for(task, 30)
        await sub.unsubscribe()
        await req_sub.unsubscribe()
        await rt.close()
        return seen, requested

    seen, requested = asyncio.run(main())
    assert requested and set(requested) == {"v3_20261122"}
    trained = [m for n, m in seen if n == "model.trained"]
    assert trained and trained[0].job_id == "train-v3_20261122" and trained[0].status == "succeeded"
    with rt.registry.session() as s:
        rows = s.scalars(select(ModelVersion).where(ModelVersion.job_id == "train-v3_20261122")).all()
        assert len(rows) == 1 and rows[0].dataset_version == "v3_20261122" and rows[0].status == "trained"
