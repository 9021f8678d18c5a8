"""`dataset.fairness_gate`: with enforce (the production default) a version below the fairness target is
built and reported but not published as dataset.ready, and `crucible run` does not train on it; warn
publishes it marked; off publishes it. An embedded run with no gate set warns."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from crucible.common import subjects
from crucible.common.config import load_policy
from crucible.common.pipeline import Carried, DatasetBuilt, _carry_dataset, _train_args
from crucible.common.runtime import Runtime
from crucible.dataset.policy import DatasetPolicy, effective_fairness_gate
from crucible.dataset.sample_records import generate_curated_records
from crucible.dataset.service import build
from crucible.dataset.store import upsert_records
from crucible.dataset.versions import list_versions


class RecordingBus:
    def __init__(self) -> None:
        self.published: list[str] = []

    async def publish_event(self, subject: str, message: Any, msg_id: str = "") -> None:
        self.published.append(subject)


def runtime(settings, **overrides: object) -> Runtime:
    policy = load_policy(None, section_models={"dataset": DatasetPolicy}, overrides=overrides)
    rt = Runtime.create(settings.model_copy(update={"nats_url": "nats://production:4222"}), policy=policy)
    rt.bus = RecordingBus()  # type: ignore[assignment]
    upsert_records(rt.registry, generate_curated_records(300, seed=2))
    return rt


@pytest.mark.parametrize(
    "gate, published, key",
    [("enforce", [], "withheld"), ("warn", [subjects.DATASET_READY], "warning"), ("off", [subjects.DATASET_READY], "")],
)
def test_a_version_below_the_target(settings, gate: str, published: list[str], key: str) -> None:
    overrides = {"dataset.fairness_target": 100.0} | ({} if gate == "enforce" else {"dataset.fairness_gate": gate})
    rt = runtime(settings, **overrides)
    try:
        summary = asyncio.run(build(rt))
        assert summary["below_fairness_target"] and summary["fairness_gate"] == gate
        assert rt.bus.published == published
        if key:
            assert "below the target 100" in summary[key]
        assert [v["version"] for v in list_versions(rt.registry)] == [summary["dataset_version"]]  # built, reported
    finally:
        rt.registry.dispose()


def test_a_version_meeting_the_target_is_published_under_enforce(settings) -> None:
    rt = runtime(settings, **{"dataset.fairness_target": 0.0})
    try:
        summary = asyncio.run(build(rt))
        assert not summary["below_fairness_target"] and "withheld" not in summary
        assert rt.bus.published == [subjects.DATASET_READY]
    finally:
        rt.registry.dispose()


def test_crucible_run_does_not_train_on_a_withheld_version() -> None:
    carried = Carried()
    _carry_dataset(carried, {"dataset_version": "v1_x", "withheld": "fairness 80.0 is below the target 85"})
    assert _train_args(carried) == "fairness 80.0 is below the target 85"
    assert _train_args(Carried(dataset=DatasetBuilt("v2_x"))) == ("v2_x",)


def test_the_default_is_enforce_and_warn_on_an_embedded_run_unless_set() -> None:
    assert DatasetPolicy().fairness_gate == "enforce"
    assert effective_fairness_gate(DatasetPolicy(), embedded=False) == "enforce"
    assert effective_fairness_gate(DatasetPolicy(), embedded=True) == "warn"
    assert effective_fairness_gate(DatasetPolicy(fairness_gate="enforce"), embedded=True) == "enforce"
