"""Deficits of a dataset manifest -> a generation plan."""

from __future__ import annotations

from typing import Any

import pytest

from crucible.synthesizer.plan import manual_plan, max_synthetic, plan_from_manifest, plan_summary


def manifest(deficits: dict[str, int], *, real: int = 700, synthetic: int = 0, fairness: float = 90.0,
             gaps: dict[str, dict[str, int]] | None = None) -> dict[str, Any]:  # fmt: skip
    return {
        "version": "v3_20261204",
        "policy": {"synthetic_cap": 0.3},
        "counts": {"splits": {"train": {"total": real + synthetic, "synthetic": synthetic}}},
        "selection": {"category_mix": {c: {"deficit": d, "target": d + 10} for c, d in deficits.items()}},
        "audit": {
            "fairness_score": fairness,
            "fairness_target": 85.0,
            "below_target": fairness < 85.0,
            "dimensions": {
                dim: {"audited": True, "gaps": [{"group": g, "records_needed": n} for g, n in groups.items()]}
                for dim, groups in (gaps or {}).items()
            },
        },
    }


def test_category_deficits_become_plan_items() -> None:
    plan = plan_from_manifest(manifest({"safety_ethics": 12, "personalization": 5}), seed=7, max_items=500)
    assert plan.by_category == {"personalization": 5, "safety_ethics": 12}
    assert len(plan.items) == 17 and "category deficits" in plan.reason
    assert len({i.item_id for i in plan.items}) == 17
    assert {i.seed for i in plan.items} == set(range(7, 24))


def test_the_plan_stays_within_the_synthetic_cap() -> None:
    # 70 real + 20 synthetic: 30 % allows 30 synthetic, so 10 more at most.
    assert max_synthetic(70, 0.3) == 30
    plan = plan_from_manifest(manifest({"safety_ethics": 50}, real=70, synthetic=20), seed=1, max_items=500)
    assert len(plan.items) == 10 and plan.synthetic_room == 10


def test_fairness_gaps_become_scenarios_within_their_need() -> None:
    gaps = {"relationship_stage": {"engaged": 4, "married": 2}}
    plan = plan_from_manifest(manifest({"safety_ethics": 10}, fairness=70.0, gaps=gaps), seed=1, max_items=500)
    stages = [i.scenario.get("relationship_stage") for i in plan.items]
    assert stages.count("engaged") == 4 and stages.count("married") == 2
    assert "fairness 70.0 below target 85" in plan.reason
    assert plan_summary(plan)["scenarios"] == {"relationship_stage": {"engaged": 4, "married": 2}}


def test_fairness_below_target_without_category_deficits_still_plans() -> None:
    gaps = {"age_band": {"55-64": 20}}
    plan = plan_from_manifest(manifest({}, fairness=60.0, gaps=gaps), seed=1, max_items=500)
    assert len(plan.items) == 20 and set(plan.by_category) >= {"instruction_following"}


def test_no_deficits_no_plan() -> None:
    plan = plan_from_manifest(manifest({}), seed=1, max_items=500)
    assert plan.items == () and plan.reason == "no deficits"


def test_the_same_version_gives_the_same_plan() -> None:
    a = plan_from_manifest(manifest({"safety_ethics": 9}), seed=3, max_items=500)
    b = plan_from_manifest(manifest({"safety_ethics": 9}), seed=3, max_items=500)
    c = plan_from_manifest(manifest({"safety_ethics": 10}), seed=3, max_items=500)
    assert a == b and a.plan_id != c.plan_id


def test_manual_plan_checks_its_arguments() -> None:
    assert len(manual_plan("safety_ethics", 3, seed=1).items) == 3
    with pytest.raises(ValueError, match="unknown category"):
        manual_plan("smalltalk", 3, seed=1)
