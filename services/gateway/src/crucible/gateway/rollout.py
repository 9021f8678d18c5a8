"""`RolloutController`: the canary rollout's state machine, as what it does, step by step.

Starting a rollout of a registered model: check the adapter can run on the fleet, mark it
`canary` in the registry, deliver it to the serving fleet (runtime load or restart) and check it
answers, and only then save the new rollout document, so no request is routed to an adapter
the fleet does not hold. A refused delivery leaves stable traffic untouched and is recorded
(rollout document `aborted`, model `rolled_back`, event and metric with the reason).

Driving it: every analysis interval, flush this replica's figures, decide
(`decision.rollout_decision`) and apply the decision by compare-and-set on the document, so two
replicas never both promote a stage. The replica whose write wins also settles the registry:
`serving` (retiring the previous model) on completion, `rolled_back` on rollback or abort.

`crucible serve gateway` (on `model.evaluated`) and `crucible run` (the `rollout` hook) both go
through `start_for_model`, so there is one way to do it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from crucible.common import lifecycle
from crucible.gateway import state as st
from crucible.gateway.assignment import CANARY, STABLE
from crucible.gateway.decision import COMPLETE, HOLD, PAUSE, PROMOTE, ROLLBACK, Decision, rollout_decision
from crucible.gateway.delivery import DeliveryError, DeliveryReport, check_adapter, count_delivery
from crucible.gateway.figures import StageFigures, Summary, merge_all
from crucible.gateway.fleet import Fleet
from crucible.gateway.ledger import Ledger
from crucible.gateway.router import Router
from crucible.gateway.store import StaleStateError, StateStore
from crucible.v1 import events_pb2

log = logging.getLogger(__name__)

# (event name, rollout state after the transition, reason, figures) -> publish on the bus.
Publisher = Callable[[str, st.RolloutState, str, dict[str, float]], Awaitable[None]]
# (model name, URL or "") -> where the candidate is served; for rigs without a fleet.
CandidateResolver = Callable[[str, str], Awaitable[st.BackendSpec]]
ENDED = frozenset({st.COMPLETED, st.ROLLED_BACK, st.ABORTED})


class RolloutController:
    def __init__(
        self,
        router: Router,
        *,
        publish: Publisher | None = None,
        clock: Callable[[], float] = time.time,
        fleet: Fleet | None = None,
        ledger: Ledger | None = None,
        resolve: CandidateResolver | None = None,
        candidate_url: str = "",
    ) -> None:
        self.router = router
        self.store: StateStore = router.store
        self.policy = router.policy
        self.publish = publish
        self.clock = clock
        self.fleet = fleet
        self.ledger = ledger
        self.resolve = resolve
        self.candidate_url = candidate_url  # candidates on their own URL instead of the fleet
        self.last_delivery: DeliveryReport | None = None

    # ---------------------------------------------------------------- stable

    async def configure_stable(self, stable: st.BackendSpec, *, force: bool = False) -> None:
        """Set the stable backend unless the store already knows one; `force` (configuration and
        the registry win over stored state) replaces it whenever no rollout runs."""
        while True:
            current, revision = await self.store.load()
            if (current.stable is not None and not force) or current.state in st.ACTIVE:
                break
            if current.stable is not None and current.stable != stable:
                log.warning("stable backend: stored %s, configured %s; using the configuration", current.stable, stable)
            try:
                await self.store.save(st.with_stable(current, stable), revision)
                break
            except StaleStateError:
                continue
        await self.router.refresh()

    async def serve_registry_stable(self) -> st.BackendSpec:
        """Make the pool's `serving` model (the base when none) the stable variant, delivering its
        adapter when the fleet may have lost it (a restarted vLLM forgets runtime loads)."""
        assert self.fleet is not None and self.ledger is not None
        serving = await asyncio.to_thread(self.ledger.serving, self.fleet.base_model)
        if serving.adapter:
            ref = await asyncio.to_thread(self.ledger.adapter_ref, serving.name)
            deadline = time.monotonic() + self.policy.delivery_timeout_seconds
            while True:  # the fleet may still be starting next to the gateway
                try:
                    await self.fleet.delivery.deliver(ref)
                    break
                except DeliveryError as exc:
                    if time.monotonic() > deadline:
                        raise
                    log.warning("serving adapter %s not delivered yet (%s); retrying in 5 s", serving.name, exc)
                    await asyncio.sleep(5.0)
            spec = self.fleet.adapter_spec(serving.name)
        else:
            spec = self.fleet.base_spec()
        await self.configure_stable(spec, force=True)
        await self._settle_stored()
        return spec

    # ---------------------------------------------------------------- starting

    async def start_for_model(self, model_name: str, url: str = "", reason: str = "") -> st.RolloutState:
        """Deliver `model_name` to the fleet (or use `url`) and start its canary rollout."""
        reason = reason or f"{model_name} passed evaluation"
        url = url or self.candidate_url
        registered = self.ledger is not None and await asyncio.to_thread(self.ledger.status, model_name) is not None
        if url or self.fleet is None:
            candidate = await self._resolve(model_name, url)
            if registered:
                await asyncio.to_thread(self._mark, model_name, lifecycle.CANARY, f"rollout starting: {reason}")
            return await self.start_rollout(candidate, reason)
        if not registered:
            raise LookupError(f"model {model_name!r} is not in the registry")
        current, _ = await self.store.load()
        if current.state in st.ACTIVE:  # refuse before touching the registry or the fleet
            st.start(current, self.fleet.adapter_spec(model_name), list(self.policy.stages), self.clock())
        assert self.ledger is not None
        ref = await asyncio.to_thread(self.ledger.adapter_ref, model_name)
        method = self.fleet.delivery.method
        # Canary first: TGI's entrypoint pulls canary adapters, and a refusal is then a rollback on record.
        await asyncio.to_thread(self._mark, model_name, lifecycle.CANARY, f"rollout starting: delivering by {method}")
        try:
            await asyncio.to_thread(check_adapter, self.fleet.artifacts, ref, self.fleet.base_model)
            self.last_delivery = await self.fleet.delivery.deliver(ref)
        except DeliveryError as exc:
            count_delivery(method, "failed", exc.reason)
            return await self._refuse(model_name, f"delivery failed ({exc.reason}): {exc}")
        count_delivery(method, "delivered")
        return await self.start_rollout(self.fleet.adapter_spec(model_name), reason)

    async def _resolve(self, model_name: str, url: str) -> st.BackendSpec:
        if self.resolve is not None:
            return await self.resolve(model_name, url)
        kind = self.fleet.kind if self.fleet is not None else "tgi"
        return st.BackendSpec(model=model_name, url=url, kind=kind)

    def _mark(self, model_name: str, to: str, reason: str) -> None:
        assert self.ledger is not None
        self.ledger.mark(model_name, to, reason)

    async def _refuse(self, model_name: str, reason: str) -> st.RolloutState:
        """Record a rollout that never took traffic: `aborted` in the store, `rolled_back` in the registry."""
        assert self.fleet is not None
        log.error("rollout of %s refused: %s", model_name, reason)
        while True:
            current, revision = await self.store.load()
            now = self.clock()
            started = st.start(current, self.fleet.adapter_spec(model_name), list(self.policy.stages), now)
            failed = st.apply_action(started, "abort", reason, now)
            try:
                self.router.adopt(failed, await self.store.save(failed, revision))
                break
            except StaleStateError:
                continue
        if self.publish is not None:
            await self.publish(st.EVENT_FOR_ACTION["abort"], failed, reason, {})
        await self._settle(failed)
        return failed

    async def start_rollout(self, candidate: st.BackendSpec, reason: str = "") -> st.RolloutState:
        """Save a new rollout of an already-served candidate and route to it."""
        while True:
            current, revision = await self.store.load()
            new = st.start(current, candidate, list(self.policy.stages), self.clock(), reason=reason)
            try:
                revision = await self.store.save(new, revision)
                break
            except StaleStateError:
                continue
        self.router.adopt(new, revision)
        self.router.keep_figures_of(new.rollout_id)
        try:
            await self.store.drop_figures_except(new.rollout_id)
        except Exception:  # housekeeping only: a leftover key costs nothing
            log.warning("could not purge earlier rollouts' figures", exc_info=True)
        if self.publish is not None:
            await self.publish(st.EVENT_FOR_ACTION["start"], new, new.decisions[-1]["reason"], {})
        return new

    async def on_model_evaluated(self, data: bytes) -> st.RolloutState | None:
        """`model.evaluated`: roll out a model that passed, once. A redelivered or replayed event
        (the model already rolled out, or older than what serves) changes nothing."""
        msg = events_pb2.ModelEvaluated.FromString(data)
        if not msg.passed:
            log.info("model %s did not pass evaluation (%s): no rollout", msg.model_name, ", ".join(msg.failed_gates))
            return None
        current, _ = await self.store.load()
        if current.candidate and current.candidate.model == msg.model_name and current.rollout_id:
            log.info("model.evaluated for %s: its rollout %s exists already", msg.model_name, current.rollout_id)
            return current
        if self.ledger is not None:
            go, why = await asyncio.to_thread(self.ledger.should_roll_out, msg.model_name)
            if not go:
                log.info("model.evaluated for %s ignored: %s", msg.model_name, why)
                return None
        if current.state in st.ACTIVE:
            log.warning(
                "model %s passed evaluation but rollout %s of %s is %s: start it later with `crucible rollout start`",
                msg.model_name,
                current.rollout_id,
                current.candidate.model if current.candidate else "?",
                current.state,
            )
            return None
        return await self.start_for_model(msg.model_name)

    # ---------------------------------------------------------------- driving

    async def analyse(self) -> Decision | None:
        """One analysis step: flush figures, decide, and apply the decision (compare-and-set)."""
        await self.router.flush_figures()
        current, revision = await self.store.load()
        if current.state not in st.ACTIVE:
            self.router.adopt(current, revision)
            return None
        stable, canary, _ = await rollout_figures(self.store, current)
        decision = rollout_decision(
            stable=stable,
            canary=canary,
            stage_index=current.stage_index,
            stage_count=len(current.stages),
            stage_elapsed_seconds=self.clock() - current.stage_started_at,
            policy=self.policy,
        )
        if current.state == st.PAUSED and decision.action != ROLLBACK:
            return Decision(HOLD, "paused: waiting for promote or abort")
        if decision.action in (ROLLBACK, PAUSE, PROMOTE, COMPLETE):
            await self._transition(current, revision, decision.action, decision.reason, _figures_map(stable, canary))
        return decision

    async def admin_action(self, action: str, reason: str) -> st.RolloutState:
        """Manual promote (next stage, or complete on the last) or abort; retried on a stale revision."""
        for _ in range(10):
            current, revision = await self.store.load()
            if current.state not in st.ACTIVE:
                raise st.TransitionError(f"no rollout in progress (state {current.state})")
            stable, canary, _ = await rollout_figures(self.store, current)
            done = await self._transition(current, revision, action, reason, _figures_map(stable, canary))
            if done is not None:
                return done
        raise StaleStateError("the rollout kept changing under a manual action; try again")

    async def _transition(
        self, current: st.RolloutState, revision: int, action: str, reason: str, figures: dict[str, float]
    ) -> st.RolloutState | None:
        new = st.apply_action(current, action, reason, self.clock())
        try:
            revision = await self.store.save(new, revision)
        except StaleStateError:
            log.info("another replica changed the rollout first; re-reading")
            await self.router.refresh()
            return None
        self.router.adopt(new, revision)
        action_done = st.last_action(new)
        log.info("rollout %s: %s (%s)", new.rollout_id, action_done, reason)
        if self.publish is not None:
            await self.publish(st.EVENT_FOR_ACTION[action_done], new, reason, figures)
        if new.state in ENDED:
            await self._settle(new)
        return new

    async def _settle(self, ended: st.RolloutState) -> None:
        """After a rollout ends: the registry's lifecycle and decision log, then the fleet's memory."""
        if self.ledger is not None:
            try:
                await asyncio.to_thread(self.ledger.record_rollout, ended)
            except Exception:
                log.exception("rollout %s ended but the registry could not be updated", ended.rollout_id)
        if self.fleet is None or ended.candidate is None:
            return
        leaving = ended.candidate.model if ended.state != st.COMPLETED else ended.baseline_model
        if leaving and leaving != self.fleet.base_model:
            with contextlib.suppress(Exception):
                await self.fleet.delivery.withdraw(leaving)

    async def _settle_stored(self) -> None:
        """A replica that died between saving an ended rollout and writing the registry: finish it."""
        current, _ = await self.store.load()
        if current.state not in ENDED or current.candidate is None or self.ledger is None:
            return
        if await asyncio.to_thread(self.ledger.status, current.candidate.model) == lifecycle.CANARY:
            await self._settle(current)

    async def run(self, stop: asyncio.Event) -> None:
        """Refresh the router's state often; analyse every interval. Until `stop` is set."""
        next_analysis = time.monotonic() + self.policy.analysis_interval_seconds
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.router.refresh_seconds)
            try:
                await self.router.refresh()
                state = self.router.state
                if state.stable is None and state.state not in st.ACTIVE and self.fleet is not None:
                    log.warning("the stored rollout state names no stable backend (reset?): serving the registry's")
                    await self.serve_registry_stable()
                if time.monotonic() >= next_analysis:
                    next_analysis = time.monotonic() + self.policy.analysis_interval_seconds
                    await self.analyse()
            except Exception:
                log.exception("rollout loop step failed")

    async def status(self) -> dict[str, Any]:
        return await rollout_status(self.store)


