"""Issue 25 item 3, as an attack: callers assigned to the canary flood it with invalid parameters over
every route (TGI HTTP, streaming, the compatibility route, OpenAI chat and completions, gRPC unary and
streaming). None of it may move the canary's error rate, trigger a retry on stable, or roll back."""

from __future__ import annotations

import grpc
import httpx

from crucible.gateway.state import BackendSpec
from crucible.v1 import gateway_pb2, gateway_pb2_grpc

BAD_TGI = [
    {"inputs": "hi", "parameters": {"temperature": -1}},  # the backend's own 422
    {"inputs": "hi", "parameters": "temperature=1"},  # the gateway's 422
    {"inputs": "hi", "parameters": [1]},
    {"inputs": "hi", "parameters": {"max_new_tokens": 10**9}},
    {"inputs": "x" * 400_000},  # 413
    {"inputs": 5},
]
BAD_CHAT = [
    {"messages": [{"role": "user", "content": "hi"}], "temperature": -1},
    {"messages": [{"role": "user", "content": "hi"}], "temperature": -1, "stream": True},
    {"messages": "hi"},
    {"messages": [{"role": "user", "content": "hi"}], "max_tokens": "many"},
]


def _canary_users(stack, n: int) -> list[str]:
    return [u for u in (f"attacker-{i}" for i in range(3000)) if stack.router.route(u).variant == "canary"][:n]


def _canary_figures(stack, loop_thread) -> dict:
    loop_thread.run(stack.router.flush_figures())
    status = loop_thread.run(stack.rollout.status())
    return next(f for f in status["figures"] if f["variant"] == "canary")


def test_canary_callers_flooding_invalid_parameters_move_no_error_rate(stack, loop_thread):
    loop_thread.run(stack.rollout.start_rollout(BackendSpec("cand", stack.canary.url)))
    users = _canary_users(stack, 6)
    codes: list[int] = []
    with httpx.Client(base_url=stack.url, timeout=10) as http:
        for user in users:
            h = {"x-crucible-user": user}
            for body in BAD_TGI:
                for path in ("/generate", "/generate_stream", "/"):
                    codes.append(http.post(path, json=body, headers=h).status_code)
                codes.append(http.post("/", json={**body, "stream": True}, headers=h).status_code)
            for body in BAD_CHAT:
                codes.append(http.post("/v1/chat/completions", json={**body, "user": user}).status_code)
            for extra in ({"temperature": -1}, {"temperature": -1, "stream": True}, {"prompt": ["a", "b"]}):
                body = {"prompt": "hi", **extra, "user": user}
                codes.append(http.post("/v1/completions", json=body).status_code)
    with grpc.insecure_channel(stack.running.grpc_address) as channel:
        stub = gateway_pb2_grpc.ModelGatewayStub(channel)
        for user in users:
            for req in (
                gateway_pb2.GenerateRequest(
                    inputs="hi", user_id=user, parameters=gateway_pb2.GenerationParameters(temperature=-1)
                ),
                gateway_pb2.GenerateRequest(
                    inputs="hi", user_id=user, parameters=gateway_pb2.GenerationParameters(max_new_tokens=10**9)
                ),
                gateway_pb2.GenerateRequest(inputs="x" * 400_000, user_id=user),
            ):
                for call in (stub.Generate, lambda r: list(stub.GenerateStream(r))):
                    try:
                        call(req)
                        codes.append(200)
                    except grpc.RpcError as err:
                        assert err.code() in (
                            grpc.StatusCode.INVALID_ARGUMENT,
                            grpc.StatusCode.RESOURCE_EXHAUSTED,
                        ), err
                        codes.append(400)
    assert codes and all(400 <= c < 500 for c in codes), sorted(set(codes))
    assert stack.stable.requests == 0  # a client's error is never retried on stable
    canary = _canary_figures(stack, loop_thread)
    # Refused requests are not counted either: a flood can neither raise nor dilute the error rate.
    assert canary["requests"] == 0 and canary["errors"] == 0 and canary["error_rate"] == 0.0
    status = loop_thread.run(stack.rollout.status())
    assert status["state"] == "progressing"
