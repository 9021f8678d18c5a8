"""vLLM's OpenAI-compatible routes on tgi-dev, so a client written for a vLLM fleet runs unchanged.

- `GET /v1/models`: vLLM's `ModelList`: the base (`root` its folder, `max_model_len`), then one card
  per adapter (`root` its path, `parent` the base's id).
- `POST /v1/load_lora_adapter {"lora_name", "lora_path", "load_inplace"?}` -> 200 plain text
  `Success: LoRA adapter 'NAME' added successfully.`; `POST /v1/unload_lora_adapter {"lora_name"}`
  -> `... removed successfully.` On unless `VLLM_ALLOW_RUNTIME_LORA_UPDATING` is set to something
  other than `1`/`true` (vLLM needs it set; tgi-dev exists to exercise this path, so it defaults on).
- `POST /v1/completions` (stream too, `stream_options.include_usage`) with vLLM's defaults
  (`max_tokens` 16, `temperature` 1.0; 0 is greedy) and its stop handling (the stop string is cut
  from the text and reported as `stop_reason`); `POST /v1/chat/completions` (TGI's defaults).
  `model` picks the adapter; the base's id, "tgi" or no `model` is the base.

Errors are vLLM's: status `code`, body `{"error": {"message", "type", "param", "code"}}` (vLLM since
0.10.1) with the same four keys and `"object": "error"` at the top level too (vLLM before 0.10.1),
so a client written for either reads them. Duplicate name, missing field, bad adapter: 400; missing
adapter folder, unknown adapter to unload, unknown `model`: 404.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from crucible.tgidev.adapters import AdapterError
from crucible.tgidev.generation import Finished, ModelRunner, Token
from crucible.tgidev.serving import (
    GENERATED,
    LORA_ADAPTERS,
    LORA_OPERATIONS,
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

log = logging.getLogger(__name__)

FINISH = {"eos_token": "stop", "stop_sequence": "stop", "length": "length"}
DEFAULT_MAX_TOKENS = 16  # vLLM's CompletionRequest default


def runtime_lora_updating_allowed(value: str | None) -> bool:
    """vLLM reads `VLLM_ALLOW_RUNTIME_LORA_UPDATING` as on for "1"/"true"; unset (or empty) is on here."""
    return value is None or value.strip().lower() in ("", "1", "true")


def vllm_error(status: int, message: str, error_type: str, param: str | None = None) -> JSONResponse:
    error = {"message": message, "type": error_type, "param": param, "code": status}
    return JSONResponse({"object": "error", **error, "error": error}, status_code=status)


def unknown_model(name: str) -> JSONResponse:
    return vllm_error(404, f"The model `{name}` does not exist.", "NotFoundError", "model")


def model_list(runner: ModelRunner) -> dict[str, Any]:
    created = int(time.time())

    def card(model_id: str, root: str, parent: str | None, max_len: int | None) -> dict[str, Any]:
        return {
            "id": model_id,
            "object": "model",
            "created": created,
            "owned_by": "vllm",
            "root": root,
            "parent": parent,
            "max_model_len": max_len,
            "permission": [_permission(created)],
        }

    cards = [card(runner.model_id, str(runner.model_path), None, runner.max_total_tokens)]
    cards += [card(info.name, str(info.path), runner.model_id, None) for info in runner.adapters.registered.values()]
    return {"object": "list", "data": cards}


def _permission(created: int) -> dict[str, Any]:
    return {
        "id": f"modelperm-{uuid.uuid4().hex}",
        "object": "model_permission",
        "created": created,
        "allow_create_engine": False,
        "allow_sampling": True,
        "allow_logprobs": True,
        "allow_search_indices": False,
        "allow_view": True,
        "allow_fine_tuning": False,
        "organization": "*",
        "group": None,
        "is_blocking": False,
    }


def completion_params(payload: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    """An OpenAI completions body -> (prompts, the runner's parameters); ValidationError if bad."""
    prompt = payload.get("prompt")
    prompts = [prompt] if isinstance(prompt, str) else prompt
    if not isinstance(prompts, list) or not prompts or not all(isinstance(p, str) and p for p in prompts):
        raise ValidationError("`prompt` must be a non-empty string or a list of them (token ids are not supported)")
    if int(payload.get("n") or 1) != 1:
        raise ValidationError("`n` > 1 is not supported by tgi-dev")
    max_tokens = payload.get("max_tokens", DEFAULT_MAX_TOKENS)
    max_tokens = DEFAULT_MAX_TOKENS if max_tokens is None else max_tokens
    if not isinstance(max_tokens, int) or max_tokens < 1:
        raise ValidationError("`max_tokens` must be at least 1")
    temperature = 1.0 if payload.get("temperature") is None else float(payload["temperature"])
    if temperature < 0:
        raise ValidationError("`temperature` must be non-negative")
    top_p = 1.0 if payload.get("top_p") is None else float(payload["top_p"])
    if not 0 < top_p <= 1:
        raise ValidationError("`top_p` must be in (0, 1]")
    stop = payload.get("stop") or []
    stop = [stop] if isinstance(stop, str) else stop
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
        raise ValidationError("`stop` must be a string or a list of strings")
    top_k = int(payload.get("top_k") or 0)
    return prompts, {
        "max_new_tokens": max_tokens,
        "do_sample": temperature > 0,
        "temperature": temperature,
        "top_p": top_p if top_p < 1 else None,
        "top_k": top_k if top_k > 0 else None,
        "seed": payload.get("seed"),
        "stop": stop,
        "stop_anywhere": True,
        "repetition_penalty": payload.get("repetition_penalty"),
    }


def cut_stop(text: str, finish_reason: str, stops: list[str]) -> tuple[str, str | None]:
    """vLLM leaves the stop string (and anything after it) out of the text, reports it as
    `stop_reason`."""
    if finish_reason == "stop_sequence":
        found = [(text.find(s), s) for s in stops if s and s in text]
        if found:
            index, stop = min(found)
            return text[:index], stop
    return text, None


def add_openai_routes(app: FastAPI, runner: ModelRunner, *, runtime_lora_updating: bool | None = None) -> None:
    if runtime_lora_updating is None:
        runtime_lora_updating = runtime_lora_updating_allowed(os.environ.get("VLLM_ALLOW_RUNTIME_LORA_UPDATING"))
    LORA_ADAPTERS.set(len(runner.adapters.names()))

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return model_list(runner)

    if runtime_lora_updating:

        @app.post("/v1/load_lora_adapter")
        async def load_lora_adapter(request: Request) -> Response:
            return await _lora_operation(request, "load")

        @app.post("/v1/unload_lora_adapter")
        async def unload_lora_adapter(request: Request) -> Response:
            return await _lora_operation(request, "unload")

    async def _lora_operation(request: Request, op: str) -> Response:
        try:
            body = await read_json(request)
        except ValidationError as exc:
            LORA_OPERATIONS.labels(op, "400").inc()
            return vllm_error(400, str(exc), "BadRequestError")
        name = str(body.get("lora_name") or "")
        try:
            if op == "load":
                path = str(body.get("lora_path") or "")
                await asyncio.to_thread(runner.adapters.load, name, path, inplace=bool(body.get("load_inplace")))
                message = f"Success: LoRA adapter '{name}' added successfully."
            else:
                await asyncio.to_thread(runner.adapters.unload, name)
                message = f"Success: LoRA adapter '{name}' removed successfully."
        except AdapterError as exc:
            LORA_OPERATIONS.labels(op, str(exc.status)).inc()
            log.warning("LoRA %s of %r refused: %s", op, name, exc)
            return vllm_error(exc.status, str(exc), exc.error_type)
        except Exception as exc:  # vLLM answers an unexpected failure with a 500 in the same shape
            LORA_OPERATIONS.labels(op, "500").inc()
            log.exception("LoRA %s of %r failed", op, name)
            return vllm_error(500, str(exc), "InternalServerError")
        log.info("LoRA %s of %r done", op, name)
        LORA_OPERATIONS.labels(op, "200").inc()
        LORA_ADAPTERS.set(len(runner.adapters.names()))
        return Response(status_code=200, content=message)

    @app.post("/v1/completions")
    async def completions(request: Request) -> Response:
        try:
            payload = await read_json(request)
            prompts, params = completion_params(payload)
            adapter = resolve_adapter(runner, payload.get("model"))
            for prompt in prompts:
                check_prompt_length(runner, prompt)
        except (ValueError, TypeError) as exc:  # ValidationError, and numbers that are not
            REQUESTS.labels("completions", "400").inc()
            return vllm_error(400, str(exc), "BadRequestError")
        except UnknownModel as exc:
            REQUESTS.labels("completions", "404").inc()
            return unknown_model(str(exc))
        cid = f"cmpl-{uuid.uuid4().hex}"
        created = int(time.time())
        model_name = payload.get("model") or runner.model_id
        echo = bool(payload.get("echo"))

        def body(choices: list[dict[str, Any]], usage: dict[str, int] | None = None) -> dict[str, Any]:
            out: dict[str, Any] = {
                "id": cid,
                "object": "text_completion",
                "created": created,
                "model": model_name,
                "choices": choices,
            }
            if usage is not None:
                out["usage"] = usage
            return out

        def choice(index: int, text: str, finish: str | None, stop_reason: str | None) -> dict[str, Any]:
            return {"index": index, "text": text, "logprobs": None, "finish_reason": finish, "stop_reason": stop_reason}

        usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}

        def count(done: Finished) -> None:
            GENERATED.inc(done.generated_tokens)
            usage["prompt_tokens"] += done.input_length
            usage["completion_tokens"] += done.generated_tokens
            usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]

        if not payload.get("stream"):
            choices = []
            for index, prompt in enumerate(prompts):
                try:
                    done = await _finish(stream_tokens(runner, prompt, params, adapter))
                except UnknownModel as exc:
                    REQUESTS.labels("completions", "404").inc()
                    return unknown_model(str(exc))
                count(done)
                text, stop_reason = cut_stop(done.generated_text, done.finish_reason, params["stop"])
                choices.append(choice(index, prompt + text if echo else text, FINISH[done.finish_reason], stop_reason))
            REQUESTS.labels("completions", "200").inc()
            return JSONResponse(body(choices, usage))

        holdback = max((len(s) for s in params["stop"]), default=1) - 1

        async def events() -> AsyncIterator[bytes]:
            try:
                for index, prompt in enumerate(prompts):
                    emitted, seen = "", prompt if echo else ""
                    async for item in stream_tokens(runner, prompt, params, adapter):
                        if isinstance(item, Token):
                            seen += "" if item.special else item.text
                            if any(s in seen for s in params["stop"]):
                                continue  # the Finished that follows cuts the text there
                            # Hold back what could be the start of a stop string vLLM would cut.
                            safe = seen[: len(seen) - holdback]
                            if len(safe) > len(emitted):
                                yield sse(body([choice(index, safe[len(emitted) :], None, None)]), space=True)
                                emitted = safe
                            continue
                        count(item)
                        text, stop_reason = cut_stop(item.generated_text, item.finish_reason, params["stop"])
                        full = prompt + text if echo else text
                        rest = full[len(emitted) :] if full.startswith(emitted) else ""
                        last = choice(index, rest, FINISH[item.finish_reason], stop_reason)
                        yield sse(body([last]), space=True)
                if (payload.get("stream_options") or {}).get("include_usage"):
                    yield sse(body([], usage), space=True)
                REQUESTS.labels("completions", "200").inc()
                yield b"data: [DONE]\n\n"
            except Exception as exc:
                REQUESTS.labels("completions", "500").inc()
                yield sse({"error": {"message": str(exc), "type": "InternalServerError", "code": 500}}, space=True)

        return StreamingResponse(events(), media_type="text/event-stream")

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        try:
            payload = await read_json(request)
            messages = payload.get("messages")
            if not isinstance(messages, list) or not messages:
                raise ValidationError("`messages` must be a non-empty list")
            params = validate_parameters(
                {
                    "max_new_tokens": payload.get("max_tokens") or payload.get("max_completion_tokens") or 20,
                    "temperature": payload.get("temperature"),
                    "top_p": payload.get("top_p"),
                    "seed": payload.get("seed"),
                    "stop": ([payload["stop"]] if isinstance(payload.get("stop"), str) else payload.get("stop")),
                }
            )
            adapter = resolve_adapter(runner, payload.get("model"))
        except ValidationError as exc:
            REQUESTS.labels("chat", "422").inc()
            return JSONResponse({"error": str(exc), "error_type": "validation"}, status_code=422)
        except UnknownModel as exc:
            REQUESTS.labels("chat", "404").inc()
            return unknown_model(str(exc))
        prompt = runner.chat_prompt(messages)
        try:
            check_prompt_length(runner, prompt)
        except ValidationError as exc:
            REQUESTS.labels("chat", "422").inc()
            return JSONResponse({"error": str(exc), "error_type": "validation"}, status_code=422)
        created = int(time.time())
        cid = f"chatcmpl-{uuid.uuid4().hex[:12]}"
        model_name = payload.get("model") or runner.model_id
        if not payload.get("stream"):
            try:
                done = await _finish(stream_tokens(runner, prompt, params, adapter))
            except UnknownModel as exc:
                REQUESTS.labels("chat", "404").inc()
                return unknown_model(str(exc))
            REQUESTS.labels("chat", "200").inc()
            GENERATED.inc(done.generated_tokens)
            return JSONResponse(
                {
                    "id": cid,
                    "object": "chat.completion",
                    "created": created,
                    "model": model_name,
                    "system_fingerprint": f"{VERSION}-tgi-dev",
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": done.generated_text},
                            "logprobs": None,
                            "finish_reason": FINISH[done.finish_reason],
                        }
                    ],
                    "usage": {
                        "prompt_tokens": done.input_length,
                        "completion_tokens": done.generated_tokens,
                        "total_tokens": done.input_length + done.generated_tokens,
                    },
                }
            )

        def chunk(content: str, finish: str | None) -> dict[str, Any]:
            return {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model_name,
                "system_fingerprint": f"{VERSION}-tgi-dev",
                "choices": [
                    {
                        "index": 0,
                        "delta": {"role": "assistant", "content": content},
                        "logprobs": None,
                        "finish_reason": finish,
                    }
                ],
            }

        async def events() -> AsyncIterator[bytes]:
            try:
                async for item in stream_tokens(runner, prompt, params, adapter):
                    if isinstance(item, Token):
                        yield sse(chunk("" if item.special else item.text, None), space=True)
                    else:
                        GENERATED.inc(item.generated_tokens)
                        yield sse(chunk("", FINISH[item.finish_reason]), space=True)
                REQUESTS.labels("chat", "200").inc()
                yield b"data: [DONE]\n\n"
            except Exception as exc:
                REQUESTS.labels("chat", "500").inc()
                yield sse({"error": {"message": str(exc), "type": "generation"}}, space=True)

        return StreamingResponse(events(), media_type="text/event-stream")


async def _finish(items: AsyncIterator[Token | Finished]) -> Finished:
    done: Finished | None = None
    async for item in items:
        if isinstance(item, Finished):
            done = item
    assert done is not None
    return done