def bus_publisher(bus: Any) -> Publisher:
    """Publish each transition as crucible.events.rollout.<state> (RolloutEvent)."""

    async def publish(name: str, state: st.RolloutState, reason: str, figures: dict[str, float]) -> None:
        at = Timestamp()
        at.FromDatetime(dt.datetime.now(dt.UTC))
        msg = events_pb2.RolloutEvent(
            rollout_id=state.rollout_id,
            candidate_model=state.candidate.model if state.candidate else "",
            stable_model=state.stable.model if state.stable else "",
            state=state.state,
            stage_index=state.stage_index,
            canary_weight=state.canary_weight,
            reason=reason,
            figures=figures,
            at=at,
        )
        # One event per transition even when replicas race: the id names the transition.
        await bus.publish_event(name, msg, msg_id=f"{state.rollout_id}:{len(state.decisions)}")

    return publish


async def rollout_figures(
    store: StateStore, state: st.RolloutState
) -> tuple[Summary, Summary, dict[int, StageFigures]]:
    """(stable over the whole rollout, canary in the current stage, per-stage figures)."""
    per_stage = await store.figures(state.rollout_id) if state.rollout_id else {}
    stable = merge_all(list(per_stage.values())).stable.summary()
    canary = per_stage.get(state.stage_index, StageFigures()).canary.summary()
    return stable, canary, per_stage


async def rollout_status(store: StateStore) -> dict[str, Any]:
    """What `crucible rollout status` and GetRollout show: stage, weights, figures, decisions."""
    current, _ = await store.load()
    figures: list[dict[str, Any]] = []
    if current.rollout_id:
        stable, canary, _ = await rollout_figures(store, current)
        baseline = current.baseline_model or (current.stable.model if current.stable else "")
        figures = [
            {"variant": STABLE, "model": baseline, **stable.__dict__},
            {"variant": CANARY, "model": current.candidate.model if current.candidate else "", **canary.__dict__},
        ]
    return {
        "rollout_id": current.rollout_id,
        "state": current.state,
        "stable_model": current.stable.model if current.stable else "",
        "candidate_model": current.candidate.model if current.candidate else "",
        "stage_index": current.stage_index,
        "stages": list(current.stages),
        "canary_weight": current.canary_weight,
        "figures": figures,
        "decisions": list(current.decisions),
    }


def _figures_map(stable: Summary, canary: Summary) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, s in ((STABLE, stable), (CANARY, canary)):
        for key, value in s.__dict__.items():
            out[f"{name}.{key}"] = float(value)
    return out
