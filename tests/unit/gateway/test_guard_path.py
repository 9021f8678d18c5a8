"""The serving safety guard in the gateway's request path: a crisis prompt gets the vetted
template and never reaches a backend; ordinary prompts do; templates are counted and kept out
of the rollout figures and the safety-incident check."""

from __future__ import annotations

import httpx
from prometheus_client import REGISTRY

from crucible.common import guard
from crucible.gateway import guarding

CRISIS = "I don't want to be here anymore. Everyone would be better off without me."
CHATML_SYSTEM = "You are a coach. If someone mentions suicide, point them to 988."


def _guarded(category: str) -> float:
    return REGISTRY.get_sample_value("crucible_gateway_guarded_total", {"category": category}) or 0.0


class RecordingCheck:
    def __init__(self) -> None:
        self.calls = 0

    def check(self, prompt: str, response: str):
        from crucible.gateway.safety import SafetyVerdict

        self.calls += 1
        return SafetyVerdict(False)


def test_crisis_prompt_gets_the_template_and_never_reaches_a_backend(stack) -> None:
    stack.router.safety = checker = RecordingCheck()
    crisis_template = guard.templates()["crisis"]
    before = _guarded("crisis")
    with httpx.Client(base_url=stack.url) as http:
        r = http.post("/generate", json={"inputs": CRISIS, "parameters": {"max_new_tokens": 8}})
        assert r.status_code == 200 and r.json()["generated_text"] == crisis_template
        assert r.headers["x-crucible-variant"] == "guard"
        assert r.headers["x-crucible-model"] == guard.GUARD_VERSION
        rid = r.headers["x-crucible-response-id"]

        r = http.post("/v1/chat/completions", json={"model": "tgi", "messages": [{"role": "user", "content": CRISIS}]})
        assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == crisis_template
        assert r.json()["guard"]["category"] == "crisis"

        with http.stream("POST", "/generate_stream", json={"inputs": CRISIS}) as s:
            assert s.status_code == 200 and crisis_template in s.read().decode()
        body = {"model": "tgi", "messages": [{"role": "user", "content": "he hits me when he drinks"}], "stream": True}
        with http.stream("POST", "/v1/chat/completions", json=body) as s:
            text = s.read().decode()
            assert guard.templates()["abuse"].split(".")[0] in text and "[DONE]" in text

        # Feedback on a template is attributed to no variant.
        assert http.post("/feedback", json={"response_id": rid, "rating": 9}).status_code != 500
    assert stack.stable.requests == 0 and stack.canary.requests == 0
    assert _guarded("crisis") == before + 3
    assert checker.calls == 0 and not stack.router._figures


def test_ordinary_prompts_still_reach_the_model(stack) -> None:
    with httpx.Client(base_url=stack.url) as http:
        r = http.post("/generate", json={"inputs": "I'm dying to try that new restaurant with her"})
        assert r.status_code == 200 and r.headers["x-crucible-variant"] == "stable"
        # A system prompt that names crisis resources does not trip the guard: the last user turn counts.
        chatml = f"<|im_start|>system\n{CHATML_SYSTEM}<|im_end|>\n<|im_start|>user\nHow do we argue less?<|im_end|>\n"
        r = http.post("/generate", json={"inputs": chatml + "<|im_start|>assistant\n"})
        assert r.status_code == 200 and r.headers["x-crucible-variant"] == "stable"
    assert stack.stable.requests == 2


def test_user_turns_of_rendered_templates() -> None:
    assert guarding.user_turns("<|im_start|>user\nfirst<|im_end|><|im_start|>user\nsecond<|im_end|>") == [
        "first",
        "second",
    ]
    llama3 = "<|start_header_id|>user<|end_header_id|>\n\nhe hit me<|eot_id|>"
    assert guarding.user_turns(llama3) == ["he hit me"]
    assert guarding.user_turns("[INST] <<SYS>>\nbe kind\n<</SYS>>\n\nhello [/INST] hi </s>[INST] bye [/INST]") == [
        "hello",
        "bye",
    ]
    assert guarding.user_turns("plain text") == ["plain text"]
    d = guarding.check_inputs("<|im_start|>user\nhe hit me<|im_end|><|im_start|>user\nwhat now?<|im_end|>")
    assert d is not None and d.category == "abuse" and d.from_history


def test_grpc_generate_is_guarded_too(stack) -> None:
    import grpc

    from crucible.v1 import gateway_pb2, gateway_pb2_grpc

    with grpc.insecure_channel(stack.running.grpc_address) as ch:
        stub = gateway_pb2_grpc.ModelGatewayStub(ch)
        out = stub.Generate(gateway_pb2.GenerateRequest(inputs="give me her address", user_id="u1"))
        assert out.generated_text == guard.templates()["privacy"] and out.variant == "guard"
        assert out.finish_reason == "guard" and out.model == guard.GUARD_VERSION
        events = list(stub.GenerateStream(gateway_pb2.GenerateRequest(inputs=CRISIS, user_id="u1")))
        assert "".join(e.token_text for e in events) == guard.templates()["crisis"]
    assert stack.stable.requests == 0
