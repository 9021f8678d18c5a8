"""tgi-dev serving many LoRA adapters on one base, for real: a tiny Llama on CPU behind a uvicorn
server on a free port, adapters loaded and unloaded through vLLM's runtime API, picked per request by
OpenAI's `model` and TGI's `adapter_id`, and every kind of bad adapter refused while the rest serve."""

import asyncio
import json
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest

from crucible.tgidev.adapters import parse_lora_adapters, same_base
from crucible.tgidev.generation import ModelRunner
from crucible.tgidev.openai_api import runtime_lora_updating_allowed

PROMPT = "Plan a date night"


class Server:
    def __init__(self, app) -> None:
        import uvicorn

        self.srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
        loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=loop.run_until_complete, args=(self.srv.serve(),), daemon=True)
        self.thread.start()
        while not self.srv.started:
            threading.Event().wait(0.05)
        self.url = f"http://127.0.0.1:{self.srv.servers[0].sockets[0].getsockname()[1]}"

    def stop(self) -> None:
        self.srv.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def adapters(random_adapter, tmp_path_factory):
    root = tmp_path_factory.mktemp("lora")
    return {"a": random_adapter(1), "b": random_adapter(3), "startup": random_adapter(5), "root": root}


@pytest.fixture(scope="module")
def server(tiny_base_model, adapters):
    from crucible.tgidev.server import ServeOptions, build_app

    options = ServeOptions(lora_adapters=f"startup={adapters['startup']}", max_lora_rank=16)
    srv = Server(build_app(tiny_base_model, options=options))
    yield srv.url
    srv.stop()


def complete(http: httpx.Client, model: str | None, prompt: str = PROMPT, **extra) -> httpx.Response:
    body = {"prompt": prompt, "max_tokens": 8, "temperature": 0, **extra}
    if model is not None:
        body["model"] = model
    return http.post("/v1/completions", json=body)


def text_of(http: httpx.Client, model: str | None) -> str:
    r = complete(http, model)
    assert r.status_code == 200, r.text
    return r.json()["choices"][0]["text"]


def load(http: httpx.Client, name: str, path) -> httpx.Response:
    return http.post("/v1/load_lora_adapter", json={"lora_name": name, "lora_path": str(path)})


def assert_vllm_error(r: httpx.Response, status: int, error_type: str, words: str) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error"] == {"message": body["message"], "type": error_type, "param": body["param"], "code": status}
    assert body["object"] == "error" and words in body["message"]


def test_load_serves_the_adapter_by_name_and_unload_takes_it_away(server, adapters, tiny_base_model):
    with httpx.Client(base_url=server, timeout=60) as http:
        base = text_of(http, None)
        r = load(http, "a", adapters["a"])
        assert r.status_code == 200 and r.text == "Success: LoRA adapter 'a' added successfully."
        tuned = text_of(http, "a")
        assert tuned != base
        assert text_of(http, str(tiny_base_model)) == base == text_of(http, "tgi")  # the base by id and alias

        cards = {c["id"]: c for c in http.get("/v1/models").json()["data"]}
        assert cards[str(tiny_base_model)]["parent"] is None and cards[str(tiny_base_model)]["max_model_len"]
        assert cards["a"]["parent"] == str(tiny_base_model) and cards["a"]["root"] == str(adapters["a"])
        assert cards["startup"]["object"] == "model"  # from --lora-adapters at start
        assert "crucible_tgidev_lora_adapters 2.0" in http.get("/metrics").text

        r = http.post("/v1/unload_lora_adapter", json={"lora_name": "a"})
        assert r.status_code == 200 and r.text == "Success: LoRA adapter 'a' removed successfully."
        assert_vllm_error(complete(http, "a"), 404, "NotFoundError", "The model `a` does not exist.")
        assert complete(http, "a").json()["param"] == "model"
        assert "a" not in {c["id"] for c in http.get("/v1/models").json()["data"]}
        again = http.post("/v1/unload_lora_adapter", json={"lora_name": "a"})
        assert_vllm_error(again, 404, "NotFoundError", "The lora adapter 'a' cannot be found.")
        assert text_of(http, None) == base


