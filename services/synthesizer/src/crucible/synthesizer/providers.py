"""One request to one endpoint, in its protocol (OpenAI chat completions or TGI /generate),
with failures sorted into the kinds the chain acts on."""

from __future__ import annotations

import email.utils
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from crucible.synthesizer.policy import EndpointPolicy


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str


class ProviderError(Exception):
    """A failed request. `retryable`: worth another try (429, 5xx, timeouts, connection errors);
    `retry_after`: seconds the server asked us to wait."""

    def __init__(self, kind: str, detail: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.retryable = retryable
        self.retry_after = retry_after


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After is seconds or an HTTP date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def _error_for(response: httpx.Response) -> ProviderError:
    status = response.status_code
    body = response.text[:200]
    if status == 429:
        return ProviderError(
            "rate_limited", body, retryable=True, retry_after=parse_retry_after(response.headers.get("retry-after"))
        )
    if status >= 500:
        return ProviderError(
            f"http_{status}", body, retryable=True, retry_after=parse_retry_after(response.headers.get("retry-after"))
        )
    # 4xx other than 429: our request is wrong for this endpoint; retrying it here cannot help.
    return ProviderError(f"http_{status}", body, retryable=False)


def request_body(
    endpoint: EndpointPolicy, messages: Sequence[Mapping[str, str]], params: Mapping[str, Any]
) -> tuple[str, dict[str, Any]]:
    """The path and JSON body of one generation request."""
    if endpoint.kind == "openai":
        return "/v1/chat/completions", {
            "model": endpoint.model,
            "messages": [dict(m) for m in messages],
            "max_tokens": params["max_new_tokens"],
            "temperature": params["temperature"],
            "top_p": params["top_p"],
            "seed": params["seed"],
        }
    # TGI's /generate takes one prompt: the messages in a plain role-tagged layout.
    prompt = "".join(f"<|{m['role']}|>\n{m['content']}\n" for m in messages) + "<|assistant|>\n"
    parameters: dict[str, Any] = {
        "max_new_tokens": params["max_new_tokens"],
        "top_p": min(params["top_p"], 0.999),  # TGI requires top_p < 1
        "seed": params["seed"],
        "do_sample": params["temperature"] > 0,
        "details": True,
        "return_full_text": False,
    }
    if params["temperature"] > 0:
        parameters["temperature"] = params["temperature"]
    return "/generate", {"inputs": prompt, "parameters": parameters}


def parse_response(endpoint: EndpointPolicy, data: Any) -> Completion:
    try:
        if endpoint.kind == "openai":
            choice = data["choices"][0]
            usage = data.get("usage") or {}
            return Completion(
                text=str(choice["message"]["content"] or ""),
                prompt_tokens=int(usage.get("prompt_tokens", 0)),
                completion_tokens=int(usage.get("completion_tokens", 0)),
                finish_reason=str(choice.get("finish_reason") or ""),
            )
        details = data.get("details") or {}
        return Completion(
            text=str(data["generated_text"]),
            prompt_tokens=len(details.get("prefill") or []),
            completion_tokens=int(details.get("generated_tokens", 0)),
            finish_reason=str(details.get("finish_reason") or ""),
        )
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        raise ProviderError("bad_response", f"unexpected response shape: {exc!r}", retryable=True) from None


async def complete(
    client: httpx.AsyncClient,
    endpoint: EndpointPolicy,
    messages: Sequence[Mapping[str, str]],
    params: Mapping[str, Any],
) -> Completion:
    path, body = request_body(endpoint, messages, params)
    headers = {}
    if endpoint.api_key_env:
        key = os.environ.get(endpoint.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
    try:
        response = await client.post(
            endpoint.url.rstrip("/") + path, json=body, headers=headers, timeout=endpoint.timeout_seconds
        )
    except httpx.TimeoutException as exc:
        raise ProviderError("timeout", repr(exc), retryable=True) from None
    except httpx.HTTPError as exc:
        raise ProviderError("connection", repr(exc), retryable=True) from None
    if response.status_code != 200:
        raise _error_for(response)
    try:
        data = response.json()
    except ValueError:
        raise ProviderError("bad_response", "body is not JSON", retryable=True) from None
    return parse_response(endpoint, data)
