"""The control-plane steps of `crucible run`: order, what each hands the next, and the second
pass through the stages when synthesis publishes records (training then sees the rebuilt version)."""

from __future__ import annotations

import asyncio
from typing import Any

from crucible.common.pipeline import _control_plane
from crucible.common.services import ServiceSpec


def _specs(calls: list[tuple[str, tuple[Any, ...]]], published: int) -> dict[str, ServiceSpec]:
    versions = iter(["v1_20261204", "v2_20261204"])

    def hook(name: str, result: Any) -> Any:
        async def run(runtime: Any, *args: Any) -> dict[str, Any]:
            calls.append((name, args))
            return result() if callable(result) else result

        return run

    build = hook("build", lambda: {"dataset_version": next(versions)})
    synthesize = hook("synthesize", {"published": published})
    base = hook("base_model", {"path": "/models/tiny-base", "name": "tiny-base"})
    return {
        "dataset": ServiceSpec("dataset", "1", hooks={"build": build}),
        "synthesizer": ServiceSpec("synthesizer", "1", hooks={"synthesize": synthesize}),
        "trainer": ServiceSpec(
            "trainer", "1", hooks={"base_model": base, "train": hook("train", {"model_name": "m1"})}
        ),
    }


def _run(specs: dict[str, ServiceSpec], steps: list[str] | None = None) -> tuple[dict[str, Any], int]:
    refeeds = 0

    async def refeed() -> list[dict[str, Any]]:
        nonlocal refeeds
        refeeds += 1
        return [{"stage": "scrubber", "in": 3, "out": 3}]

    results = asyncio.run(_control_plane(object(), specs, steps, lambda *_: None, refeed))  # type: ignore[arg-type]
    return results, refeeds


def test_published_synthesis_runs_the_stages_again_and_training_gets_the_rebuilt_version() -> None:
    calls: list[tuple[str, tuple[Any, ...]]] = []
    results, refeeds = _run(_specs(calls, published=3))
    assert [name for name, _ in calls] == ["build", "base_model", "synthesize", "build", "train"]
    assert calls[2][1] == ("v1_20261204", "/models/tiny-base")
    assert calls[4][1] == ("v2_20261204",)
    assert refeeds == 1
    assert results["synthesizer"]["stages_after"] == [{"stage": "scrubber", "in": 3, "out": 3}]
    assert results["dataset_after_synthesizer"]["dataset_version"] == "v2_20261204"


def test_nothing_published_means_no_second_pass() -> None:
    calls: list[tuple[str, tuple[Any, ...]]] = []
    results, refeeds = _run(_specs(calls, published=0))
    assert [name for name, _ in calls] == ["build", "base_model", "synthesize", "train"]
    assert refeeds == 0 and calls[3][1] == ("v1_20261204",)
    assert "dataset_after_synthesizer" not in results


def test_the_base_model_is_asked_for_only_when_synthesis_runs() -> None:
    calls: list[tuple[str, tuple[Any, ...]]] = []
    results, _ = _run(_specs(calls, published=3), steps=["dataset", "trainer"])
    assert [name for name, _ in calls] == ["build", "train"]
    assert results["synthesizer"] == {"skipped": "not requested"}
    assert "base_model" not in results
