"""The gateway's core: route each request to stable or canary, measure it per variant, retry a
failed canary once on stable, attribute feedback, and run the rollout analysis.

Protocol front ends (HTTP in `http_app.py`, gRPC in `grpc_server.py`) are thin adapters over
`Gateway`. The rollout document is cached in memory and refreshed from the store, so the hot
path never waits on the KV store; figures are kept per replica in memory and written to the
store every analysis interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from crucible.gateway import guarding, metrics
from crucible.gateway import state as st
from crucible.gateway.assignment import CANARY, STABLE, assign_variant
from crucible.gateway.backends import Backend, BackendError, HttpClient, make_backend, new_http_client
from crucible.gateway.decision import COMPLETE, HOLD, PAUSE, PROMOTE, ROLLBACK, Decision, rollout_decision
from crucible.gateway.figures import StageFigures, Summary, VariantFigures, merge_all
from crucible.gateway.policy import GatewayPolicy
from crucible.gateway.safety import KeywordSafetyCheck, SafetyCheck
from crucible.gateway.store import StaleStateError, StateStore

log = logging.getLogger(__name__)

# (event name, rollout state after the transition, reason, figures) -> publish on the bus.
Publisher = Callable[[str, st.RolloutState, str, dict[str, float]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Route:
    response_id: str
    variant: str
    model: str
    rollout_id: str
    stage_index: int


@dataclass
class Served:
    route: Route
    body: dict[str, Any]


def encode_response_id(rollout_id: str, stage_index: int, variant: str) -> str:
    """The response id carries where it was produced, so any replica can attribute feedback."""
    # 64 random bits, as uuid4().hex[:16] gave, without building a UUID per request.
    return f"{rollout_id or 'none'}.{stage_index}.{variant[0]}.{os.urandom(8).hex()}"


def decode_response_id(response_id: str) -> tuple[str, int, str] | None:
    parts = response_id.split(".")
    if len(parts) != 4 or parts[2] not in ("s", "c") or not parts[1].isdigit():
        return None
    rollout_id = "" if parts[0] == "none" else parts[0]
    return rollout_id, int(parts[1]), CANARY if parts[2] == "c" else STABLE


class Gateway:
    def __init__(
        self,
        policy: GatewayPolicy,
        store: StateStore,
        *,
        safety: SafetyCheck | None = None,
        replica_id: str | None = None,
        publish: Publisher | None = None,
        clock: Callable[[], float] = time.time,
        refresh_seconds: float = 0.5,
    ) -> None:
        self.policy = policy
        self.store = store
        self.safety = safety or KeywordSafetyCheck()
        self.replica_id = replica_id or uuid.uuid4().hex[:8]
        self.publish = publish
        self.clock = clock
        self.refresh_seconds = refresh_seconds
        self.state = st.RolloutState()
        self.revision = 0
        self.backends: dict[str, Backend] = {}
        self._backend_specs: dict[str, st.BackendSpec] = {}
        self._client: HttpClient | None = None
        self._figures: dict[tuple[str, int], StageFigures] = {}
        self._rng = random.Random()

    # ---------------------------------------------------------------- lifecycle

    async def start(self, stable: st.BackendSpec | None = None, *, force_stable: bool = False) -> None:
        self._client = new_http_client(self.policy.backend_timeout_seconds)
        await self.refresh()
        if stable is not None:
            await self.configure_stable(stable, force=force_stable)

    async def close(self) -> None:
        await self.flush_figures()
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def configure_stable(self, stable: st.BackendSpec, *, force: bool = False) -> None:
        """Set the stable backend unless the store already knows one (a completed rollout made the
        candidate stable; a restart must not undo that). `force` replaces it when no rollout runs."""
        while True:
            current, revision = await self.store.load()
            if current.stable is not None and not force:
                break
            if current.state in st.ACTIVE:
                break
            try:
                await self.store.save(st.with_stable(current, stable), revision)
                break
            except StaleStateError:
                continue
        await self.refresh()

    async def refresh(self) -> None:
        self.state, self.revision = await self.store.load()
        self._sync_backends()
        metrics.set_rollout_gauges(self.state.state, self.state.canary_weight)

    def _sync_backends(self) -> None:
        assert self._client is not None, "Gateway.start() first"
        wanted = {STABLE: self.state.stable}
        if self.state.state in st.ACTIVE:
            wanted[CANARY] = self.state.candidate
        for variant, spec in wanted.items():
            if spec is not None and self._backend_specs.get(variant) != spec:
                self.backends[variant] = make_backend(spec, self._client)
                self._backend_specs[variant] = spec
        for variant in list(self.backends):
            if wanted.get(variant) is None:
                del self.backends[variant]
                del self._backend_specs[variant]

    # ---------------------------------------------------------------- routing

    def route(self, user_id: str) -> Route:
        s = self.state
        if STABLE not in self.backends:
            raise BackendError("no stable backend configured", status=503)
        uid = user_id or uuid.uuid4().hex  # anonymous requests are spread at random
        variant = assign_variant(s.rollout_id, uid, s.canary_weight) if CANARY in self.backends else STABLE
        rid = s.rollout_id if s.state in st.ACTIVE else ""
        return Route(
            response_id=encode_response_id(rid, s.stage_index, variant),
            variant=variant,
            model=self.backends[variant].spec.model,
            rollout_id=rid,
            stage_index=s.stage_index,
        )

    def _fallback(self, route: Route) -> Route:
        return Route(
            response_id=encode_response_id(route.rollout_id, route.stage_index, STABLE),
            variant=STABLE,
            model=self.backends[STABLE].spec.model,
            rollout_id=route.rollout_id,
            stage_index=route.stage_index,
        )

    def _may_retry(self, route: Route) -> bool:
        return route.variant == CANARY and self.policy.retry_canary_on_stable and STABLE in self.backends

    def normalise_parameters(self, parameters: dict[str, Any] | None) -> dict[str, Any]:
        params = {k: v for k, v in (parameters or {}).items() if v is not None}
        # Unset max_new_tokens means "up to the context limit" to TGI: always send one.
        if not params.get("max_new_tokens"):
            params["max_new_tokens"] = self.policy.default_max_new_tokens
        params["details"] = True  # the gateway needs token counts; stripped again for clients that did not ask
        return params

    # ---------------------------------------------------------------- measuring

    def _stage_figures(self, route: Route) -> VariantFigures | None:
        if not route.rollout_id:
            return None
        key = (route.rollout_id, route.stage_index)
        if key not in self._figures:
            self._figures[key] = StageFigures()
        return self._figures[key].variant(route.variant)

    def _record(
        self,
        route: Route,
        *,
        ok: bool,
        code: int,
        started: float,
        ttft: float | None,
        tokens: int,
        text: str,
        prompt: str,
    ) -> None:
        elapsed = time.perf_counter() - started
        metrics.requests_child(route.variant, route.model, str(code)).inc()
        figures = self._stage_figures(route)
        if ok:
            duration, first_token, _ = metrics.variant_children(route.variant)
            duration.observe(elapsed)
            first_token.observe(elapsed if ttft is None else ttft)
            metrics.tokens_child(route.variant, route.model).inc(tokens)
        if figures is not None:
            figures.record_request(ok=ok, latency_s=elapsed, ttft_s=ttft, tokens=tokens)
            if ok and self.policy.safety_sample_rate > 0 and self._rng.random() < self.policy.safety_sample_rate:
                verdict = self.safety.check(prompt, text)
                figures.record_safety(flagged=verdict.flagged)
                if verdict.flagged:
                    log.warning("safety incident on %s (%s): %s", route.variant, verdict.category, verdict.evidence)

    # ---------------------------------------------------------------- TGI generate

    async def generate(self, inputs: str, parameters: dict[str, Any] | None, user_id: str = "") -> Served:
        decision = guarding.check_inputs(inputs)  # serving safety guard: no backend on a risky prompt
        if decision is not None:
            return Served(Route(**guarding.route_fields(decision)), guarding.tgi_body(decision))
        params = self.normalise_parameters(parameters)
        route = self.route(user_id)
        try:
            return await self._generate_on(route, inputs, params)
        except BackendError:
            if not self._may_retry(route):
                raise
            return await self._generate_on(self._fallback(route), inputs, params)

    async def _generate_on(self, route: Route, inputs: str, params: dict[str, Any]) -> Served:
        started = time.perf_counter()
        try:
            body = await self.backends[route.variant].generate(inputs, params)
        except BackendError as exc:
            self._record(route, ok=False, code=exc.status, started=started, ttft=None, tokens=0, text="", prompt=inputs)
            raise
        details = body.get("details") or {}
        text = body.get("generated_text", "")
        self._record(
            route,
            ok=True,
            code=200,
            started=started,
            ttft=None,
            tokens=int(details.get("generated_tokens", 0)),
            text=text,
            prompt=inputs,
        )
        return Served(route, body)

    async def generate_stream(
        self, inputs: str, parameters: dict[str, Any] | None, user_id: str = ""
    ) -> AsyncIterator[tuple[Route, dict[str, Any]]]:
        decision = guarding.check_inputs(inputs)  # serving safety guard: no backend on a risky prompt
        if decision is not None:
            guarded = Route(**guarding.route_fields(decision))
            async for event in guarding.tgi_stream(decision):
                yield guarded, event
            return
        params = self.normalise_parameters(parameters)
        route = self.route(user_id)

        def open_stream(r: Route) -> AsyncIterator[dict[str, Any]]:
            return self.backends[r.variant].generate_stream(inputs, params)

        async for item in self._stream(route, open_stream, inputs, _tgi_piece, _tgi_tokens):
            yield item

    # ---------------------------------------------------------------- OpenAI chat

    async def chat(self, body: dict[str, Any], user_id: str = "") -> Served:
        decision = guarding.check_chat(body)  # serving safety guard: no backend on a risky prompt
        if decision is not None:
            guarded = Route(**guarding.route_fields(decision))
            return Served(guarded, guarding.chat_body(decision, guarded.response_id))
        body = self._chat_body(body)
        route = self.route(user_id)
        try:
            return await self._chat_on(route, body)
        except BackendError:
            if not self._may_retry(route):
                raise
            return await self._chat_on(self._fallback(route), body)

    def _chat_body(self, body: dict[str, Any]) -> dict[str, Any]:
        body = {k: v for k, v in body.items() if v is not None and k not in ("user", "stream", "stream_options")}
        if not body.get("max_tokens") and not body.get("max_completion_tokens"):
            body["max_tokens"] = self.policy.default_max_new_tokens
        return body

    async def _chat_on(self, route: Route, body: dict[str, Any]) -> Served:
        started = time.perf_counter()
        prompt = _chat_prompt(body)
        try:
            out = await self.backends[route.variant].chat(body)
        except BackendError as exc:
            self._record(route, ok=False, code=exc.status, started=started, ttft=None, tokens=0, text="", prompt=prompt)
            raise
        text = ((out.get("choices") or [{}])[0].get("message") or {}).get("content") or ""
        tokens = int((out.get("usage") or {}).get("completion_tokens", 0))
        self._record(route, ok=True, code=200, started=started, ttft=None, tokens=tokens, text=text, prompt=prompt)
        return Served(route, out)

    async def chat_stream(self, body: dict[str, Any], user_id: str = "") -> AsyncIterator[tuple[Route, dict[str, Any]]]:
        decision = guarding.check_chat(body)  # serving safety guard: no backend on a risky prompt
        if decision is not None:
            guarded = Route(**guarding.route_fields(decision))
            async for event in guarding.chat_stream(decision, guarded.response_id):
                yield guarded, event
            return
        body = self._chat_body(body)
        route = self.route(user_id)

        def open_stream(r: Route) -> AsyncIterator[dict[str, Any]]:
            return self.backends[r.variant].chat_stream(body)

        async for item in self._stream(route, open_stream, _chat_prompt(body), _chat_piece, None):
            yield item

    # ---------------------------------------------------------------- streaming, shared

    async def _stream(
        self,
        route: Route,
        open_stream: Callable[[Route], AsyncIterator[dict[str, Any]]],
        prompt: str,
        piece: Callable[[dict[str, Any]], str],
        final_tokens: Callable[[dict[str, Any]], int | None] | None,
    ) -> AsyncIterator[tuple[Route, dict[str, Any]]]:
        """Relay a backend stream. A canary that fails before its first event is retried once on
        stable (the client never sees it); after the first event the error reaches the client and
        counts against the variant that produced it (a mid-stream error after a 200)."""
        while True:
            started = time.perf_counter()
            ttft: float | None = None
            pieces: list[str] = []
            tokens_reported: int | None = None
            count = 0
            try:
                async for event in open_stream(route):
                    if ttft is None:
                        ttft = time.perf_counter() - started
                    count += 1
                    pieces.append(piece(event))
                    if final_tokens is not None:
                        tokens_reported = final_tokens(event) or tokens_reported
                    yield route, event
            except BackendError as exc:
                self._record(
                    route, ok=False, code=exc.status, started=started, ttft=ttft, tokens=0, text="", prompt=prompt
                )
                if count == 0 and self._may_retry(route):
                    route = self._fallback(route)
                    continue
                raise
            self._record(
                route,
                ok=True,
                code=200,
                started=started,
                ttft=ttft,
                tokens=tokens_reported if tokens_reported is not None else count,
                text="".join(pieces),
                prompt=prompt,
            )
            return

    # ---------------------------------------------------------------- feedback

    def feedback(self, response_id: str, rating: int, advice_accepted: bool = False, text: str = "") -> bool:
        """Attribute a rating to the variant (and stage) that produced the response."""
        if not 1 <= rating <= 10:
            raise ValueError(f"rating must be 1..10, got {rating}")
        decoded = decode_response_id(response_id)
        if decoded is None:
            return False
        rollout_id, stage_index, variant = decoded
        metrics.variant_children(variant)[2].observe(rating)
        if rollout_id:
            key = (rollout_id, stage_index)
            if key not in self._figures:
                self._figures[key] = StageFigures()
            self._figures[key].variant(variant).record_feedback(rating, advice_accepted)
        return True

    # ---------------------------------------------------------------- rollout control

    async def flush_figures(self) -> None:
        for (rollout_id, stage), figures in list(self._figures.items()):
            try:
                await self.store.put_figures(rollout_id, stage, self.replica_id, figures)
            except Exception:
                log.warning("could not write figures for %s stage %d", rollout_id, stage, exc_info=True)

    async def rollout_figures(self, state: st.RolloutState) -> tuple[Summary, Summary, dict[int, StageFigures]]:
        return await rollout_figures(self.store, state)

    async def analyse(self) -> Decision | None:
        """One analysis step: flush figures, decide, and apply the decision (compare-and-set)."""
        await self.flush_figures()
        current, revision = await self.store.load()
        if current.state not in st.ACTIVE:
            self.state, self.revision = current, revision
            return None
        stable, canary, _ = await self.rollout_figures(current)
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

    async def _transition(
        self, current: st.RolloutState, revision: int, action: str, reason: str, figures: dict[str, float]
    ) -> st.RolloutState | None:
        new = st.apply_action(current, action, reason, self.clock())
        try:
            self.revision = await self.store.save(new, revision)
        except StaleStateError:
            log.info("another replica changed the rollout first; re-reading")
            await self.refresh()
            return None
        self.state = new
        self._sync_backends()
        metrics.set_rollout_gauges(new.state, new.canary_weight)
        action_done = st.last_action(new)
        log.info("rollout %s: %s (%s)", new.rollout_id, action_done, reason)
        if self.publish is not None:
            await self.publish(st.EVENT_FOR_ACTION[action_done], new, reason, figures)
        return new

    async def start_rollout(self, candidate: st.BackendSpec, reason: str = "") -> st.RolloutState:
        while True:
            current, revision = await self.store.load()
            new = st.start(current, candidate, list(self.policy.stages), self.clock(), reason=reason)
            try:
                self.revision = await self.store.save(new, revision)
                break
            except StaleStateError:
                continue
        self.state = new
        self._sync_backends()
        metrics.set_rollout_gauges(new.state, new.canary_weight)
        self._figures = {k: v for k, v in self._figures.items() if k[0] == new.rollout_id}
        try:
            await self.store.drop_figures_except(new.rollout_id)
        except Exception:  # housekeeping only: a leftover key costs nothing
            log.warning("could not purge earlier rollouts' figures", exc_info=True)
        if self.publish is not None:
            await self.publish(st.EVENT_FOR_ACTION["start"], new, new.decisions[-1]["reason"], {})
        return new

    async def admin_action(self, action: str, reason: str) -> st.RolloutState:
        """Manual promote (next stage, or complete on the last) or abort; retried on a stale revision."""
        for _ in range(10):
            current, revision = await self.store.load()
            if current.state not in st.ACTIVE:
                raise st.TransitionError(f"no rollout in progress (state {current.state})")
            stable, canary, _ = await self.rollout_figures(current)
            done = await self._transition(current, revision, action, reason, _figures_map(stable, canary))
            if done is not None:
                return done
        raise StaleStateError("the rollout kept changing under a manual action; try again")

    async def run(self, stop: asyncio.Event) -> None:
        """Refresh the cached state often; analyse every interval. Until `stop` is set."""
        next_analysis = time.monotonic() + self.policy.analysis_interval_seconds
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.refresh_seconds)
            try:
                await self.refresh()
                if time.monotonic() >= next_analysis:
                    next_analysis = time.monotonic() + self.policy.analysis_interval_seconds
                    await self.analyse()
            except Exception:
                log.exception("rollout loop step failed")

    async def status(self) -> dict[str, Any]:
        return await rollout_status(self.store)


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


def _tgi_piece(event: dict[str, Any]) -> str:
    token = event.get("token") or {}
    return "" if token.get("special") else str(token.get("text", ""))


def _tgi_tokens(event: dict[str, Any]) -> int | None:
    details = event.get("details") or {}
    value = details.get("generated_tokens")
    return int(value) if value is not None else None


def _chat_piece(event: dict[str, Any]) -> str:
    choice = (event.get("choices") or [{}])[0]
    return str((choice.get("delta") or {}).get("content") or "")


def _chat_prompt(body: dict[str, Any]) -> str:
    return "\n".join(str(m.get("content", "")) for m in body.get("messages", []) if isinstance(m, dict))
