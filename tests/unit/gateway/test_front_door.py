"""The gateway as a faithful front door: a client's errors stay the client's, requests are checked
before any backend call, the OpenAI surface real clients use works, and one stale connection
never becomes a client's 502. Real clients: openai, huggingface_hub, text-generation, gRPC stubs."""

from __future__ import annotations

import grpc
import httpx
import pytest
from prometheus_client import REGISTRY

from crucible.gateway.fake_backend import FakeBehaviour
from crucible.gateway.state import BackendSpec
from crucible.v1 import gateway_pb2, gateway_pb2_grpc


def _server_errors() -> float:
    total = 0.0
    for metric in REGISTRY.collect():
        if metric.name == "crucible_gateway_requests":
            total += sum(s.value for s in metric.samples if s.labels.get("code", "").startswith("5"))
    return total


def _canary_users(stack, n: int) -> list[str]:
    users = [f"user-{i}" for i in range(2000)]
    return [u for u in users if stack.router.route(u).variant == "canary"][:n]


def test_a_burst_of_client_errors_on_the_canary_moves_no_error_rate(stack, loop_thread):
    loop_thread.run(stack.rollout.start_rollout(BackendSpec("cand", stack.canary.url)))
    before = _server_errors()
    users = _canary_users(stack, 40)
    with httpx.Client(base_url=stack.url) as http:
        for user in users:
            r = http.post(
                "/generate",
                json={"inputs": "hi", "parameters": {"temperature": -1}},
                headers={"x-crucible-user": user},
            )
            assert r.status_code == 422 and r.json()["error_type"] == "validation"
            assert "strictly positive" in r.json()["error"]
            assert r.headers.get("x-crucible-variant") is None
    assert stack.stable.requests == 0  # a client's error is never retried on stable
    loop_thread.run(stack.router.flush_figures())
    status = loop_thread.run(stack.rollout.status())
    canary = next(f for f in status["figures"] if f["variant"] == "canary")
    assert canary["errors"] == 0 and canary["error_rate"] == 0.0
    assert _server_errors() == before


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"inputs": "hi", "parameters": "temperature=1"}, 422, "`parameters` must be an object"),
        ({"inputs": "hi", "parameters": [1, 2]}, 422, "`parameters` must be an object"),
        ({"inputs": "hi", "parameters": {"max_new_tokens": 100000}}, 422, "between 1 and 4096"),
        ({"inputs": "hi", "parameters": {"stop": ["a", "b", "c", "d", "e"]}}, 422, "at most 4"),
        ({"inputs": "x" * 300_000}, 413, "the limit is 262144"),
        ({"inputs": ""}, 422, "non-empty string"),
    ],
)
def test_requests_are_checked_before_any_backend_call(stack, body, status, says):
    with httpx.Client(base_url=stack.url) as http:
        r = http.post("/generate", json=body)
    assert r.status_code == status and says in r.json()["error"]
    assert stack.stable.requests == 0


def test_an_oversized_body_is_413_and_never_read_whole(stack):
    with httpx.Client(base_url=stack.url) as http:
        r = http.post("/v1/chat/completions", content=b"{" + b" " * 2_000_000 + b"}")
    assert r.status_code == 413
    assert stack.stable.requests == 0


def test_a_stale_pooled_connection_is_retried_on_a_fresh_one(new_stack, loop_thread):
    stack = loop_thread.run(new_stack(stable=FakeBehaviour(delay_seconds=0, close_after_client_error=True)))
    try:
        with httpx.Client(base_url=stack.url) as http:
            for _ in range(3):
                bad = http.post("/generate", json={"inputs": "hi", "parameters": {"temperature": -1}})
                assert bad.status_code == 422
                good = http.post("/generate", json={"inputs": "hi"})
                assert good.status_code == 200, good.text
    finally:
        loop_thread.run(stack.stop())


def test_openai_client_models_chat_completions_streams_and_n(stack):
    import openai

    client = openai.OpenAI(base_url=f"{stack.url}/v1", api_key="unused", max_retries=0)
    assert [m.id for m in client.models.list().data] == ["base"]
    chat = client.chat.completions.create(
        model="any", messages=[{"role": "user", "content": [{"type": "text", "text": "hi"}]}], n=2, max_tokens=8
    )
    assert [c.index for c in chat.choices] == [0, 1]
    assert chat.choices[1].message.content == FakeBehaviour().text and chat.usage.completion_tokens == 16
    completion = client.completions.create(model="any", prompt="Once", max_tokens=8)
    assert completion.choices[0].text == FakeBehaviour().text and completion.id.startswith("none.")
    streamed = client.completions.create(model="any", prompt="Once", max_tokens=8, stream=True)
    assert "".join(c.choices[0].text for c in streamed if c.choices) == FakeBehaviour().text
    chunks = list(
        client.chat.completions.create(
            model="any",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == FakeBehaviour().text


def test_openai_client_errors_are_bad_requests_it_does_not_retry(stack):
    import openai

    client = openai.OpenAI(base_url=f"{stack.url}/v1", api_key="unused", max_retries=2)
    with pytest.raises(openai.BadRequestError, match="not supported"):
        client.chat.completions.create(
            model="any", messages=[{"role": "user", "content": "hi"}], tools=[{"type": "function", "function": {}}]
        )
    with pytest.raises(openai.BadRequestError, match="only text content parts"):
        client.chat.completions.create(
            model="any", messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]
        )
    with pytest.raises(openai.BadRequestError, match="non-negative"):  # the backend's own 400
        client.chat.completions.create(model="any", messages=[{"role": "user", "content": "hi"}], temperature=-1)
    assert stack.stable.requests == 1  # one backend call, not retried by the client or the gateway


def test_huggingface_and_text_generation_clients_get_their_validation_error(stack, monkeypatch):
    from huggingface_hub import InferenceClient, constants
    from huggingface_hub.errors import ValidationError as HubValidationError

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # offline mode refuses every URL, localhost too

    hub = InferenceClient(base_url=stack.url)
    assert hub.text_generation("hi", max_new_tokens=8) == FakeBehaviour().text
    with pytest.raises(HubValidationError):
        hub.text_generation("hi", max_new_tokens=8, temperature=-1.0)
    import text_generation
    from text_generation.errors import ValidationError as TGValidationError

    tg = text_generation.Client(stack.url)
    assert tg.generate("hi", max_new_tokens=8).generated_text == FakeBehaviour().text
    with pytest.raises(TGValidationError):
        tg.generate("hi", max_new_tokens=8, temperature=-1.0)


def test_grpc_client_errors_are_invalid_argument(stack):
    with grpc.insecure_channel(stack.running.grpc_address) as channel:
        stub = gateway_pb2_grpc.ModelGatewayStub(channel)
        with pytest.raises(grpc.RpcError) as err:
            stub.Generate(
                gateway_pb2.GenerateRequest(inputs="hi", parameters=gateway_pb2.GenerationParameters(temperature=-1))
            )
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(grpc.RpcError) as err:
            stub.Generate(gateway_pb2.GenerateRequest(inputs="x" * 300_000))
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert stub.Generate(gateway_pb2.GenerateRequest(inputs="hi")).generated_text == FakeBehaviour().text
