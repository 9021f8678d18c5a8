"""`python -m crucible.tgidev` as its own process, configured the way a deployment configures it:
start-up adapters from TGI's `LORA_ADAPTERS`, vLLM's `--max-lora-rank`, runtime loading on by
default; a start-up adapter that fails its checks stops the server with the reason."""

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env_without(name: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != name}


def _start(args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "crucible.tgidev", *args, "--port", str(port)],
        env={**_env_without("VLLM_ALLOW_RUNTIME_LORA_UPDATING"), "OMP_NUM_THREADS": "1", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    return proc, f"http://127.0.0.1:{port}"


def _wait_healthy(proc: subprocess.Popen, url: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"tgi-dev exited {proc.returncode}: {proc.stdout.read().decode()[-2000:]}")
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    pytest.fail("tgi-dev did not become healthy")


def test_lora_adapters_from_the_environment_and_runtime_loading(tiny_base_model, random_adapter):
    started, later = random_adapter(2), random_adapter(4)
    proc, url = _start(
        ["--model", str(tiny_base_model), "--max-lora-rank", "4"],
        {"LORA_ADAPTERS": f"started={started}"},
    )
    try:
        _wait_healthy(proc, url)
        with httpx.Client(base_url=url, timeout=60) as http:
            assert [c["id"] for c in http.get("/v1/models").json()["data"]][1:] == ["started"]
            r = http.post("/v1/load_lora_adapter", json={"lora_name": "later", "lora_path": str(later)})
            assert r.status_code == 200, r.text
            body = {"prompt": "Plan a date night", "max_tokens": 8, "temperature": 0}
            texts = {m: http.post("/v1/completions", json={**body, "model": m}).json() for m in ("started", "later")}
            assert texts["started"]["choices"][0]["text"] != texts["later"]["choices"][0]["text"]
            params = {"adapter_id": "later", "max_new_tokens": 8}
            tgi = http.post("/generate", json={"inputs": body["prompt"], "parameters": params})
            assert tgi.json()["generated_text"] == texts["later"]["choices"][0]["text"]
    finally:
        proc.terminate()
        proc.wait(10)


def test_a_start_up_adapter_above_the_rank_limit_stops_the_server(tiny_base_model, random_adapter):
    adapter = random_adapter(2)  # rank 4
    proc, _ = _start(["--model", str(tiny_base_model), "--max-lora-rank", "2", "--lora-adapters", f"x={adapter}"], {})
    out, _ = proc.communicate(timeout=180)
    assert proc.returncode != 0
    assert "LoRA rank 4 is greater than max_lora_rank 2" in out.decode()
