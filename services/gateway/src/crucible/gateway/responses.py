"""What the router hands the front ends, and how it reads backend answers.

`Route` (where a request went, with the response id feedback will quote), `Served` (the answer),
`Outcome` (how one backend call went, as the router measures it), response ids, and the small
readers of TGI and OpenAI bodies and stream events the router measures with. Response ids are
minted and verified by `response_ids.py` (signed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crucible.gateway.transport import BackendError
from crucible.gateway.validation import RequestRefused


@dataclass(frozen=True, slots=True)
class Route:
    response_id: str
    variant: str
    model: str
    rollout_id: str
    stage_index: int
    published: bool = False  # published as an interaction record (the response id says so too)
    user_id: str = ""  # the caller's user id, kept only when published (its subject token goes on the record)


@dataclass
class Served:
    route: Route
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one backend call went, as the router measures it."""

    ok: bool
    code: int
    started: float  # perf_counter() when the call began
    prompt: str
    text: str = ""
    tokens: int = 0
    ttft: float | None = None
    client_error: bool = False  # the backend refused the request itself: the client's, not the variant's


def failed(exc: BackendError, started: float, prompt: str, ttft: float | None = None) -> Outcome:
    return Outcome(False, exc.status, started, prompt, ttft=ttft, client_error=exc.client_error)


def tgi_piece(event: dict[str, Any]) -> str:
    token = event.get("token") or {}
    return "" if token.get("special") else str(token.get("text", ""))


def tgi_tokens(event: dict[str, Any]) -> int | None:
    details = event.get("details") or {}
    value = details.get("generated_tokens")
    return int(value) if value is not None else None


def chat_text(out: dict[str, Any]) -> str:
    return ((out.get("choices") or [{}])[0].get("message") or {}).get("content") or ""


def completion_text(out: dict[str, Any]) -> str:
    return str((out.get("choices") or [{}])[0].get("text") or "")


def completion_piece(event: dict[str, Any]) -> str:
    return str(((event.get("choices") or [{}])[0]).get("text") or "")


def usage_tokens(event: dict[str, Any]) -> int | None:
    usage = event.get("usage") or {}
    value = usage.get("completion_tokens")
    return int(value) if value is not None else None


def no_streamed_choices(n: int) -> None:
    raise RequestRefused(f"`n` = {n} is not supported with `stream`: ask for one choice per stream", status=400)


def merge_choices(outs: list[dict[str, Any]]) -> dict[str, Any]:
    """n answers as one OpenAI body: choices re-indexed, usage summed (the prompt counted once)."""
    if len(outs) == 1:
        return outs[0]
    merged = dict(outs[0])
    merged["choices"] = [{**(o.get("choices") or [{}])[0], "index": i} for i, o in enumerate(outs)]
    usages = [o.get("usage") or {} for o in outs]
    prompt = int(usages[0].get("prompt_tokens", 0) or 0)
    completion = sum(int(u.get("completion_tokens", 0) or 0) for u in usages)
    merged["usage"] = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    return merged


def chat_piece(event: dict[str, Any]) -> str:
    choice = (event.get("choices") or [{}])[0]
    return str((choice.get("delta") or {}).get("content") or "")


def chat_prompt(body: dict[str, Any]) -> str:
    return "\n".join(str(m.get("content", "")) for m in body.get("messages", []) if isinstance(m, dict))
