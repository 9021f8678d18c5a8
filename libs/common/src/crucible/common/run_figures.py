"""What a run's summary says, derived from what its steps returned: the records-per-stage rows
(the terminal's table and the console's run page) and the SFT and preference rounds side by side.
Pure functions of the summary dict; `pipeline.py` runs the steps, `run_view.py` prints."""

from __future__ import annotations

import math
from typing import Any


def _finite(*values: Any) -> float | None:
    """The first value that is a finite number (NaN marks "not measured" in a job's metrics)."""
    for v in values:
        if isinstance(v, int | float) and math.isfinite(v):
            return float(v)
    return None


def rounds(control_plane: dict[str, Any]) -> dict[str, Any]:
    """The SFT round and the preference (DPO) round side by side: what each trained, its loss, and
    the evaluator's rating of the model against the serving one (Elo difference, win rate)."""

    def rating(evaluation: Any) -> dict[str, Any]:
        if not isinstance(evaluation, dict) or "metrics" not in evaluation:
            return {}
        m = evaluation["metrics"]
        return {
            "against": (evaluation.get("compared_with") or {}).get("name", evaluation.get("serving", "")),
            "elo_diff": m.get("elo_diff"),
            "win_rate": m.get("win_rate"),
            "passed": evaluation.get("passed"),
        }

    out: dict[str, Any] = {}
    sft = control_plane.get("trainer")
    if isinstance(sft, dict) and sft.get("model_name"):
        out["sft"] = {
            "model": sft["model_name"],
            "eval_loss": (sft.get("metrics") or {}).get("eval_loss"),
            "rating": rating(control_plane.get("evaluator")),
        }
    gateway = control_plane.get("gateway")
    if isinstance(gateway, dict) and "interactions_published" in gateway:
        stages = {row.get("stage"): row for row in gateway.get("stages_after") or []}
        out["interactions"] = {
            "published": gateway["interactions_published"],
            "scrubbed": (stages.get("scrubber") or {}).get("out"),
            "kept": (stages.get("dataset") or {}).get("in"),
            "feedback_stored": gateway.get("feedback_stored"),
        }
    prefs = control_plane.get("preferences")
    if isinstance(prefs, dict):
        dpo = control_plane.get("dpo") if isinstance(control_plane.get("dpo"), dict) else {}
        metrics = dpo.get("metrics") or {}
        out["dpo"] = {
            "feedback_rows": prefs.get("feedback_rows"),
            "pairs": prefs.get("pairs"),
            "pairs_by_source": prefs.get("by_source"),
            "preference_version": prefs.get("dataset_version"),
            "model": dpo.get("model_name"),
            # On the val pairs; the mean training loss when the pairs left no val split.
            "dpo_loss": _finite(metrics.get("dpo_loss"), metrics.get("train_loss")),
            "dpo_loss_on": "val" if _finite(metrics.get("dpo_loss")) is not None else "train",
            "dpo_loss_initial": _finite(metrics.get("dpo_loss_initial")),
            # On the val pairs; the last training batch's when the pairs left no val split.
            "reward_margin": metrics.get("reward_margin", metrics.get("train_reward_margin")),
            "reward_accuracy": metrics.get("reward_accuracy", metrics.get("train_reward_accuracy")),
            "rating": rating(control_plane.get("dpo_evaluation")),
            "not_run": prefs.get("skipped") or prefs.get("error") or dpo.get("skipped") or dpo.get("error"),
        }
    return out


def stage_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows of the per-stage table: the extractor's output, then each stage's counts."""
    rows: list[dict[str, Any]] = []
    report = (summary.get("extraction") or {}).get("report") or {}
    if report:
        rows.append(
            {
                "stage": "extractor",
                "in": report.get("rows", report.get("extracted", 0)),
                "out": report.get("extracted", 0),
                "rejected": report.get("failed", {}),
                "held": {},
                "dlq": {},
            }
        )
    rows.extend(summary.get("stages", []))
    return rows
