"""gRPC front end: `crucible.v1.ModelGateway`, standard health checking and reflection, TLS when
a certificate is configured. Admin RPCs (StartRollout, Promote, Abort) need
`authorization: Bearer <token>` metadata matching `CRUCIBLE_GATEWAY_ADMIN_TOKEN`; with no token
configured they are refused (never open by default)."""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from crucible.gateway import state as st
from crucible.gateway.client_auth import ClientAuth, peer_address
from crucible.gateway.feedback_desk import RATE_LIMITED, UNAUTHENTICATED, FeedbackInput
from crucible.gateway.interactions import OPT_OUT_HEADER, note_opt_out
from crucible.gateway.rollout import RolloutController
from crucible.gateway.router import Router
from crucible.gateway.transport import BackendError
from crucible.v1 import gateway_pb2, gateway_pb2_grpc

log = logging.getLogger(__name__)

SERVICE_NAME = gateway_pb2.DESCRIPTOR.services_by_name["ModelGateway"].full_name


def grpc_status(exc: BackendError) -> grpc.StatusCode:
    """The client's own errors as theirs (INVALID_ARGUMENT, FAILED_PRECONDITION, RESOURCE_EXHAUSTED,
    which clients do not retry); the backend's as UNAVAILABLE or DEADLINE_EXCEEDED."""
    if exc.status in (413, 429):
        return grpc.StatusCode.RESOURCE_EXHAUSTED
    if exc.client_error:
        return (
            grpc.StatusCode.FAILED_PRECONDITION if exc.status in (404, 409, 412) else grpc.StatusCode.INVALID_ARGUMENT
        )
    if exc.status == 504:
        return grpc.StatusCode.DEADLINE_EXCEEDED
    return grpc.StatusCode.UNAVAILABLE


def _parameters(p: gateway_pb2.GenerationParameters) -> dict[str, Any]:
    out: dict[str, Any] = {"max_new_tokens": p.max_new_tokens or None, "do_sample": p.do_sample}
    for name in ("temperature", "top_p", "top_k", "seed", "repetition_penalty"):
        if p.HasField(name):
            out[name] = getattr(p, name)
    if p.stop:
        out["stop"] = list(p.stop)
    return out


def status_message(status: dict[str, Any]) -> gateway_pb2.RolloutStatus:
    msg = gateway_pb2.RolloutStatus(
        rollout_id=status["rollout_id"],
        state=status["state"],
        stable_model=status["stable_model"],
        candidate_model=status["candidate_model"],
        stage_index=status["stage_index"],
        canary_weight=status["canary_weight"],
    )
    for f in status["figures"]:
        msg.figures.add(
            variant=f["variant"],
            model=f["model"],
            requests=f["requests"],
            errors=f["errors"],
            error_rate=f["error_rate"],
            p95_latency_seconds=f["p95_latency_seconds"],
            p95_ttft_seconds=f["p95_ttft_seconds"],
            mean_satisfaction=f["mean_satisfaction"],
            feedback_count=f["feedback_count"],
            safety_incidents=f["safety_incidents"],
            advice_acceptance=f.get("advice_acceptance", 0.0),
            feedback_rate=f.get("feedback_rate", 0.0),
            positive_outcome_rate=f.get("positive_outcome_rate", 0.0),
            outcome_reports=f.get("outcome_reports", 0),
        )
    for d in status["decisions"]:
        msg.decisions.add(at=d["at"], action=d["action"], reason=d["reason"], stage_index=d["stage_index"])
    return msg


