"""The gateway's router: send each request to stable or canary, measure it per variant, retry a
failed canary once on stable, and attribute feedback.

Protocol front ends (HTTP in `http_app.py`, gRPC in `grpc_server.py`) are thin adapters over
`Router`; the rollout's state machine is `RolloutController` in `rollout.py`, which tells the
router what to route to (`adopt`). The rollout document is cached in memory and refreshed from
the store, so the hot path never waits on the KV store; figures are kept per replica in memory
and written to the store every analysis interval.

About 470 lines on purpose: the four request kinds (TGI generate and stream, OpenAI chat and
completions) share one routing, retry and measuring path (answer judging and interaction
publishing included), which reads best in one place.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from crucible.gateway import guarding, instruments, responses
from crucible.gateway import state as st
from crucible.gateway.assignment import CANARY, STABLE, assign_variant
from crucible.gateway.backends import Backend, make_backend
from crucible.gateway.feedback_desk import FeedbackDesk
from crucible.gateway.figures import StageFigures, VariantFigures
from crucible.gateway.interactions import Exchange, InteractionLog
from crucible.gateway.policy import GatewayPolicy
from crucible.gateway.response_ids import IssuedResponse, ResponseIds
from crucible.gateway.responses import Outcome, Route, Served
from crucible.gateway.safety import JudgeSafetyCheck, SafetyCheck
from crucible.gateway.store import StateStore
from crucible.gateway.transport import BackendError, HttpClient, new_http_client
from crucible.gateway.validation import (
    check_chat,
    check_completion,
    check_generate,
    openai_backend_body,
    tgi_backend_parameters,
)
from crucible.gateway.write_behind import WriteBehind

log = logging.getLogger(__name__)


class Router:
    def __init__(
        self,
        policy: GatewayPolicy,
        store: StateStore,
        *,
        safety: SafetyCheck | None = None,
        replica_id: str | None = None,
        refresh_seconds: float = 0.5,
    ) -> None:
        self.policy = policy
        self.store = store
        self.safety = safety or JudgeSafetyCheck()
        self._judge_version = str(getattr(self.safety, "version", type(self.safety).__name__))
        instruments.ANSWER_JUDGE_INFO.labels(self._judge_version).set(1)
        self.replica_id = replica_id or uuid.uuid4().hex[:8]
        self.refresh_seconds = refresh_seconds
        self.state = st.RolloutState()
        self.revision = 0
        self.backends: dict[str, Backend] = {}
        self._backend_specs: dict[str, st.BackendSpec] = {}
        self._client: HttpClient | None = None
        self._figures: dict[tuple[str, int], StageFigures] = {}
        self._rng = random.Random()
        self._served: WriteBehind[tuple[Route, Outcome, float]] = WriteBehind(self._account)
        # Feedback loop (issue 18/25): signed response ids, the interaction publisher (None = off),
        # feedback intake. The service replaces the per-process key with the configured secret.
        self.ids = ResponseIds(os.urandom(32), policy.feedback.response_id_ttl_seconds)
        self.interactions: InteractionLog | None = None
        self.desk = FeedbackDesk(self, policy.feedback)

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        self._client = new_http_client(self.policy.backend_timeout_seconds)
        await self.refresh()

    async def close(self) -> None:
        await self.flush_figures()
        if self.interactions is not None:
            await self.interactions.close()
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def refresh(self) -> None:
        state, revision = await self.store.load()
        self.adopt(state, revision)

    def adopt(self, state: st.RolloutState, revision: int) -> None:
        """Route by `state` from now on (the controller's transitions, or the store's newest)."""
        self.state, self.revision = state, revision
        self._sync_backends()
        instruments.set_rollout_gauges(state.state, state.canary_weight)

    def _sync_backends(self) -> None:
        assert self._client is not None, "Router.start() first"
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
        published = self.interactions is not None and self.interactions.sample()
        return Route(
            response_id=self.ids.mint(rid, s.stage_index, variant, published),
            variant=variant,
            model=self.backends[variant].spec.model,
            rollout_id=rid,
            stage_index=s.stage_index,
            published=published,
            user_id=user_id if published else "",
        )

    def _fallback(self, route: Route) -> Route:
        return Route(
            response_id=self.ids.mint(route.rollout_id, route.stage_index, STABLE, route.published),
            variant=STABLE,
            model=self.backends[STABLE].spec.model,
            rollout_id=route.rollout_id,
            stage_index=route.stage_index,
            published=route.published,
            user_id=route.user_id,
        )

    def _may_retry(self, route: Route, exc: BackendError) -> bool:
        """A canary's own failure is retried once on stable; a client's bad request is not."""
        return (
            not exc.client_error
            and route.variant == CANARY
            and self.policy.retry_canary_on_stable
            and STABLE in self.backends
        )

    def refuse(self, exc: BackendError) -> None:
        """Count a request refused before routing (validation at the gateway)."""
        instruments.SERVED.request("none", "", str(exc.status))

    # ---------------------------------------------------------------- measuring

    def _stage_figures(self, route: Route) -> VariantFigures | None:
        if not route.rollout_id:
            return None
        key = (route.rollout_id, route.stage_index)
        if key not in self._figures:
            self._figures[key] = StageFigures()
        return self._figures[key].variant(route.variant)

    def _record(self, route: Route, outcome: Outcome) -> None:
        """Account for a finished backend call after the client is answered (`write_behind.py`).
        A sampled exchange goes to the interaction publisher at once: it batches on its own, and its
        `flush` must find every exchange already answered."""
        elapsed = time.perf_counter() - outcome.started
        if outcome.ok and route.published and self.interactions is not None:
            self.interactions.served(
                Exchange(route, route.user_id, outcome.prompt, outcome.text, elapsed, outcome.tokens, time.time())
            )
        self._served.add((route, outcome, elapsed))

    def settle(self) -> None:
        """Apply the accounting of every request answered so far: call before reading figures or
        metrics."""
        self._served.settle()

    def _account(self, served: tuple[Route, Outcome, float]) -> None:
        route, outcome, elapsed = served
        instruments.SERVED.request(route.variant, route.model, str(outcome.code))
        if outcome.client_error:  # never an error of the variant: not in its figures or latency
            return
        figures = self._stage_figures(route)
        if outcome.ok:
            instruments.SERVED.served(route.variant, route.model, elapsed, outcome.ttft, outcome.tokens)
        if figures is not None:
            figures.record_request(ok=outcome.ok, latency_s=elapsed, ttft_s=outcome.ttft, tokens=outcome.tokens)
        if outcome.ok and self._safety_sampled(route.variant):
            self._judge_answer(route, outcome, figures)

    def _safety_sampled(self, variant: str) -> bool:
        p = self.policy
        rate = p.safety_sample_rate if variant == CANARY else p.stable_safety_sample_rate
        return rate >= 1.0 or (rate > 0 and self._rng.random() < rate)

    def _judge_answer(self, route: Route, outcome: Outcome, figures: VariantFigures | None) -> None:
        """Stable and canary answers alike: an incident is counted (the alert pages a person); only the
        canary's rollout figures can trigger the automatic rollback (decision.py reads the canary's)."""
        verdict = self.safety.check(outcome.prompt, outcome.text)
        instruments.SERVED.safety_checked(route.variant)
        if figures is not None:
            figures.record_safety(flagged=verdict.flagged)
        if verdict.flagged:
            instruments.SAFETY_INCIDENTS.labels(route.variant, verdict.category).inc()
            log.warning("safety incident on %s (%s, judge %s): %s", route.variant, verdict.category,
                        self._judge_version, verdict.evidence)  # fmt: skip

    # ---------------------------------------------------------------- TGI generate

    def _generate_parameters(self, inputs: Any, parameters: Any) -> dict[str, Any]:
        checked = self._checked(check_generate, inputs, parameters, self.policy.limits)
        return tgi_backend_parameters(checked, self.policy.default_max_new_tokens)

    def _checked(self, check: Callable[..., Any], *args: Any) -> Any:
        try:
            return check(*args)
        except BackendError as exc:
            self.refuse(exc)
            raise

    async def generate(self, inputs: Any, parameters: Any, user_id: str = "") -> Served:
        params = self._generate_parameters(inputs, parameters)
        decision = guarding.check_inputs(inputs)  # serving safety guard: no backend on a risky prompt
        if decision is not None:
            return Served(Route(**guarding.route_fields(decision)), guarding.tgi_body(decision))
        route = self.route(user_id)
        try:
            return await self._generate_on(route, inputs, params)
        except BackendError as exc:
            if not self._may_retry(route, exc):
                raise
            return await self._generate_on(self._fallback(route), inputs, params)

    async def _generate_on(self, route: Route, inputs: str, params: dict[str, Any]) -> Served:
        started = time.perf_counter()
        try:
            body = await self.backends[route.variant].generate(inputs, params)
        except BackendError as exc:
            self._record(route, responses.failed(exc, started, inputs))
            raise
        details = body.get("details") or {}
        tokens = int(details.get("generated_tokens", 0))
        self._record(route, Outcome(True, 200, started, inputs, body.get("generated_text", ""), tokens))
        return Served(route, body)

    async def generate_stream(
        self, inputs: Any, parameters: Any, user_id: str = ""
    ) -> AsyncIterator[tuple[Route, dict[str, Any]]]:
        params = self._generate_parameters(inputs, parameters)
        decision = guarding.check_inputs(inputs)  # serving safety guard: no backend on a risky prompt
        if decision is not None:
            guarded = Route(**guarding.route_fields(decision))
            async for event in guarding.tgi_stream(decision):
                yield guarded, event
            return
        route = self.route(user_id)

        def open_stream(r: Route) -> AsyncIterator[dict[str, Any]]:
            return self.backends[r.variant].generate_stream(inputs, params)

        async for item in self._stream(route, open_stream, inputs, responses.tgi_piece, responses.tgi_tokens):
            yield item

    # ---------------------------------------------------------------- OpenAI chat and completions

    async def chat(self, body: Any, user_id: str = "") -> Served:
        body, n = self._checked(check_chat, body, self.policy.limits, set(self.policy.openai_passthrough))
        decision = guarding.check_chat(body)  # serving safety guard: no backend on a risky prompt
        if decision is not None:
            guarded = Route(**guarding.route_fields(decision))
            return Served(guarded, guarding.chat_body(decision, guarded.response_id))
        return await self._openai_call(
            openai_backend_body(body, self.policy.default_max_new_tokens),
            n,
            user_id,
            responses.chat_prompt(body),
            responses.chat_text,
            "chat",
        )

    async def complete(self, body: Any, user_id: str = "") -> Served:
        body, n = self._checked(check_completion, body, self.policy.limits, set(self.policy.openai_passthrough))
        decision = guarding.check_inputs(body["prompt"])
        if decision is not None:
            guarded = Route(**guarding.route_fields(decision))
            return Served(guarded, guarding.completion_body(decision, guarded.response_id))
        return await self._openai_call(
            openai_backend_body(body, self.policy.default_max_new_tokens),
            n,
            user_id,
            body["prompt"],
            responses.completion_text,
            "complete",
        )

    async def _openai_call(
        self,
        body: dict[str, Any],
        n: int,
        user_id: str,
        prompt: str,
        text_of: Callable[[dict[str, Any]], str],
        method: str,
    ) -> Served:
        """One backend call per choice (`n` of them, seeds apart when a seed is given), merged."""
        first = self.route(user_id)

        async def one(i: int) -> tuple[Route, dict[str, Any]]:
            call = {**body, "seed": body["seed"] + i} if n > 1 and "seed" in body else body
            try:
                return first, await self._openai_on(first, call, prompt, text_of, method)
            except BackendError as exc:
                if not self._may_retry(first, exc):
                    raise
                fallback = self._fallback(first)
                return fallback, await self._openai_on(fallback, call, prompt, text_of, method)

        answers = [await one(0)] if n == 1 else list(await asyncio.gather(*(one(i) for i in range(n))))
        return Served(answers[0][0], responses.merge_choices([out for _, out in answers]))

    async def _openai_on(
        self, route: Route, body: dict[str, Any], prompt: str, text_of: Callable[[dict[str, Any]], str], method: str
    ) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            out: dict[str, Any] = await getattr(self.backends[route.variant], method)(body)
        except BackendError as exc:
            self._record(route, responses.failed(exc, started, prompt))
            raise
        tokens = int((out.get("usage") or {}).get("completion_tokens", 0))
        self._record(route, Outcome(True, 200, started, prompt, text_of(out), tokens))
        return out

    def chat_stream(self, body: Any, user_id: str = "") -> AsyncIterator[tuple[Route, dict[str, Any]]]:
        return self._openai_stream(body, user_id, chat=True)

    def complete_stream(self, body: Any, user_id: str = "") -> AsyncIterator[tuple[Route, dict[str, Any]]]:
        return self._openai_stream(body, user_id, chat=False)

    async def _openai_stream(
        self, body: Any, user_id: str, *, chat: bool
    ) -> AsyncIterator[tuple[Route, dict[str, Any]]]:
        check = check_chat if chat else check_completion
        body, n = self._checked(check, body, self.policy.limits, set(self.policy.openai_passthrough))
        if n > 1:
            self._checked(responses.no_streamed_choices, n)
        prompt = responses.chat_prompt(body) if chat else body["prompt"]
        decision = guarding.check_chat(body) if chat else guarding.check_inputs(prompt)
        if decision is not None:  # serving safety guard: no backend on a risky prompt
            guarded = Route(**guarding.route_fields(decision))
            template = guarding.chat_stream if chat else guarding.completion_stream
            async for event in template(decision, guarded.response_id):
                yield guarded, event
            return
        call = {
            **openai_backend_body(body, self.policy.default_max_new_tokens),
            "stream_options": {"include_usage": True},
        }
        method = "chat_stream" if chat else "complete_stream"
        piece = responses.chat_piece if chat else responses.completion_piece

        def open_stream(r: Route) -> AsyncIterator[dict[str, Any]]:
            stream: AsyncIterator[dict[str, Any]] = getattr(self.backends[r.variant], method)(call)
            return stream

        async for item in self._stream(self.route(user_id), open_stream, prompt, piece, responses.usage_tokens):
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
                self._record(route, responses.failed(exc, started, prompt, ttft))
                if count == 0 and self._may_retry(route, exc):
                    route = self._fallback(route)
                    continue
                raise
            tokens = tokens_reported if tokens_reported is not None else count
            self._record(route, Outcome(True, 200, started, prompt, "".join(pieces), tokens, ttft))
            return

    # ---------------------------------------------------------------- feedback

    def feedback(self, response_id: str, rating: int, advice_accepted: bool = False, text: str = "") -> bool:
        """Count a rating in this replica's figures, once per signed response id (tests and rigs;
        the front ends go through `self.desk.submit`, which also limits, stores and publishes)."""
        return self.desk.submit_local(response_id, rating, advice_accepted)

    def attribute_feedback(
        self, issued: IssuedResponse, rating: int, advice_accepted: bool, positive_outcome: bool | None
    ) -> None:
        """Attribute a verified rating to the variant (and stage) that produced the response."""
        instruments.feedback_score_child(issued.variant).observe(rating)
        if advice_accepted:
            instruments.FEEDBACK_ADVICE_ACCEPTED.labels(issued.variant).inc()
        if positive_outcome is not None:
            instruments.FEEDBACK_OUTCOMES.labels(issued.variant, "positive" if positive_outcome else "negative").inc()
        if issued.rollout_id:
            key = (issued.rollout_id, issued.stage_index)
            if key not in self._figures:
                self._figures[key] = StageFigures()
            self._figures[key].variant(issued.variant).record_feedback(rating, advice_accepted, positive_outcome)

    def model_of(self, variant: str, rollout_id: str = "") -> str:
        """The model a variant served (the rollout's candidate or baseline while it is the current one)."""
        s = self.state
        if rollout_id and rollout_id == s.rollout_id:
            if variant == CANARY and s.candidate is not None:
                return s.candidate.model
            if variant == STABLE:
                return s.baseline_model or (s.stable.model if s.stable else "")
        backend = self.backends.get(variant)
        return backend.spec.model if backend is not None else ""

    # ---------------------------------------------------------------- figures

    async def flush_figures(self) -> None:
        self.settle()
        for (rollout_id, stage), figures in list(self._figures.items()):
            try:
                await self.store.put_figures(rollout_id, stage, self.replica_id, figures)
            except Exception:
                log.warning("could not write figures for %s stage %d", rollout_id, stage, exc_info=True)

    def keep_figures_of(self, rollout_id: str) -> None:
        """Forget this replica's figures of earlier rollouts (a new one started)."""
        self.settle()
        self._figures = {k: v for k, v in self._figures.items() if k[0] == rollout_id}