def test_tgi_adapter_id_routes_like_openai_model(server, adapters):
    with httpx.Client(base_url=server, timeout=60) as http:
        assert load(http, "b", adapters["b"]).status_code == 200
        try:
            for name in ("b", "startup", None):
                params = {"max_new_tokens": 8, "adapter_id": name}
                tgi = http.post("/generate", json={"inputs": PROMPT, "parameters": params}).json()["generated_text"]
                assert tgi == text_of(http, name)
            assert text_of(http, "b") != text_of(http, "startup")
            r = http.post("/generate", json={"inputs": PROMPT, "parameters": {"adapter_id": "nope"}})
            assert r.status_code == 422 and "not loaded" in r.json()["error"] and r.json()["error_type"] == "validation"
            chat = {"model": "nope", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
            assert_vllm_error(http.post("/v1/chat/completions", json=chat), 404, "NotFoundError", "`nope`")
        finally:
            http.post("/v1/unload_lora_adapter", json={"lora_name": "b"})


def _write_adapter_variant(src: Path, dst: Path, *, config: dict | None = None, weights: bytes | None = None) -> Path:
    shutil.copytree(src, dst)
    if config is not None:
        path = dst / "adapter_config.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), **config}))
    if weights is not None:
        (dst / "adapter_model.safetensors").write_bytes(weights)
    return dst


def _bad_adapters(adapters, tiny_base_model) -> dict[str, tuple[Path, int, str, str]]:
    """name -> (path, status, vLLM error type, words in the message)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from safetensors.torch import load_file, save_file
    from transformers import AutoModelForCausalLM

    root, good = adapters["root"], adapters["a"]
    whole = (good / "adapter_model.safetensors").read_bytes()
    tensors = load_file(good / "adapter_model.safetensors")
    wrong_shapes = {k: torch.zeros(v.shape[0] + 1, v.shape[1]) for k, v in tensors.items()}
    shapes_dir = _write_adapter_variant(good, root / "shapes")
    save_file(wrong_shapes, shapes_dir / "adapter_model.safetensors")
    wide = get_peft_model(
        AutoModelForCausalLM.from_pretrained(str(tiny_base_model)),
        LoraConfig(r=32, lora_alpha=8, target_modules=["q_proj", "v_proj"]),
    )
    wide.save_pretrained(root / "rank32")
    return {
        "other-base": (
            _write_adapter_variant(good, root / "other-base", config={"base_model_name_or_path": "/models/other-llm"}),
            400,
            "BadRequestError",
            "trained on base '/models/other-llm'",
        ),
        "missing": (root / "no-such-adapter", 404, "NotFoundError", "No adapter found for"),
        "truncated": (
            _write_adapter_variant(good, root / "truncated", weights=whole[: len(whole) // 2]),
            400,
            "BadRequestError",
            "unreadable",
        ),
        "garbage": (
            _write_adapter_variant(good, root / "garbage", weights=b"\x00" * 64),
            400,
            "BadRequestError",
            "unreadable",
        ),
        "rank": (root / "rank32", 400, "BadRequestError", "LoRA rank 32 is greater than max_lora_rank 16"),
        "shapes": (shapes_dir, 400, "BadRequestError", "does not fit"),
        "duplicate": (adapters["b"], 400, "InvalidUserInput", "has already been loaded"),
    }


def test_bad_adapters_are_refused_and_what_serves_keeps_answering(server, adapters, tiny_base_model):
    bad = _bad_adapters(adapters, tiny_base_model)
    with httpx.Client(base_url=server, timeout=60) as http:
        assert load(http, "c", adapters["b"]).status_code == 200
        try:
            before = {m: text_of(http, m) for m in (None, "c", "startup")}
            models_before = sorted(c["id"] for c in http.get("/v1/models").json()["data"])
            for case, (path, status, error_type, words) in bad.items():
                name = "c" if case == "duplicate" else case
                assert_vllm_error(load(http, name, path), status, error_type, words)
                assert {m: text_of(http, m) for m in before} == before, case
                assert sorted(c["id"] for c in http.get("/v1/models").json()["data"]) == models_before, case
            missing_field = http.post("/v1/load_lora_adapter", json={"lora_name": "x"})
            assert_vllm_error(missing_field, 400, "InvalidUserInput", "Both 'lora_name' and 'lora_path'")
            assert "crucible_tgidev_lora_operations_total" in http.get("/metrics").text
        finally:
            http.post("/v1/unload_lora_adapter", json={"lora_name": "c"})


def test_concurrent_requests_to_two_adapters_each_get_their_own(server, adapters):
    with httpx.Client(base_url=server, timeout=120) as http:
        for name in ("a", "b"):
            assert load(http, name, adapters[name]).status_code == 200
        try:
            expected = {m: text_of(http, m) for m in ("a", "b", None)}
            order = ["a", "b", None] * 4

            def ask(model):
                with httpx.Client(base_url=server, timeout=120) as own:
                    return model, text_of(own, model)

            with ThreadPoolExecutor(6) as pool:
                answers = list(pool.map(ask, order))
            assert all(text == expected[model] for model, text in answers)
        finally:
            for name in ("a", "b"):
                http.post("/v1/unload_lora_adapter", json={"lora_name": name})


def test_completions_follow_openai_and_vllm(server, adapters):
    client = openai.OpenAI(base_url=server + "/v1", api_key="unused")
    with httpx.Client(base_url=server, timeout=60) as http:
        assert load(http, "a", adapters["a"]).status_code == 200
    try:
        out = client.completions.create(model="a", prompt=PROMPT, max_tokens=6, temperature=0)
        assert out.object == "text_completion" and out.model == "a"
        usage = out.usage
        assert usage.completion_tokens <= 6 and usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
        chunks = list(
            client.completions.create(
                model="a",
                prompt=PROMPT,
                max_tokens=6,
                temperature=0,
                stream=True,
                stream_options={"include_usage": True},
            )
        )
        assert "".join(c.choices[0].text for c in chunks if c.choices) == out.choices[0].text
        assert chunks[-1].usage.completion_tokens == out.usage.completion_tokens
        assert chunks[-2].choices[0].finish_reason == out.choices[0].finish_reason
        two = client.completions.create(model="a", prompt=[PROMPT, "hi"], max_tokens=4, temperature=0)
        assert [c.index for c in two.choices] == [0, 1]
        with pytest.raises(openai.NotFoundError):
            client.completions.create(model="nope", prompt=PROMPT, max_tokens=2)
        with pytest.raises(openai.BadRequestError):
            client.completions.create(model="a", prompt=PROMPT, max_tokens=0)
        with httpx.Client(base_url=server, timeout=60) as http:
            assert_vllm_error(complete(http, "a", temperature="hot"), 400, "BadRequestError", "hot")
    finally:
        with httpx.Client(base_url=server, timeout=60) as http:
            http.post("/v1/unload_lora_adapter", json={"lora_name": "a"})


def test_stop_string_is_cut_and_reported_like_vllm(server):
    with httpx.Client(base_url=server, timeout=60) as http:
        # The random tiny base may say almost nothing; the start-up adapter says more.
        model, free = max(((m, text_of(http, m)) for m in (None, "startup")), key=lambda mt: len(mt[1]))
        assert len(free) >= 3, free
        stop = free[1:3]
        choice = complete(http, model, stop=[stop]).json()["choices"][0]
        assert choice["finish_reason"] == "stop" and choice["stop_reason"] == stop
        assert choice["text"] == free[: free.index(stop)]
        lines = [
            json.loads(line[6:])
            for line in complete(http, model, stop=[stop], stream=True).text.splitlines()
            if line.startswith("data: {")
        ]
        assert "".join(c["choices"][0]["text"] for c in lines) == choice["text"]


def test_runtime_updates_can_be_switched_off(tiny_base_model):
    from crucible.tgidev.app import create_app

    srv = Server(create_app(ModelRunner(tiny_base_model), runtime_lora_updating=False))
    try:
        with httpx.Client(base_url=srv.url) as http:
            assert http.post("/v1/load_lora_adapter", json={"lora_name": "a", "lora_path": "/x"}).status_code == 404
            assert len(http.get("/v1/models").json()["data"]) == 1
    finally:
        srv.stop()
    assert all(runtime_lora_updating_allowed(v) for v in (None, "", "True", "1"))
    assert not runtime_lora_updating_allowed("0") and not runtime_lora_updating_allowed("false")


def test_more_adapters_than_slots_reload_on_use(tiny_base_model, adapters):
    runner = ModelRunner(tiny_base_model, max_loras=1)

    def answer(name):
        return list(runner.generate(PROMPT, {"max_new_tokens": 8}, name))[-1].generated_text

    base = answer(None)
    runner.adapters.load("a", adapters["a"])
    a = answer("a")
    runner.adapters.load("b", adapters["b"])
    assert runner.adapters.resident() == ["b"] and runner.adapters.names() == ["a", "b"]
    b = answer("b")
    assert [answer("a"), answer("b"), answer(None)] == [a, b, base] and a != b
    runner.adapters.unload("a")
    runner.adapters.unload("b")
    assert runner.model is runner.adapters.base_model and answer(None) == base


def test_load_inplace_replaces_and_a_failed_replace_keeps_the_old(tiny_base_model, adapters):
    runner = ModelRunner(tiny_base_model)

    def answer(name):
        return list(runner.generate(PROMPT, {"max_new_tokens": 8}, name))[-1].generated_text

    runner.adapters.load("m", adapters["a"])
    a = answer("m")
    runner.adapters.load("m", adapters["b"], inplace=True)
    b = answer("m")
    assert a != b
    with pytest.raises(ValueError, match="No adapter found"):
        runner.adapters.load("m", adapters["root"] / "absent", inplace=True)
    assert answer("m") == b


def test_startup_adapter_that_fails_its_checks_stops_the_start(tiny_base_model, adapters):
    from crucible.tgidev.server import ServeOptions, build_app

    with pytest.raises(ValueError, match="LoRA adapter 'x'"):
        build_app(tiny_base_model, options=ServeOptions(lora_adapters=f"x={adapters['root'] / 'absent'}"))


def test_lora_adapters_syntax_and_base_rule():
    assert parse_lora_adapters("a=/p/a, /data/b ,") == [("a", "/p/a"), ("/data/b", "/data/b")]
    with pytest.raises(ValueError, match="given twice"):
        parse_lora_adapters("a=/x,a=/y")
    with pytest.raises(ValueError, match="bad adapter entry"):
        parse_lora_adapters("=/x")
    served = ["/home/u/.crucible/models/tiny-base", "tiny-base"]
    assert same_base("/other/machine/tiny-base/", served) and same_base("org/tiny-base", served)
    assert not same_base("org/other-model", served) and not same_base("", served)


def test_a_request_queued_behind_an_unload_is_told_the_model_is_gone(tiny_base_model, adapters):
    from crucible.tgidev.app import create_app

    runner = ModelRunner(tiny_base_model)
    runner.adapters.load("a", adapters["a"])
    srv = Server(create_app(runner))
    try:
        with ThreadPoolExecutor(2) as pool, runner.lock:  # a generation in progress holds the lock
            openai_call = pool.submit(lambda: complete(httpx.Client(base_url=srv.url, timeout=60), "a"))
            tgi_call = pool.submit(
                httpx.post, srv.url + "/generate", json={"inputs": PROMPT, "parameters": {"adapter_id": "a"}}
            )
            threading.Event().wait(0.5)  # both checked "a" and wait for the lock
            del runner.adapters.registered["a"]  # what unload does once it has the lock
        assert_vllm_error(openai_call.result(), 404, "NotFoundError", "`a`")
        assert tgi_call.result().status_code == 422 and "not loaded" in tgi_call.result().json()["error"]
    finally:
        srv.stop()


def test_an_adapter_may_not_take_the_base_models_name(tiny_base_model, adapters):
    runner = ModelRunner(tiny_base_model)
    for name in ("tgi", str(tiny_base_model)):
        with pytest.raises(ValueError, match="names the base model"):
            runner.adapters.load(name, adapters["a"])
