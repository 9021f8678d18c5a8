"""Backend clients: a TGI endpoint, or an OpenAI-compatible one (vLLM, SGLang). Swappable.

Both speak to the gateway in TGI's shapes: `generate` returns `{"generated_text", "details"}`,
`generate_stream` yields TGI stream events (`{"token": {...}, "generated_text": ..., "details": ...}`);
chat and completion requests are passed through to the backend's own OpenAI routes. The HTTP
transport and the meaning of its failures (`BackendError`) are in `transport.py`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

from crucible.gateway.state import BackendSpec
from crucible.gateway.transport import HttpClient, get_ok, post_json, post_sse

# Parameters TGI's /generate accepts; anything else a client sends is dropped, not forwarded.
TGI_PARAMETERS = frozenset(
    {
        "adapter_id",
        "best_of",
        "decoder_input_details",
        "details",
        "do_sample",
        "frequency_penalty",
        "grammar",
        "max_new_tokens",
        "repetition_penalty",
        "return_full_text",
        "seed",
        "stop",
        "temperature",
        "top_k",
        "top_n_tokens",
        "top_p",
        "truncate",
        "typical_p",
        "watermark",
    }
)


class Backend(Protocol):
    spec: BackendSpec

    async def generate(self, inputs: str, parameters: dict[str, Any]) -> dict[str, Any]: ...

    def generate_stream(self, inputs: str, parameters: dict[str, Any]) -> AsyncIterator[dict[str, Any]]: ...

    async def chat(self, body: dict[str, Any]) -> dict[str, Any]: ...

    def chat_stream(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]: ...

    async def complete(self, body: dict[str, Any]) -> dict[str, Any]: ...

    def complete_stream(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]: ...

    async def health(self) -> bool: ...


class TGIBackend:
    """Text Generation Inference (or tgi-dev): /generate, /generate_stream, /v1/chat/completions."""

    def __init__(self, spec: BackendSpec, client: HttpClient) -> None:
        self.spec = spec
        self.client = client
        self.base = spec.url.rstrip("/")

    def _params(self, parameters: dict[str, Any]) -> dict[str, Any]:
        params = {k: v for k, v in parameters.items() if k in TGI_PARAMETERS and v is not None}
        if self.spec.adapter_id:
            params["adapter_id"] = self.spec.adapter_id
        return params

    async def generate(self, inputs: str, parameters: dict[str, Any]) -> dict[str, Any]:
        body = {"inputs": inputs, "parameters": self._params(parameters)}
        data = await post_json(self.client, self.spec.model, f"{self.base}/generate", body)
        return data[0] if isinstance(data, list) else data

    def generate_stream(self, inputs: str, parameters: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        body = {"inputs": inputs, "parameters": self._params(parameters), "stream": True}
        return post_sse(self.client, self.spec.model, f"{self.base}/generate_stream", body)

    def _chat_body(self, body: dict[str, Any]) -> dict[str, Any]:
        # TGI treats `model` as the adapter id unless it is "tgi".
        return {**body, "model": self.spec.adapter_id or "tgi"}

    async def chat(self, body: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = await post_json(
            self.client, self.spec.model, f"{self.base}/v1/chat/completions", self._chat_body(body)
        )
        return out

    def chat_stream(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        return post_sse(
            self.client, self.spec.model, f"{self.base}/v1/chat/completions", {**self._chat_body(body), "stream": True}
        )

    async def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = await post_json(
            self.client, self.spec.model, f"{self.base}/v1/completions", self._chat_body(body)
        )
        return out

    def complete_stream(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        return post_sse(
            self.client, self.spec.model, f"{self.base}/v1/completions", {**self._chat_body(body), "stream": True}
        )

    async def health(self) -> bool:
        return await get_ok(self.client, f"{self.base}/health")


class OpenAIBackend:
    """An OpenAI-compatible server (vLLM, SGLang): /v1/completions and /v1/chat/completions."""

    def __init__(self, spec: BackendSpec, client: HttpClient) -> None:
        self.spec = spec
        self.client = client
        self.base = spec.url.rstrip("/")
        self.model_name = spec.adapter_id or spec.model

    def _completion_body(self, inputs: str, parameters: dict[str, Any], stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model_name,
            "prompt": inputs,
            "max_tokens": parameters["max_new_tokens"],
            "stream": stream,
        }
        for key in ("temperature", "top_p", "seed", "stop"):
            if parameters.get(key) is not None:
                body[key] = parameters[key]
        if not parameters.get("do_sample") and parameters.get("temperature") is None:
            body["temperature"] = 0.0
        return body

    async def generate(self, inputs: str, parameters: dict[str, Any]) -> dict[str, Any]:
        data = await post_json(
            self.client,
            self.spec.model,
            f"{self.base}/v1/completions",
            self._completion_body(inputs, parameters, False),
        )
        choice = data["choices"][0]
        tokens = int((data.get("usage") or {}).get("completion_tokens", 0))
        return {
            "generated_text": choice.get("text", ""),
            # TGI clients validate `details` strictly: the token list is not known here, so it is empty.
            "details": {
                "finish_reason": _finish(choice.get("finish_reason")),
                "generated_tokens": tokens,
                "seed": None,
                "prefill": [],
                "tokens": [],
            },
        }

    async def generate_stream(self, inputs: str, parameters: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """OpenAI completion chunks re-shaped as TGI stream events."""
        text: list[str] = []
        index = 0
        url = f"{self.base}/v1/completions"
        async for event in post_sse(self.client, self.spec.model, url, self._completion_body(inputs, parameters, True)):
            choice = (event.get("choices") or [{}])[0]
            piece = choice.get("text", "")
            finish = choice.get("finish_reason")
            text.append(piece)
            index += 1
            last = finish is not None
            yield {
                "index": index,
                "token": {"id": 0, "text": piece, "logprob": None, "special": False},
                "generated_text": "".join(text) if last else None,
                "details": {"finish_reason": _finish(finish), "generated_tokens": index} if last else None,
            }

    async def chat(self, body: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = await post_json(
            self.client, self.spec.model, f"{self.base}/v1/chat/completions", {**body, "model": self.model_name}
        )
        return out

    def chat_stream(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        return post_sse(
            self.client,
            self.spec.model,
            f"{self.base}/v1/chat/completions",
            {**body, "model": self.model_name, "stream": True},
        )

    async def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = await post_json(
            self.client, self.spec.model, f"{self.base}/v1/completions", {**body, "model": self.model_name}
        )
        return out

    def complete_stream(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        return post_sse(
            self.client,
            self.spec.model,
            f"{self.base}/v1/completions",
            {**body, "model": self.model_name, "stream": True},
        )

    async def health(self) -> bool:
        return await get_ok(self.client, f"{self.base}/v1/models")


def _finish(reason: str | None) -> str:
    return {"stop": "eos_token", "length": "length", None: "length"}.get(reason, reason or "length")


def make_backend(spec: BackendSpec, client: HttpClient) -> Backend:
    # vLLM speaks the OpenAI API; an adapter is chosen by naming it as `model`.
    if spec.kind in ("openai", "vllm"):
        return OpenAIBackend(spec, client)
    if spec.kind == "tgi":
        return TGIBackend(spec, client)
    raise ValueError(f"unknown backend kind {spec.kind!r} (tgi | vllm | openai)")
