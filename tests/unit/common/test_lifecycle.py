"""The model lifecycle: allowed moves only, one serving model per pool, every change logged."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from crucible.common import lifecycle
from crucible.common.model_view import list_models, show_model
from crucible.common.registry import ModelVersion, Registry


def _add(registry: Registry, name: str, seq: int, pool: str = "default") -> None:
    with registry.session() as s:
        mv = ModelVersion(name=name, seq=seq, base_model="tiny-base", status="trained", pool=pool)
        s.add(mv)
        lifecycle.record_created(s, mv, reason="trained", actor="trainer")


def _move(registry: Registry, name: str, *path: str) -> None:
    for to in path:
        with registry.session() as s:
            lifecycle.transition(s, name, to, reason=f"test: {to}", actor="test")


def test_promotion_retires_the_previous_serving_model(runtime) -> None:
    reg = runtime.registry
    _add(reg, "m1", 1)
    _add(reg, "m2", 2)
    _move(reg, "m1", "evaluated", "canary", "serving")
    _move(reg, "m2", "evaluated", "canary", "serving")
    with reg.session() as s:
        assert lifecycle.serving_model(s).name == "m2"
        assert s.get(ModelVersion, "m1").status == "retired"
    history = show_model(reg, "m1")["history"]
    assert [(h["from"], h["to"]) for h in history] == [
        ("", "trained"),
        ("trained", "evaluated"),
        ("evaluated", "canary"),
        ("canary", "serving"),
        ("serving", "retired"),
    ]
    assert "replaced by m2" in history[-1]["reason"]


def test_rollback_leaves_the_serving_model_serving(runtime) -> None:
    reg = runtime.registry
    _add(reg, "m1", 1)
    _add(reg, "m2", 2)
    _move(reg, "m1", "evaluated", "canary", "serving")
    _move(reg, "m2", "evaluated", "canary", "rolled_back")
    statuses = {r["name"]: r["status"] for r in list_models(reg)}
    assert statuses == {"m1": "serving", "m2": "rolled_back"}


def test_disallowed_moves_are_refused_and_change_nothing(runtime) -> None:
    reg = runtime.registry
    _add(reg, "m1", 1)
    with pytest.raises(lifecycle.LifecycleError, match="cannot go from trained to serving"):
        _move(reg, "m1", "serving")
    _move(reg, "m1", "rejected")
    with pytest.raises(lifecycle.LifecycleError, match="cannot go from rejected to canary"):
        _move(reg, "m1", "canary")
    with pytest.raises(lifecycle.LifecycleError, match="not in the registry"):
        _move(reg, "nope", "evaluated")
    assert list_models(reg)[0]["status"] == "rejected"


def test_repeating_a_transition_is_a_no_op(runtime) -> None:
    reg = runtime.registry
    _add(reg, "m1", 1)
    _move(reg, "m1", "evaluated", "evaluated")
    assert [h["to"] for h in show_model(reg, "m1")["history"]] == ["trained", "evaluated"]


def test_the_database_refuses_two_serving_models_in_a_pool(runtime) -> None:
    reg = runtime.registry
    _add(reg, "m1", 1)
    _add(reg, "m2", 2)
    _add(reg, "other", 3, pool="other-pool")
    _move(reg, "other", "evaluated", "canary", "serving")  # another pool: allowed
    _move(reg, "m1", "evaluated", "canary", "serving")
    with pytest.raises(IntegrityError), reg.session() as s:
        s.get(ModelVersion, "m2").status = "serving"  # bypassing the lifecycle
    assert {r["name"] for r in list_models(reg, status="serving")} == {"m1", "other"}
