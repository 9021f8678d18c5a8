"""What the gateway writes in the model registry: the lifecycle moves its rollouts cause
(`canary`, `serving` and the retirement it implies, `rolled_back`) and each rollout's decision
log, so `crucible models show` tells what served when and why.

The registry is synchronous SQLAlchemy; the gateway calls these through `asyncio.to_thread`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from crucible.common import lifecycle
from crucible.common.registry import ModelVersion
from crucible.gateway import state as st
from crucible.gateway.delivery import AdapterRef

if TYPE_CHECKING:
    from crucible.common.registry import Registry

log = logging.getLogger(__name__)
ACTOR = "gateway"


@dataclass(frozen=True)
class ServingModel:
    name: str
    adapter: bool  # False for the pool's base model itself


class Ledger:
    def __init__(self, registry: Registry, pool: str = lifecycle.DEFAULT_POOL) -> None:
        self.registry = registry
        self.pool = pool

    def adapter_ref(self, name: str) -> AdapterRef:
        with self.registry.session() as s:
            mv = s.get(ModelVersion, name)
            if mv is None:
                raise LookupError(f"model {name!r} is not in the registry")
            return AdapterRef(mv.name, mv.base_model, mv.adapter_uri)

    def status(self, name: str) -> str | None:
        with self.registry.session() as s:
            mv = s.get(ModelVersion, name)
            return mv.status if mv is not None else None

    def serving(self, base_model: str) -> ServingModel:
        """What serves in the pool. The first time a pool is seen, its base model is registered as
        the serving model, so promoting the first adapter retires it visibly."""
        with self.registry.session() as s:
            mv = lifecycle.serving_model(s, self.pool)
            if mv is not None:
                return ServingModel(mv.name, adapter=bool(mv.adapter_uri))
            base = s.get(ModelVersion, base_model)
            if base is None:
                base = ModelVersion(
                    name=base_model, seq=0, base_model=base_model, status=lifecycle.SERVING, pool=self.pool
                )
                s.add(base)
                lifecycle.record_created(
                    s, base, reason="the pool's base model serves until an adapter is promoted", actor=ACTOR
                )
                return ServingModel(base_model, adapter=False)
            if base.status != lifecycle.SERVING:  # an older base retired earlier: nothing else serves now
                lifecycle.transition(s, base_model, lifecycle.CANARY, reason="nothing else serves", actor=ACTOR)
                lifecycle.transition(s, base_model, lifecycle.SERVING, reason="nothing else serves", actor=ACTOR)
            return ServingModel(base_model, adapter=bool(base.adapter_uri))

    def should_roll_out(self, name: str) -> tuple[bool, str]:
        """Whether a `model.evaluated` for `name` should start a rollout: only a model still
        `evaluated`, and never one older than the model serving now (a replayed event)."""
        with self.registry.session() as s:
            mv = s.get(ModelVersion, name)
            if mv is None:
                return False, f"model {name} is not in the registry"
            if mv.status != lifecycle.EVALUATED:
                return False, f"model {name} is {mv.status}, not evaluated: already rolled out or refused"
            serving = lifecycle.serving_model(s, mv.pool)
            if serving is not None and serving.adapter_uri and serving.seq > mv.seq:
                return False, f"model {name} is older than {serving.name}, which serves now"
            return True, ""

    def mark(self, name: str, to: str, reason: str) -> None:
        with self.registry.session() as s:
            lifecycle.transition(s, name, to, reason=reason, actor=ACTOR)

    def record_rollout(self, state: st.RolloutState) -> None:
        """Keep the rollout's decision log on the candidate, and move the lifecycle its end implies."""
        if state.candidate is None:
            return
        name = state.candidate.model
        with self.registry.session() as s:
            mv = s.get(ModelVersion, name)
            if mv is None:
                log.info("rollout %s: %s is not a registered model; registry unchanged", state.rollout_id, name)
                return
            entry: dict[str, Any] = {
                "rollout_id": state.rollout_id,
                "state": state.state,
                "baseline_model": state.baseline_model,
                "decisions": list(state.decisions),
            }
            mv.rollouts = [r for r in (mv.rollouts or []) if r.get("rollout_id") != state.rollout_id] + [entry]
            reason = f"rollout {state.rollout_id}: {state.decisions[-1]['reason']}" if state.decisions else ""
            if state.state == st.COMPLETED and mv.status == lifecycle.CANARY:
                lifecycle.transition(s, name, lifecycle.SERVING, reason=reason, actor=ACTOR)
            elif state.state in (st.ROLLED_BACK, st.ABORTED) and mv.status == lifecycle.CANARY:
                lifecycle.transition(s, name, lifecycle.ROLLED_BACK, reason=reason, actor=ACTOR)