class ModelGatewayServicer(gateway_pb2_grpc.ModelGatewayServicer):
    def __init__(
        self, router: Router, rollout: RolloutController, admin_token: str | None, clients: ClientAuth | None = None
    ) -> None:
        self.gateway = router
        self.rollout = rollout
        self.admin_token = admin_token
        self.clients = clients or ClientAuth({})

    async def _client_gate(self, context: grpc.aio.ServicerContext, required: bool) -> None:
        """Note the caller's opt-out; refuse a missing client token where policy requires one."""
        metadata = dict(context.invocation_metadata() or ())
        note_opt_out(str(metadata[OPT_OUT_HEADER]) if OPT_OUT_HEADER in metadata else None)
        if required and self.clients.client_of(str(metadata.get("authorization", ""))) is None:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "a client token is required (authorization: Bearer)")

    async def _require_admin(self, context: grpc.aio.ServicerContext) -> None:
        if not self.admin_token:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "admin RPCs are disabled: no admin token configured")
        metadata = dict(context.invocation_metadata() or ())
        given = str(metadata.get("authorization", ""))
        if not given.startswith("Bearer "):
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing `authorization: Bearer <token>` metadata")
        if not hmac.compare_digest(given[7:].encode(), str(self.admin_token).encode()):
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "wrong admin token")

    async def Generate(self, request: gateway_pb2.GenerateRequest, context: grpc.aio.ServicerContext) -> Any:
        await self._client_gate(context, self.gateway.policy.feedback.require_client_token_for_generation)
        if request.no_log:
            note_opt_out("1")
        try:
            served = await self.gateway.generate(request.inputs, _parameters(request.parameters), request.user_id)
        except BackendError as exc:
            await context.abort(grpc_status(exc), str(exc))
        details = served.body.get("details") or {}
        return gateway_pb2.GenerateResponse(
            response_id=served.route.response_id,
            generated_text=served.body.get("generated_text", ""),
            variant=served.route.variant,
            model=served.route.model,
            generated_tokens=int(details.get("generated_tokens", 0)),
            finish_reason=str(details.get("finish_reason", "")),
        )

    async def GenerateStream(
        self, request: gateway_pb2.GenerateRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[gateway_pb2.GenerateStreamResponse]:
        await self._client_gate(context, self.gateway.policy.feedback.require_client_token_for_generation)
        if request.no_log:
            note_opt_out("1")
        try:
            async for route, event in self.gateway.generate_stream(
                request.inputs, _parameters(request.parameters), request.user_id
            ):
                token = event.get("token") or {}
                details = event.get("details") or {}
                yield gateway_pb2.GenerateStreamResponse(
                    response_id=route.response_id,
                    token_text=str(token.get("text", "")),
                    token_id=int(token.get("id", 0) or 0),
                    special=bool(token.get("special", False)),
                    generated_text=event.get("generated_text") or "",
                    variant=route.variant,
                    model=route.model,
                    finish_reason=str(details.get("finish_reason", "") or ""),
                )
        except BackendError as exc:
            await context.abort(grpc_status(exc), str(exc))

    async def SubmitFeedback(self, request: gateway_pb2.FeedbackRequest, context: grpc.aio.ServicerContext) -> Any:
        metadata = dict(context.invocation_metadata() or ())
        authorization = str(metadata.get("authorization", ""))
        if self.gateway.policy.feedback.require_client_token and self.clients.client_of(authorization) is None:
            self.gateway.desk.refuse(UNAUTHENTICATED)
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "a client token is required (authorization: Bearer)")
        fb = FeedbackInput(
            response_id=request.response_id,
            rating=request.rating,
            advice_accepted=request.advice_accepted,
            text=request.text,
            positive_outcome=request.positive_outcome if request.HasField("positive_outcome") else None,
            action_taken=request.action_taken if request.HasField("action_taken") else None,
            user_id=str(metadata.get("x-crucible-user", "")),
        )
        try:
            verdict = await self.gateway.desk.submit(
                fb, self.clients.caller(authorization, peer_address(context.peer()))
            )
        except ValueError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        if verdict.reason == RATE_LIMITED:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "feedback rate limit: try again later")
        return gateway_pb2.FeedbackResponse(accepted=verdict.accepted, reason=verdict.reason)

    async def GetRollout(self, request: gateway_pb2.GetRolloutRequest, context: grpc.aio.ServicerContext) -> Any:
        return status_message(await self.rollout.status())

    async def StartRollout(self, request: gateway_pb2.StartRolloutRequest, context: grpc.aio.ServicerContext) -> Any:
        await self._require_admin(context)
        if not request.candidate_model:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "candidate_model is required")
        try:
            await self.rollout.start_for_model(
                request.candidate_model, request.candidate_url, reason=f"started by an admin: {request.candidate_model}"
            )
        except (st.TransitionError, LookupError, ValueError) as exc:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        return status_message(await self.rollout.status())

    async def _admin_action(self, action: str, reason: str, context: grpc.aio.ServicerContext) -> Any:
        await self._require_admin(context)
        try:
            await self.rollout.admin_action(action, reason or f"{action} by an admin")
        except st.TransitionError as exc:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        return status_message(await self.rollout.status())

    async def Promote(self, request: gateway_pb2.PromoteRequest, context: grpc.aio.ServicerContext) -> Any:
        return await self._admin_action("promote", request.reason, context)

    async def Abort(self, request: gateway_pb2.AbortRequest, context: grpc.aio.ServicerContext) -> Any:
        return await self._admin_action("abort", request.reason, context)


async def start_grpc_server(
    router: Router,
    rollout: RolloutController,
    *,
    host: str,
    port: int,
    admin_token: str | None,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
    clients: ClientAuth | None = None,
) -> tuple[grpc.aio.Server, int]:
    """Start the server; returns it and the bound port (port 0 picks a free one)."""
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    gateway_pb2_grpc.add_ModelGatewayServicer_to_server(
        ModelGatewayServicer(router, rollout, admin_token, clients), server
    )
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection((SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    address = f"{host}:{port}"
    if tls_cert is not None:
        if tls_key is None:
            raise ValueError("CRUCIBLE_GATEWAY_TLS_KEY is required with CRUCIBLE_GATEWAY_TLS_CERT")
        creds = grpc.ssl_server_credentials([(tls_key.read_bytes(), tls_cert.read_bytes())])
        bound = server.add_secure_port(address, creds)
    else:
        bound = server.add_insecure_port(address)
    await server.start()
    for name in ("", SERVICE_NAME):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info("gRPC ModelGateway on %s:%d (%s)", host, bound, "TLS" if tls_cert else "plaintext")
    return server, bound
