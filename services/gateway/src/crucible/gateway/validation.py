"""Requests checked at the gateway, before any backend call: shapes and the policy's limits.

A refusal is the client's own error (`RequestRefused`, a client-side `BackendError`): 422 (TGI
routes) or 400 (OpenAI routes) for a bad value, 413 for something too large, INVALID_ARGUMENT or
RESOURCE_EXHAUSTED on gRPC. It is counted under its own code and never against a variant.
Value semantics the backend owns (a negative temperature, say) are left to the backend, whose
4xx comes back to the client as its own.
"""

from __future__ import annotations

from typing import Any

from crucible.gateway.policy import RequestLimits
from crucible.gateway.transport import BackendError

# OpenAI fields the gateway serves itself or forwards; anything else is refused, not ignored.
CHAT_FIELDS = frozenset(
    {
        "messages",
        "model",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "seed",
        "stop",
        "n",
        "stream",
        "stream_options",
        "user",
        "logprobs",
        "top_logprobs",
        "frequency_penalty",
        "presence_penalty",
    }
)
COMPLETION_FIELDS = (CHAT_FIELDS - {"messages", "max_completion_tokens", "top_logprobs"}) | {"prompt", "echo"}
TOOL_FIELDS = frozenset(
    {"tools", "tool_choice", "functions", "function_call", "response_format", "parallel_tool_calls"}
)


class RequestRefused(BackendError):
    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message, status=status, client_error=True, error_type="validation")


def _int(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
        raise RequestRefused(f"`{name}` must be an integer, got {value!r}")
    if not low <= int(value) <= high:
        raise RequestRefused(f"`{name}` must be between {low} and {high}, got {int(value)}")
    return int(value)


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RequestRefused(f"`{name}` must be a number, got {value!r}")
    return float(value)


def _stops(value: Any, limits: RequestLimits) -> list[str]:
    stops = [value] if isinstance(value, str) else value
    if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
        raise RequestRefused("`stop` must be a string or a list of strings")
    if len(stops) > limits.max_stop_sequences:
        raise RequestRefused(f"`stop` takes at most {limits.max_stop_sequences} sequences, got {len(stops)}")
    return stops


def _prompt_size(text: str, limits: RequestLimits, what: str = "prompt") -> None:
    size = len(text.encode("utf-8", "replace"))
    if size > limits.max_prompt_bytes:
        raise RequestRefused(f"the {what} is {size} bytes; the limit is {limits.max_prompt_bytes}", status=413)


def check_generate(inputs: Any, parameters: Any, limits: RequestLimits) -> dict[str, Any]:
    """TGI's `/generate` body: a string `inputs`, an object `parameters` within the limits."""
    if not isinstance(inputs, str) or not inputs:
        raise RequestRefused("`inputs` must be a non-empty string")
    _prompt_size(inputs, limits)
    if parameters is None:
        return {}
    if not isinstance(parameters, dict):
        raise RequestRefused("`parameters` must be an object")
    params = {k: v for k, v in parameters.items() if v is not None}
    if "max_new_tokens" in params:
        params["max_new_tokens"] = _int(params["max_new_tokens"], "max_new_tokens", 1, limits.max_new_tokens)
    for name in ("temperature", "top_p", "repetition_penalty", "frequency_penalty", "typical_p"):
        if name in params:
            params[name] = _number(params[name], name)
    for name in ("top_k", "seed", "top_n_tokens", "best_of", "truncate"):
        if name in params:
            params[name] = _int(params[name], name, 0, 2**63 - 1)
    if "stop" in params:
        params["stop"] = _stops(params["stop"], limits)
    return params


def message_text(content: Any) -> str:
    """OpenAI message content as text: a string, or a list of `{"type": "text", "text"}` parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                raise RequestRefused(f"only text content parts are supported, got {kind!r}", status=400)
            texts.append(part["text"])
        return "".join(texts)
    if content is None:
        return ""
    raise RequestRefused("message `content` must be a string or a list of text parts", status=400)


def _openai_common(body: dict[str, Any], limits: RequestLimits, allowed: frozenset[str], passthrough: set[str]) -> int:
    unsupported = sorted((set(body) & TOOL_FIELDS) - passthrough)
    if unsupported:
        raise RequestRefused(f"{', '.join(unsupported)}: not supported by this deployment's models", status=400)
    unknown = sorted(set(body) - allowed - TOOL_FIELDS - passthrough)
    if unknown:
        raise RequestRefused(f"unknown field(s): {', '.join(unknown)}", status=400)
    for name in ("max_tokens", "max_completion_tokens"):
        if body.get(name) is not None:
            body[name] = _int(body[name], name, 1, limits.max_new_tokens)
    for name in ("temperature", "top_p", "frequency_penalty", "presence_penalty"):
        if body.get(name) is not None:
            body[name] = _number(body[name], name)
    if body.get("stop") is not None:
        body["stop"] = _stops(body["stop"], limits)
    n = _int(body.get("n") or 1, "n", 1, limits.max_n)
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise RequestRefused("`stream_options` must be an object", status=400)
    return n


def check_chat(body: Any, limits: RequestLimits, passthrough: set[str]) -> tuple[dict[str, Any], int]:
    """An OpenAI chat body with text-only messages normalised to strings; returns (body, n)."""
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or not body["messages"]:
        raise RequestRefused("the body must be a JSON object with a non-empty `messages` list", status=400)
    body = dict(body)
    try:
        n = _openai_common(body, limits, CHAT_FIELDS, passthrough)
    except RequestRefused as exc:
        raise RequestRefused(str(exc), status=400 if exc.status == 422 else exc.status) from None
    messages = []
    for m in body["messages"]:
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise RequestRefused("each message must be an object with a `role`", status=400)
        messages.append({**m, "content": message_text(m.get("content"))})
    _prompt_size("".join(m["content"] for m in messages), limits, "conversation")
    body["messages"] = messages
    return body, n


def check_completion(body: Any, limits: RequestLimits, passthrough: set[str]) -> tuple[dict[str, Any], int]:
    """An OpenAI completions body with one string prompt; returns (body, n)."""
    if not isinstance(body, dict):
        raise RequestRefused("the body must be a JSON object", status=400)
    body = dict(body)
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = body["prompt"] = prompt[0]
    if not isinstance(prompt, str) or not prompt:
        raise RequestRefused("`prompt` must be a non-empty string (one prompt per request)", status=400)
    try:
        n = _openai_common(body, limits, COMPLETION_FIELDS, passthrough)
    except RequestRefused as exc:
        raise RequestRefused(str(exc), status=400 if exc.status == 422 else exc.status) from None
    _prompt_size(prompt, limits)
    return body, n


def openai_backend_body(body: dict[str, Any], default_max_tokens: int) -> dict[str, Any]:
    """A checked OpenAI body as one backend call gets it: the gateway's own fields out (the user,
    streaming, `n`), and always a token limit (unset means "up to the context" to TGI)."""
    out = {k: v for k, v in body.items() if v is not None and k not in ("user", "stream", "stream_options", "n")}
    if not out.get("max_tokens") and not out.get("max_completion_tokens"):
        out["max_tokens"] = default_max_tokens
    return out


def tgi_backend_parameters(params: dict[str, Any], default_max_new_tokens: int) -> dict[str, Any]:
    """Checked TGI parameters as the backend gets them: always a `max_new_tokens` (unset means "up
    to the context limit" to TGI) and `details` (the gateway counts tokens; stripped again for
    clients that did not ask)."""
    out = dict(params)
    if not out.get("max_new_tokens"):
        out["max_new_tokens"] = default_max_new_tokens
    out["details"] = True
    return out
