"""`crucible run`'s control plane: the SFT round, then the preference round on the rollout's rated
traffic (handed over, not written into the summary), and the rounds shown side by side."""

from __future__ import annotations

import asyncio
from typing import Any

from crucible.common.pipeline import _control_plane
from crucible.common.run_figures import rounds
from crucible.common.services import ServiceSpec


def _specs(calls: list[tuple[str, tuple[Any, ...]]], rated: list[dict[str, Any]]) -> dict[str, ServiceSpec]:
    def hook(name: str, result: dict[str, Any]) -> Any:
        async def run(runtime: Any, *args: Any) -> dict[str, Any]:
            calls.append((name, args))
            return result(args) if callable(result) else result

        return run

    return {
        "dataset": ServiceSpec(
            name="dataset",
            version="t",
            hooks={
                "build": hook("build", {"dataset_version": "v1_x"}),
                "preferences": hook(
                    "preferences",
                    lambda args: {
                        "dataset_version": "v2_x_pref",
                        "pairs": 5,
                        "by_source": {},
                        "feedback_rows": len(args[0]),
                    },
                ),
            },
        ),
        "trainer": ServiceSpec(
            name="trainer",
            version="t",
            hooks={
                "train": hook("train", {"model_name": "m-sft", "metrics": {"eval_loss": 1.5}}),
                "train_dpo": hook(
                    "train_dpo",
                    {
                        "model_name": "m-dpo",
                        "metrics": {"dpo_loss": 0.4, "dpo_loss_initial": 0.69, "reward_margin": 1.2},
                    },
                ),
            },
        ),
        "evaluator": ServiceSpec(
            name="evaluator",
            version="t",
            hooks={
                "evaluate": hook(
                    "evaluate",
                    lambda args: {
                        "model_name": args[0],
                        "passed": True,
                        "metrics": {"elo_diff": 12.0, "win_rate": 0.6},
                        "compared_with": {"name": "tiny-base"},
                    },
                )
            },
        ),
        "gateway": ServiceSpec(
            name="gateway",
            version="t",
            hooks={"rollout": hook("rollout", {"state": "completed", "rated_exchanges": rated})},
        ),
    }


async def _no_refeed() -> list[dict[str, Any]]:
    return []


def test_the_preference_round_follows_the_rollout_on_its_rated_traffic() -> None:
    calls: list[tuple[str, tuple[Any, ...]]] = []
    rated = [{"question": "q", "answer": "a", "rating": 9}, {"question": "q", "answer": "b", "rating": 2}]
    results = asyncio.run(_control_plane(None, _specs(calls, rated), None, lambda *_: None, _no_refeed))  # type: ignore[arg-type]
    assert [c[0] for c in calls] == ["build", "train", "evaluate", "rollout", "preferences", "train_dpo", "evaluate"]
    assert calls[4][1] == (rated,) and calls[5][1] == ("v2_x_pref",) and calls[6][1] == ("m-dpo",)
    assert "rated_exchanges" not in results["gateway"]  # handed over, not kept in the summary
    assert results["dpo_evaluation"]["model_name"] == "m-dpo"
    shown = rounds(results)
    assert shown["sft"]["model"] == "m-sft" and shown["sft"]["rating"]["elo_diff"] == 12.0
    dpo = shown["dpo"]
    assert (dpo["pairs"], dpo["feedback_rows"], dpo["model"]) == (5, 2, "m-dpo")
    assert (dpo["dpo_loss"], dpo["reward_margin"], dpo["rating"]["against"]) == (0.4, 1.2, "tiny-base")


def test_without_rated_traffic_the_preference_round_says_why_it_did_not_run() -> None:
    calls: list[tuple[str, tuple[Any, ...]]] = []
    results = asyncio.run(_control_plane(None, _specs(calls, []), None, lambda *_: None, _no_refeed))  # type: ignore[arg-type]
    assert [c[0] for c in calls] == ["build", "train", "evaluate", "rollout"]
    assert results["preferences"] == {"skipped": "no rated traffic from a rollout"}
    assert results["dpo"] == {"skipped": "no preference dataset was built"}
    assert rounds(results)["dpo"]["not_run"] == "no rated traffic from a rollout"
