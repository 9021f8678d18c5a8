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


@pytest.mark.parametrize("params", ["temperature=1", [1, 2], {"max_new_tokens": "many"}, {"top_p": "x"}])
def test_malformed_parameters_are_422_not_500(server, params):
    with httpx.Client(base_url=server) as http:
        for path in ("/generate", "/generate_stream", "/"):
            r = http.post(path, json={"inputs": "hi", "parameters": params})
            assert r.status_code == 422 and r.json()["error_type"] == "validation", (path, r.text)


def test_prompts_longer_than_the_positions_are_refused_before_any_generation(server, tiny, monkeypatch):
    """TGI's refusal, on every route; a 5 MB prompt is judged by its head, so it costs neither a
    forward pass nor a tokenization of all of it (issue 25: it made tgi-dev try to allocate 1.8 GB)."""
    from transformers import AutoConfig

    context = AutoConfig.from_pretrained(str(tiny[0])).max_position_embeddings
    too_long = "date night ideas " * context  # ~3 tokens a repeat: well past the positions
    huge = "x y z " * (5 * 1024 * 1024 // 6)
    with httpx.Client(base_url=server, timeout=60) as http:
        for prompt in (too_long, huge):
            for path in ("/generate", "/generate_stream"):
                r = http.post(path, json={"inputs": prompt, "parameters": {"max_new_tokens": 2}})
                assert r.status_code == 422, (path, r.status_code)
                assert f"must have less than {context} tokens" in r.json()["error"]
            r = http.post("/v1/completions", json={"model": "tgi", "prompt": prompt, "max_tokens": 2})
            assert r.status_code == 400 and "tokens" in r.text
            r = http.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": prompt}]})
            assert r.status_code == 422 and "tokens" in r.text


def test_the_runner_never_runs_a_forward_pass_past_its_positions(tiny):
    from crucible.tgidev.generation import PromptTooLong

    runner = ModelRunner(tiny[0])
    calls = []
    original = runner.tokenizer.__class__.__call__

    def counting(self, text, *args, **kwargs):
        calls.append(len(text))
        return original(self, text, *args, **kwargs)

    long_text = "hello there " * (runner.max_total_tokens * 3)
    with pytest.raises(PromptTooLong):
        list(runner.generate(long_text, {"max_new_tokens": 2}))
    assert runner.prompt_tokens("x y z " * 1_000_000) >= runner.max_total_tokens
    runner.tokenizer.__class__.__call__ = counting
    try:
        runner.prompt_tokens("x y z " * 1_000_000)
    finally:
        runner.tokenizer.__class__.__call__ = original
    assert calls and max(calls) <= runner.max_total_tokens * 16  # the head only, never the 6 MB
