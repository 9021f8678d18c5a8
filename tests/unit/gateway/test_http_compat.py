"""Existing clients work unchanged against the gateway's HTTP server: huggingface_hub's
InferenceClient/AsyncInferenceClient (TGI protocol, incl. the `/` compatibility route and SSE)
and the openai client (chat, streaming)."""

import asyncio

import httpx
import openai
import pytest
from huggingface_hub import AsyncInferenceClient, InferenceClient, constants

from crucible.gateway.fake_backend import FakeBehaviour

TEXT = FakeBehaviour().text


@pytest.fixture(autouse=True)
def _hub_client_may_reach_localhost(monkeypatch):
    # The test session sets HF_HUB_OFFLINE=1 (no model hub), which also blocks the client from
    # reaching our local server; these tests talk to localhost only.
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)


def test_inference_client_text_generation(stack):
    client = InferenceClient(base_url=stack.url)
    assert client.text_generation("How do we argue less?", max_new_tokens=8) == TEXT
    out = client.text_generation("How do we argue less?", max_new_tokens=8, details=True)
    assert out.generated_text == TEXT and out.details.generated_tokens == 8
    assert out.details.finish_reason == "length"


def test_inference_client_streaming(stack):
    client = InferenceClient(base_url=stack.url)
    pieces = list(client.text_generation("hi", max_new_tokens=8, stream=True))
    assert "".join(pieces) == TEXT
    events = list(client.text_generation("hi", max_new_tokens=8, stream=True, details=True))
    assert events[-1].generated_text == TEXT and events[-1].details.finish_reason == "length"


def test_async_inference_client(stack):
    async def go():
        client = AsyncInferenceClient(base_url=stack.url)
        text = await client.text_generation("hi", max_new_tokens=8)
        pieces = [p async for p in await client.text_generation("hi", max_new_tokens=8, stream=True)]
        return text, "".join(pieces)

    assert asyncio.run(go()) == (TEXT, TEXT)


def test_inference_client_chat_completion(stack):
    client = InferenceClient(base_url=stack.url)
    out = client.chat_completion([{"role": "user", "content": "hello"}], max_tokens=8)
    assert out.choices[0].message.content == TEXT
    chunks = list(client.chat_completion([{"role": "user", "content": "hello"}], max_tokens=8, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == TEXT


def test_openai_client_chat_and_stream(stack):
    client = openai.OpenAI(base_url=stack.url + "/v1", api_key="unused")
    out = client.chat.completions.create(model="tgi", messages=[{"role": "user", "content": "hi"}], max_tokens=8)
    assert out.choices[0].message.content == TEXT
    assert out.id.count(".") == 5  # the gateway's signed response id, usable for feedback
    stream = client.chat.completions.create(
        model="tgi", messages=[{"role": "user", "content": "hi"}], max_tokens=8, stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream) == TEXT


def test_health_info_metrics_and_feedback(stack):
    with httpx.Client(base_url=stack.url) as http:
        assert http.get("/health").status_code == 200
        assert http.get("/info").json()["model_id"] == "base"
        r = http.post("/generate", json={"inputs": "hi"}, headers={"x-crucible-user": "u1"})
        assert r.status_code == 200 and r.json() == {"generated_text": TEXT}
        rid = r.headers["x-crucible-response-id"]
        assert http.post("/feedback", json={"response_id": rid, "rating": 8}).json() == {"accepted": True}
        assert http.post("/feedback", json={"response_id": rid, "rating": 11}).status_code == 422
        metrics = http.get("/metrics").text
    for name in (
        "crucible_gateway_requests_total",
        "crucible_gateway_request_duration_seconds",
        "crucible_gateway_time_to_first_token_seconds",
        "crucible_gateway_generated_tokens_total",
        "crucible_gateway_feedback_score",
        "crucible_rollout_weight",
        "crucible_rollout_state",
    ):
        assert name in metrics
    assert "u1" not in metrics  # no user ids in labels


def test_max_new_tokens_is_always_sent(stack):
    with httpx.Client(base_url=stack.url) as http:
        http.post("/generate", json={"inputs": "hi", "parameters": {}})
    assert stack.stable.last_parameters["max_new_tokens"] == 256


def test_backend_down_is_a_clean_tgi_error(stack, loop_thread):
    loop_thread.run(stack.stable.stop())
    with httpx.Client(base_url=stack.url) as http:
        r = http.post("/generate", json={"inputs": "hi"})
        assert r.status_code == 503 and r.json()["error_type"] == "unavailable"
        assert "is unreachable" in r.json()["error"] and "aiohttp" not in r.json()["error"]
        assert http.get("/health").status_code == 503
