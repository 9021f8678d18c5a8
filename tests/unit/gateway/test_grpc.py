"""gRPC ModelGateway with a real grpc client: generation, streaming, feedback, status, health,
reflection, and admin RPCs that refuse a missing or wrong bearer token."""

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from crucible.gateway.fake_backend import FakeBehaviour
from crucible.v1 import gateway_pb2, gateway_pb2_grpc

ADMIN_TOKEN = "test-admin-token"  # as configured by the `stack` fixture

TEXT = FakeBehaviour().text


@pytest.fixture
def channel(stack):
    with grpc.insecure_channel(stack.running.grpc_address) as ch:
        yield ch


def test_generate_stream_and_feedback(stack, channel):
    stub = gateway_pb2_grpc.ModelGatewayStub(channel)
    req = gateway_pb2.GenerateRequest(
        inputs="hi", user_id="u1", parameters=gateway_pb2.GenerationParameters(max_new_tokens=8)
    )
    out = stub.Generate(req)
    assert out.generated_text == TEXT and out.variant == "stable" and out.model == "base"
    assert out.generated_tokens == 8 and out.finish_reason == "length"
    parts = list(stub.GenerateStream(req))
    assert "".join(p.token_text for p in parts) == TEXT
    assert parts[-1].generated_text == TEXT and parts[-1].finish_reason == "length"
    assert stub.SubmitFeedback(gateway_pb2.FeedbackRequest(response_id=out.response_id, rating=9)).accepted
    with pytest.raises(grpc.RpcError) as err:
        stub.SubmitFeedback(gateway_pb2.FeedbackRequest(response_id=out.response_id, rating=0))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert stub.GetRollout(gateway_pb2.GetRolloutRequest()).state == "idle"


def test_health_and_reflection(stack, channel):
    health = health_pb2_grpc.HealthStub(channel)
    resp = health.Check(health_pb2.HealthCheckRequest(service="crucible.v1.ModelGateway"))
    assert resp.status == health_pb2.HealthCheckResponse.SERVING
    refl = reflection_pb2_grpc.ServerReflectionStub(channel)
    answers = list(refl.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")])))
    names = {s.name for s in answers[0].list_services_response.service}
    assert "crucible.v1.ModelGateway" in names and "grpc.health.v1.Health" in names


@pytest.mark.parametrize(
    "metadata, code",
    [
        ((), grpc.StatusCode.UNAUTHENTICATED),
        ((("authorization", "Bearer wrong"),), grpc.StatusCode.PERMISSION_DENIED),
        ((("authorization", ADMIN_TOKEN),), grpc.StatusCode.UNAUTHENTICATED),
    ],
)
def test_admin_rpcs_refuse_missing_or_wrong_token(stack, channel, metadata, code):
    stub = gateway_pb2_grpc.ModelGatewayStub(channel)
    for call, req in (
        (stub.StartRollout, gateway_pb2.StartRolloutRequest(candidate_model="cand")),
        (stub.Promote, gateway_pb2.PromoteRequest()),
        (stub.Abort, gateway_pb2.AbortRequest()),
    ):
        with pytest.raises(grpc.RpcError) as err:
            call(req, metadata=metadata)
        assert err.value.code() == code
    assert stub.GetRollout(gateway_pb2.GetRolloutRequest()).state == "idle"


def test_admin_rpcs_with_the_token(stack, channel):
    stub = gateway_pb2_grpc.ModelGatewayStub(channel)
    auth = (("authorization", f"Bearer {ADMIN_TOKEN}"),)
    status = stub.StartRollout(gateway_pb2.StartRolloutRequest(candidate_model="cand"), metadata=auth)
    assert status.state == "progressing" and status.canary_weight == 10 and status.candidate_model == "cand"
    status = stub.Promote(gateway_pb2.PromoteRequest(reason="looks fine"), metadata=auth)
    assert status.stage_index == 1 and status.canary_weight == 25
    status = stub.Abort(gateway_pb2.AbortRequest(reason="enough"), metadata=auth)
    assert status.state == "aborted" and status.canary_weight == 0
    assert [d.action for d in status.decisions] == ["start", "promote", "abort"]
    with pytest.raises(grpc.RpcError) as err:
        stub.Abort(gateway_pb2.AbortRequest(), metadata=auth)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
