"""The rollout's state (one JSON document) and its transitions, as pure functions.

Every replica reads the same document from the KV store and routes by it; a transition is a
compare-and-set on the document's revision, so two replicas never both promote a stage, and
a restarted gateway simply reads where the rollout was.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import asdict, dataclass, replace
from typing import Any

IDLE, PROGRESSING, PAUSED, ROLLED_BACK, COMPLETED, ABORTED = (
    "idle",
    "progressing",
    "paused",
    "rolled_back",
    "completed",
    "aborted",
)
ACTIVE = frozenset({PROGRESSING, PAUSED})
STATES = (IDLE, PROGRESSING, PAUSED, ROLLED_BACK, COMPLETED, ABORTED)

# The event each action publishes: crucible.events.rollout.<name>.
EVENT_FOR_ACTION = {
    "start": "rollout.started",
    "promote": "rollout.promoted",
    "pause": "rollout.paused",
    "rollback": "rollout.rolled_back",
    "complete": "rollout.completed",
    "abort": "rollout.aborted",
}


@dataclass(frozen=True)
class BackendSpec:
    """Where a model version is served: a TGI or OpenAI-compatible URL (+ adapter id for multi-LoRA)."""

    model: str
    url: str
    kind: str = "tgi"
    adapter_id: str | None = None


@dataclass(frozen=True)
class RolloutState:
    rollout_id: str = ""
    state: str = IDLE
    stable: BackendSpec | None = None
    candidate: BackendSpec | None = None
    stages: tuple[float, ...] = ()
    stage_index: int = 0
    stage_started_at: float = 0.0  # epoch seconds
    decisions: tuple[dict[str, Any], ...] = ()
    baseline_model: str = ""  # the stable model the candidate was compared with (stable changes on completion)

    @property
    def canary_weight(self) -> float:
        if self.state in ACTIVE and self.stages:
            return float(self.stages[self.stage_index])
        return 0.0

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["stages"] = list(self.stages)
        out["decisions"] = list(self.decisions)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RolloutState:
        def spec(d: dict[str, Any] | None) -> BackendSpec | None:
            return BackendSpec(**d) if d else None

        return cls(
            rollout_id=data.get("rollout_id", ""),
            state=data.get("state", IDLE),
            stable=spec(data.get("stable")),
            candidate=spec(data.get("candidate")),
            stages=tuple(float(s) for s in data.get("stages", ())),
            stage_index=int(data.get("stage_index", 0)),
            stage_started_at=float(data.get("stage_started_at", 0.0)),
            decisions=tuple(data.get("decisions", ())),
            baseline_model=data.get("baseline_model", ""),
        )


def new_rollout_id(now: float) -> str:
    stamp = dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y%m%dt%H%M%Sz")
    return f"r{stamp}-{uuid.uuid4().hex[:6]}"


def _decision(action: str, reason: str, stage_index: int, now: float) -> dict[str, Any]:
    at = dt.datetime.fromtimestamp(now, dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return {"at": at, "action": action, "reason": reason, "stage_index": stage_index}


class TransitionError(ValueError):
    """The requested transition is not allowed from the current state."""


def start(
    current: RolloutState, candidate: BackendSpec, stages: list[float], now: float, *, reason: str = ""
) -> RolloutState:
    if current.state in ACTIVE:
        raise TransitionError(
            f"rollout {current.rollout_id} of {current.candidate.model if current.candidate else '?'} is "
            f"{current.state}: promote or abort it first"
        )
    if current.stable is None:
        raise TransitionError("no stable backend is configured")
    rid = new_rollout_id(now)
    return RolloutState(
        rollout_id=rid,
        state=PROGRESSING,
        stable=current.stable,
        candidate=candidate,
        stages=tuple(stages),
        stage_index=0,
        stage_started_at=now,
        decisions=(_decision("start", reason or f"canary {candidate.model} at {stages[0]:g}%", 0, now),),
        baseline_model=current.stable.model,
    )


def apply_action(current: RolloutState, action: str, reason: str, now: float) -> RolloutState:
    """The state after `action` (rollback | pause | promote | complete | abort | hold)."""
    if action == "hold":
        return current
    if current.state not in ACTIVE:
        raise TransitionError(f"no rollout in progress (state {current.state})")
    entry = _decision(action, reason, current.stage_index, now)
    history = (*current.decisions, entry)
    if action == "rollback":
        return replace(current, state=ROLLED_BACK, decisions=history)
    if action == "abort":
        return replace(current, state=ABORTED, decisions=history)
    if action == "pause":
        return replace(current, state=PAUSED, decisions=history)
    if action == "promote" and current.stage_index < len(current.stages) - 1:
        return replace(
            current,
            state=PROGRESSING,
            stage_index=current.stage_index + 1,
            stage_started_at=now,
            decisions=history,
        )
    if action in ("promote", "complete"):
        entry = _decision("complete", reason, current.stage_index, now)
        # The candidate becomes the stable version: all traffic goes to it from now on.
        return replace(current, state=COMPLETED, stable=current.candidate, decisions=(*current.decisions, entry))
    raise TransitionError(f"unknown action {action!r}")


def with_stable(current: RolloutState, stable: BackendSpec) -> RolloutState:
    """Set the stable backend (start-up configuration); never during a rollout."""
    if current.state in ACTIVE:
        return current
    return replace(current, stable=stable)


def last_action(state: RolloutState) -> str:
    return state.decisions[-1]["action"] if state.decisions else ""
