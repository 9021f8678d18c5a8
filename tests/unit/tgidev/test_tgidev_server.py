"""tgi-dev for real: a tiny Llama (+ LoRA adapter) served over TGI's protocol on CPU, called
with the huggingface_hub and openai clients."""

import asyncio
import threading

import httpx
import openai
import pytest
from huggingface_hub import InferenceClient, constants

from crucible.tgidev.generation import Finished, ModelRunner


@pytest.fixture(scope="module")
def tiny(tiny_base_model, tiny_adapter):
    return tiny_base_model, tiny_adapter


@pytest.fixture(scope="module")
def server(tiny):
    import uvicorn

    from crucible.tgidev.server import build_app

    app = build_app(tiny[0])
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    srv = uvicorn.Server(config)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(srv.serve(),), daemon=True)
    thread.start()
    while not srv.started:
        threading.Event().wait(0.05)
    port = srv.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


@pytest.fixture(autouse=True)
def _hub_client_may_reach_localhost(monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)


def test_generate_with_details(server):
    client = InferenceClient(base_url=server)
    out = client.text_generation("Plan a date night", max_new_tokens=6, details=True)
    assert out.details.generated_tokens <= 6 and out.details.finish_reason in ("length", "eos_token")
    assert len(out.details.tokens) == out.details.generated_tokens
    assert out.generated_text == client.text_generation("Plan a date night", max_new_tokens=6)  # greedy


def test_stream_matches_generate(server):
    client = InferenceClient(base_url=server)
    events = list(client.text_generation("Plan a date night", max_new_tokens=6, stream=True, details=True))
    final = events[-1]
    assert final.generated_text == client.text_generation("Plan a date night", max_new_tokens=6)
    assert final.details.generated_tokens == len(events)


def test_sampling_is_reproducible_with_a_seed(server):
    client = InferenceClient(base_url=server)
    kwargs = {"max_new_tokens": 8, "do_sample": True, "temperature": 1.5, "seed": 7}
    assert client.text_generation("hi", **kwargs) == client.text_generation("hi", **kwargs)


def test_openai_chat_and_stream(server):
    client = openai.OpenAI(base_url=server + "/v1", api_key="unused")
    out = client.chat.completions.create(model="tgi", messages=[{"role": "user", "content": "hi"}], max_tokens=5)
    assert out.usage.completion_tokens <= 5 and out.choices[0].finish_reason in ("length", "stop")
    stream = client.chat.completions.create(
        model="tgi", messages=[{"role": "user", "content": "hi"}], max_tokens=5, stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream) == out.choices[0].message.content


def test_validation_errors_are_tgi_shaped(server, tiny):
    from transformers import AutoConfig

    context = AutoConfig.from_pretrained(str(tiny[0])).max_position_embeddings
    with httpx.Client(base_url=server) as http:
        r = http.post("/generate", json={"inputs": "hi", "parameters": {"stop": ["a", "b", "c", "d", "e"]}})
        assert r.status_code == 422 and r.json()["error_type"] == "validation"
        r = http.post("/generate", json={"inputs": "hi", "parameters": {"adapter_id": "nope"}})
        assert r.status_code == 422 and "not loaded" in r.json()["error"]
        assert http.get("/health").status_code == 200
        info = http.get("/info").json()
        assert info["max_total_tokens"] == context and info["max_stop_sequences"] == 4
        assert "crucible_tgidev_requests_total" in http.get("/metrics").text


def test_adapter_changes_the_model(tiny):
    base, adapter = tiny
    plain = list(ModelRunner(base).generate("Plan a date night", {"max_new_tokens": 8}))[-1]
    tuned = list(ModelRunner(base, adapter).generate("Plan a date night", {"max_new_tokens": 8}))[-1]
    assert isinstance(plain, Finished) and isinstance(tuned, Finished)
    assert plain.generated_text != tuned.generated_text


def test_stop_sequence_ends_generation(tiny):
    runner = ModelRunner(tiny[0])
    free = list(runner.generate("Plan a date night", {"max_new_tokens": 8}))[-1]
    first_word = free.generated_text.split()[0] if free.generated_text.split() else ""
    if not first_word:
        pytest.skip("the random tiny model produced no word to stop on")
    stopped = list(runner.generate("Plan a date night", {"max_new_tokens": 8, "stop": [first_word]}))[-1]
    assert stopped.finish_reason == "stop_sequence" and stopped.generated_text.endswith(first_word)
