"""A model version's lifecycle in the registry, and the one way to change it.

    trained ─► evaluated ─► canary ─► serving ─► retired
        └────► rejected       └────► rolled_back

Each change is written by the component that causes it (the trainer creates `trained`, the
evaluator decides `evaluated`/`rejected`, the gateway's rollout moves `canary`, `serving`,
`rolled_back` and `retired`), with time, reason and actor, in `model_transitions`. At most one
model is `serving` per pool: promoting one retires the previous in the same transaction, and a
partial unique index makes the database refuse a second even when two replicas race.

Moving to the status a model already has is a no-op (a redelivered event changes nothing).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the statuses are read by CLI option parsing: SQLAlchemy only when a function runs
    from sqlalchemy.orm import Session

    from crucible.common.registry import ModelTransition, ModelVersion

TRAINED = "trained"
EVALUATED = "evaluated"
REJECTED = "rejected"
CANARY = "canary"
SERVING = "serving"
RETIRED = "retired"
ROLLED_BACK = "rolled_back"
STATUSES = (TRAINED, EVALUATED, REJECTED, CANARY, SERVING, RETIRED, ROLLED_BACK)
DEFAULT_POOL = "default"

# Re-evaluating a model before it is rolled out may change its verdict; a model that was rolled
# back or retired may be rolled out again (a person's decision, through a new rollout).
ALLOWED: dict[str, frozenset[str]] = {
    TRAINED: frozenset({EVALUATED, REJECTED}),
    EVALUATED: frozenset({REJECTED, CANARY}),
    REJECTED: frozenset({EVALUATED}),
    CANARY: frozenset({SERVING, ROLLED_BACK}),
    SERVING: frozenset({RETIRED}),
    ROLLED_BACK: frozenset({CANARY, EVALUATED, REJECTED}),
    RETIRED: frozenset({CANARY}),
}


class LifecycleError(ValueError):
    """A transition the lifecycle does not allow, or a model that is not registered."""


def transition(s: Session, model_name: str, to: str, *, reason: str, actor: str) -> ModelTransition | None:
    """Move `model_name` to `to` inside the caller's session; returns the logged transition, or
    None when the model already has that status. Moving to `serving` retires the pool's
    current serving model first."""
    from crucible.common.registry import ModelVersion

    if to not in STATUSES:
        raise LifecycleError(f"unknown model status {to!r} (one of {', '.join(STATUSES)})")
    mv = s.get(ModelVersion, model_name)
    if mv is None:
        raise LifecycleError(f"model {model_name!r} is not in the registry")
    if mv.status == to:
        return None
    if to not in ALLOWED.get(mv.status, frozenset()):
        raise LifecycleError(f"model {model_name!r} cannot go from {mv.status} to {to}")
    if to == SERVING:
        previous = serving_model(s, mv.pool)
        if previous is not None:
            _log(s, previous, RETIRED, f"replaced by {model_name}: {reason}", actor)
            s.flush()  # the old row leaves `serving` before the new one enters (unique index)
    return _log(s, mv, to, reason, actor)


def record_created(s: Session, mv: ModelVersion, *, reason: str, actor: str) -> ModelTransition:
    """Log the creation of a model row (status `trained`) so its history starts at the beginning."""
    from crucible.common.registry import ModelTransition

    if mv.status is None:  # the column default applies only at flush
        mv.status = TRAINED
    if mv.pool is None:
        mv.pool = DEFAULT_POOL
    row = ModelTransition(model_name=mv.name, from_status="", to_status=mv.status, reason=reason, actor=actor)
    s.add(row)
    return row


def serving_model(s: Session, pool: str = DEFAULT_POOL) -> ModelVersion | None:
    from sqlalchemy import select

    from crucible.common.registry import ModelVersion

    return s.scalars(select(ModelVersion).where(ModelVersion.pool == pool, ModelVersion.status == SERVING)).first()


def models_with(s: Session, statuses: Iterable[str], pool: str | None = None) -> list[ModelVersion]:
    from sqlalchemy import select

    from crucible.common.registry import ModelVersion

    query = select(ModelVersion).where(ModelVersion.status.in_(list(statuses)))
    if pool is not None:
        query = query.where(ModelVersion.pool == pool)
    return list(s.scalars(query.order_by(ModelVersion.seq, ModelVersion.created_at)))


def history(s: Session, model_name: str) -> list[ModelTransition]:
    from sqlalchemy import select

    from crucible.common.registry import ModelTransition

    return list(
        s.scalars(
            select(ModelTransition)
            .where(ModelTransition.model_name == model_name)
            .order_by(ModelTransition.at, ModelTransition.id)
        )
    )


def _log(s: Session, mv: ModelVersion, to: str, reason: str, actor: str) -> ModelTransition:
    from crucible.common.registry import ModelTransition, utcnow

    row = ModelTransition(
        model_name=mv.name, from_status=mv.status, to_status=to, reason=reason, actor=actor, at=utcnow()
    )
    mv.status = to
    s.add(row)
    return row
