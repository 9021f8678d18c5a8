"""Backend clients: a TGI endpoint, or an OpenAI-compatible one (vLLM, SGLang). Swappable.

Both speak to the gateway in TGI's shapes: `generate` returns `{"generated_text", "details"}`,
`generate_stream` yields TGI stream events (`{"token": {...}, "generated_text": ..., "details": ...}`);
chat requests are passed through to the backend's own `/v1/chat/completions`.
Any failure — a refused connection, a non-2xx status, or an SSE `error` event after a 200 —
raises `BackendError`, so the gateway counts it and can retry on stable.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, Protocol

import httpx

from crucible.gateway.state import BackendSpec

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


class BackendError(RuntimeError):
    def __init__(self, message: str, *, status: int = 502, mid_stream: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.mid_stream = mid_stream


class Backend(Protocol):
    spec: BackendSpec

    async def generate(self, inputs: str, parameters: dict[str, Any]) -> dict[str, Any]: ...

    def generate_stream(self, inputs: str, parameters: dict[str, Any]) -> AsyncIterator[dict[str, Any]]: ...

    async def chat(self, body: dict[str, Any]) -> dict[str, Any]: ...

    def chat_stream(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]: ...

    async def health(self) -> bool: ...

    async def aclose(self) -> None: ...


def new_http_client(timeout: float) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout, connect=5.0),
        limits=httpx.Limits(max_connections=512, max_keepalive_connections=512),
    )


async def _sse_events(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """Parse `data:` lines of an SSE body into JSON objects; an `error` event raises."""
    async for line in response.aiter_lines():
        if not line.startswith("data:"):
            continue
        payload = line[5:].strip()
        if not payload or payload == "[DONE]":
            continue
        try:
            event = json.loads(payload)
        except json.JSONDecodeError as exc:
            raise BackendError(f"malformed stream event: {payload[:100]!r}", mid_stream=True) from exc
        if isinstance(event, dict) and event.get("error"):
            err = event["error"]
            message = err.get("message", str(err)) if isinstance(err, dict) else str(err)
            raise BackendError(f"stream error event: {message}", mid_stream=True)
        yield event


async def _raise_for_status(response: httpx.Response) -> None:
    if response.status_code >= 400:
        body = (await response.aread())[:300].decode("utf-8", "replace")
        raise BackendError(f"backend answered {response.status_code}: {body}", status=502)


class TGIBackend:
    """Text Generation Inference (or tgi-dev): /generate, /generate_stream, /v1/chat/completions."""

    def __init__(self, spec: BackendSpec, client: httpx.AsyncClient) -> None:
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
        try:
            response = await self.client.post(f"{self.base}/generate", json=body)
        except httpx.HTTPError as exc:
            raise BackendError(f"{self.spec.model}: {exc!r}") from exc
        await _raise_for_status(response)
        data = response.json()
        if isinstance(data, list):
            data = data[0]
        return data

    async def generate_stream(self, inputs: str, parameters: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        body = {"inputs": inputs, "parameters": self._params(parameters), "stream": True}
        try:
            async with self.client.stream("POST", f"{self.base}/generate_stream", json=body) as response:
                await _raise_for_status(response)
                async for event in _sse_events(response):
                    yield event
        except httpx.HTTPError as exc:
            raise BackendError(f"{self.spec.model}: {exc!r}", mid_stream=True) from exc

    def _chat_body(self, body: dict[str, Any]) -> dict[str, Any]:
        # TGI treats `model` as the adapter id unless it is "tgi".
        return {**body, "model": self.spec.adapter_id or "tgi"}

    async def chat(self, body: dict[str, Any]) -> dict[str, Any]:
        try:
            response = await self.client.post(f"{self.base}/v1/chat/completions", json=self._chat_body(body))
        except httpx.HTTPError as exc:
            raise BackendError(f"{self.spec.model}: {exc!r}") from exc
        await _raise_for_status(response)
        return response.json()

    async def chat_stream(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        try:
            async with self.client.stream(
                "POST", f"{self.base}/v1/chat/completions", json={**self._chat_body(body), "stream": True}
            ) as response:
                await _raise_for_status(response)
                async for event in _sse_events(response):
                    yield event
        except httpx.HTTPError as exc:
            raise BackendError(f"{self.spec.model}: {exc!r}", mid_stream=True) from exc

    async def health(self) -> bool:
        try:
            return (await self.client.get(f"{self.base}/health")).status_code == 200
        except httpx.HTTPError:
            return False

    async def aclose(self) -> None:
        return None


class OpenAIBackend:
    """An OpenAI-compatible server (vLLM, SGLang): /v1/completions and /v1/chat/completions."""

    def __init__(self, spec: BackendSpec, client: httpx.AsyncClient) -> None:
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
        for ours, theirs in (("temperature", "temperature"), ("top_p", "top_p"), ("seed", "seed"), ("stop", "stop")):
            if parameters.get(ours) is not None:
                body[theirs] = parameters[ours]
        if not parameters.get("do_sample") and parameters.get("temperature") is None:
            body["temperature"] = 0.0
        return body

    async def generate(self, inputs: str, parameters: dict[str, Any]) -> dict[str, Any]:
        try:
            response = await self.client.post(
                f"{self.base}/v1/completions", json=self._completion_body(inputs, parameters, False)
            )
        except httpx.HTTPError as exc:
            raise BackendError(f"{self.spec.model}: {exc!r}") from exc
        await _raise_for_status(response)
        data = response.json()
        choice = data["choices"][0]
        tokens = int((data.get("usage") or {}).get("completion_tokens", 0))
        return {
            "generated_text": choice.get("text", ""),
            "details": {"finish_reason": _finish(choice.get("finish_reason")), "generated_tokens": tokens},
        }

    async def generate_stream(self, inputs: str, parameters: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        text: list[str] = []
        index = 0
        try:
            async with self.client.stream(
                "POST", f"{self.base}/v1/completions", json=self._completion_body(inputs, parameters, True)
            ) as response:
                await _raise_for_status(response)
                async for event in _sse_events(response):
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
        except httpx.HTTPError as exc:
            raise BackendError(f"{self.spec.model}: {exc!r}", mid_stream=True) from exc

    async def chat(self, body: dict[str, Any]) -> dict[str, Any]:
        try:
            response = await self.client.post(
                f"{self.base}/v1/chat/completions", json={**body, "model": self.model_name}
            )
        except httpx.HTTPError as exc:
            raise BackendError(f"{self.spec.model}: {exc!r}") from exc
        await _raise_for_status(response)
        return response.json()

    async def chat_stream(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        try:
            async with self.client.stream(
                "POST", f"{self.base}/v1/chat/completions", json={**body, "model": self.model_name, "stream": True}
            ) as response:
                await _raise_for_status(response)
                async for event in _sse_events(response):
                    yield event
        except httpx.HTTPError as exc:
            raise BackendError(f"{self.spec.model}: {exc!r}", mid_stream=True) from exc

    async def health(self) -> bool:
        try:
            return (await self.client.get(f"{self.base}/v1/models")).status_code == 200
        except httpx.HTTPError:
            return False

    async def aclose(self) -> None:
        return None


def _finish(reason: str | None) -> str:
    return {"stop": "eos_token", "length": "length", None: "length"}.get(reason, reason or "length")


def make_backend(spec: BackendSpec, client: httpx.AsyncClient) -> Backend:
    if spec.kind == "openai":
        return OpenAIBackend(spec, client)
    if spec.kind == "tgi":
        return TGIBackend(spec, client)
    raise ValueError(f"unknown backend kind {spec.kind!r} (tgi | openai)")
