"""tgi-dev's HTTP server: Text Generation Inference's protocol over a `ModelRunner`.

Routes and shapes follow TGI's router: `POST /generate`, `POST /generate_stream` (SSE, the last
event carries `generated_text` and `details`), `POST /` (compatibility route: a JSON list, or SSE
with `"stream": true`), `GET /health`, `GET /info`, `POST /v1/chat/completions` (OpenAI shape,
streaming too; `model` names an adapter unless it is "tgi" or the base's id), `GET /metrics`.
`parameters.adapter_id` picks a LoRA adapter per request (absent, "" or "tgi": the base). Validation
errors (an unknown adapter too) are HTTP 422 `{"error", "error_type": "validation"}`; a failure during
a stream is an SSE error event. vLLM's OpenAI-compatible routes and runtime LoRA API are added by
`openai_api.add_openai_routes`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from crucible.tgidev.generation import Finished, ModelRunner, Token
from crucible.tgidev.openai_api import add_openai_routes
from crucible.tgidev.serving import (
    DURATION,
    GENERATED,
    MAX_STOP_SEQUENCES,
    REQUESTS,
    VERSION,
    UnknownModel,
    ValidationError,
    check_prompt_length,
    read_json,
    resolve_adapter,
    sse,
    stream_tokens,
    validate_parameters,
)


def _error(status: int, message: str, error_type: str) -> JSONResponse:
    return JSONResponse({"error": message, "error_type": error_type}, status_code=status)


def tgi_adapter(runner: ModelRunner, params: dict[str, Any]) -> str | None:
    """TGI's `parameters.adapter_id` -> the adapter to run (None: the base); 422 if not loaded."""
    requested = params.get("adapter_id")
    try:
        return resolve_adapter(runner, requested)
    except UnknownModel:
        loaded = ", ".join(runner.adapters.names()) or "none"
        raise ValidationError(f"adapter {requested!r} is not loaded (loaded: {loaded})") from None


def create_app(runner: ModelRunner, *, runtime_lora_updating: bool | None = None) -> FastAPI:
    """TGI's routes, plus vLLM's (`add_openai_routes`). `runtime_lora_updating` None: on unless
    `VLLM_ALLOW_RUNTIME_LORA_UPDATING` says otherwise."""
    app = FastAPI(title="crucible tgi-dev", version=VERSION, docs_url=None, redoc_url=None)
    served_model = runner.model_id

    def details_of(done: Finished, toks: list[Token], seed: Any) -> dict[str, Any]:
        return {
            "finish_reason": done.finish_reason,
            "generated_tokens": done.generated_tokens,
            "seed": seed,
            "prefill": [],
            "tokens": [{"id": t.id, "text": t.text, "logprob": t.logprob, "special": t.special} for t in toks],
            "top_tokens": [],
            "best_of_sequences": None,
        }

    async def run_generate(payload: dict[str, Any]) -> dict[str, Any]:
        inputs = payload.get("inputs")
        if not isinstance(inputs, str) or not inputs:
            raise ValidationError("`inputs` must be a non-empty string")
        params = validate_parameters(payload.get("parameters"))
        adapter = tgi_adapter(runner, params)
        check_prompt_length(runner, inputs)
        started = time.perf_counter()
        toks: list[Token] = []
        done: Finished | None = None
        try:
            async for item in stream_tokens(runner, inputs, params, adapter):
                if isinstance(item, Token):
                    toks.append(item)
                else:
                    done = item
        except UnknownModel:
            raise ValidationError(f"adapter {adapter!r} is not loaded (it was unloaded)") from None
        assert done is not None
        DURATION.observe(time.perf_counter() - started)
        GENERATED.inc(done.generated_tokens)
        text = (inputs + done.generated_text) if params.get("return_full_text") else done.generated_text
        out: dict[str, Any] = {"generated_text": text}
        if params.get("details"):
            out["details"] = details_of(done, toks, params.get("seed"))
        return out

    async def stream_generate(payload: dict[str, Any], route: str) -> Response:
        inputs = payload.get("inputs")
        try:
            if not isinstance(inputs, str) or not inputs:
                raise ValidationError("`inputs` must be a non-empty string")
            params = validate_parameters(payload.get("parameters"))
            adapter = tgi_adapter(runner, params)
            check_prompt_length(runner, inputs)
        except ValidationError as exc:
            REQUESTS.labels(route, "422").inc()
            return _error(422, str(exc), "validation")

        async def events() -> AsyncIterator[bytes]:
            index = 0
            pending: Token | None = None
            try:
                async for item in stream_tokens(runner, inputs, params, adapter):
                    if isinstance(item, Token):
                        if pending is not None:
                            index += 1
                            yield sse(_stream_event(index, pending, None, None))
                        pending = item
                    else:
                        GENERATED.inc(item.generated_tokens)
                        text = (inputs + item.generated_text) if params.get("return_full_text") else item.generated_text
                        details = {
                            "finish_reason": item.finish_reason,
                            "generated_tokens": item.generated_tokens,
                            "seed": params.get("seed"),
                            "input_length": item.input_length,
                        }
                        assert pending is not None
                        index += 1
                        yield sse(_stream_event(index, pending, text, details if params.get("details") else None))
                REQUESTS.labels(route, "200").inc()
            except Exception as exc:
                REQUESTS.labels(route, "500").inc()
                yield sse({"error": str(exc), "error_type": "generation"})

        return StreamingResponse(events(), media_type="text/event-stream")

    @app.post("/generate")
    async def generate(request: Request) -> Response:
        try:
            out = await run_generate(await read_json(request))
        except ValidationError as exc:
            REQUESTS.labels("generate", "422").inc()
            return _error(422, str(exc), "validation")
        REQUESTS.labels("generate", "200").inc()
        return JSONResponse(out)

    @app.post("/generate_stream")
    async def generate_stream(request: Request) -> Response:
        try:
            payload = await read_json(request)
        except ValidationError as exc:
            return _error(422, str(exc), "validation")
        return await stream_generate(payload, "generate_stream")

    @app.post("/")
    async def compat(request: Request) -> Response:
        try:
            payload = await read_json(request)
            if payload.get("stream"):
                return await stream_generate(payload, "compat")
            out = await run_generate(payload)
        except ValidationError as exc:
            REQUESTS.labels("compat", "422").inc()
            return _error(422, str(exc), "validation")
        REQUESTS.labels("compat", "200").inc()
        return JSONResponse([out])

    @app.get("/health")
    async def health() -> Response:
        return Response(status_code=200)

    @app.get("/info")
    async def info() -> dict[str, Any]:
        return {
            "model_id": served_model,
            "model_sha": None,
            "model_dtype": "torch.float32",
            "model_device_type": "cpu",
            "model_pipeline_tag": "text-generation",
            "max_concurrent_requests": 128,
            "max_best_of": 1,
            "max_stop_sequences": MAX_STOP_SEQUENCES,
            "max_input_tokens": max(1, runner.max_total_tokens - 1),
            "max_total_tokens": runner.max_total_tokens,
            "validation_workers": 1,
            "max_client_batch_size": 1,
            "router": "crucible-tgi-dev",
            "version": VERSION,
            "sha": None,
            "docker_label": None,
        }

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    add_openai_routes(app, runner, runtime_lora_updating=runtime_lora_updating)
    return app


def _stream_event(index: int, token: Token, text: str | None, details: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "index": index,
        "token": {"id": token.id, "text": token.text, "logprob": token.logprob, "special": token.special},
        "top_tokens": None,
        "generated_text": text,
        "details": details,
    }
