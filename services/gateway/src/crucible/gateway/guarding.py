"""The serving safety guard in the request path (crucible.common.guard).

Before a backend is chosen, the person's turn is checked; when the guard fires, the gateway
answers with the category's vetted template (crisis lines, domestic-violence hotlines, a
refusal that names consent and privacy) and no backend is called. A guarded answer is marked:
variant `guard`, model `GUARD_VERSION`, a response id outside any rollout, `finish_reason`
`guard`. It never enters the rollout figures or the sampled safety-incident check (those see
only what a model produced), so a vetted template cannot count as an incident, and feedback on
it is attributed to no variant. `crucible_gateway_guarded_total{category}` counts them.

TGI-style `inputs` are often a whole chat rendered with a template: the guard looks at the last
user turn (ChatML, Llama 3, Llama 2/Mistral `[INST]`, Zephyr/Phi `<|user|>` and `User:`
transcripts), so a system prompt that mentions crisis lines does not trip it on every request.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from prometheus_client import Counter

from crucible.common import guard

GUARD_VARIANT = "guard"

GUARDED = Counter(
    "crucible_gateway_guarded_total",
    "Requests answered by the serving safety guard's vetted template (no backend called), by category.",
    ["category"],
)

# (a literal every such transcript contains, the pattern capturing each user turn: all matches
# taken, the last one kept), most specific first. The literal is tested first: most prompts use
# no template, and `in` is far cheaper than scanning the text with each pattern.
_USER_TURNS = (
    ("<|im_start|>", re.compile(r"<\|im_start\|>user\s*(.*?)(?:<\|im_end\|>|$)", re.DOTALL)),
    (
        "<|start_header_id|>",
        re.compile(r"<\|start_header_id\|>user<\|end_header_id\|>\s*(.*?)(?:<\|eot_id\|>|$)", re.DOTALL),
    ),
    ("[INST]", re.compile(r"\[INST\]\s*(.*?)\s*(?:\[/INST\]|$)", re.DOTALL)),
    ("<|user|>", re.compile(r"<\|user\|>\s*(.*?)(?:<\|end\|>|</s>|<\|assistant\|>|$)", re.DOTALL)),
    (
        ":",
        re.compile(r"(?:^|\n)(?:User|USER|Human|HUMAN):\s*(.*?)(?=\n(?:Assistant|ASSISTANT|AI|System):|$)", re.DOTALL),
    ),
)
_SYS_IN_INST = re.compile(r"<<SYS>>.*?<</SYS>>\s*", re.DOTALL)


def user_turns(inputs: str) -> list[str]:
    """The user turns of a rendered prompt, oldest first; the whole text when no template is seen."""
    for marker, pattern in _USER_TURNS:
        if marker not in inputs:
            continue
        turns = [_SYS_IN_INST.sub("", t).strip() for t in pattern.findall(inputs)]
        turns = [t for t in turns if t]
        if turns:
            return turns
    return [inputs]


def check_inputs(inputs: str) -> guard.GuardDecision | None:
    turns = user_turns(inputs)
    return guard.check_prompt(turns[-1], turns[:-1])


def check_chat(body: dict[str, Any]) -> guard.GuardDecision | None:
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    return guard.check_messages(
        [{"role": str(m.get("role", "")), "content": _content_text(m.get("content"))} for m in messages]
    )


def _content_text(content: Any) -> str:
    # OpenAI content may be a list of parts ({"type": "text", "text": ...}).
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return str(content or "")


def route_fields(decision: guard.GuardDecision) -> dict[str, Any]:
    """The router's `Route` for a guarded answer (counted here): variant `guard`, no rollout, and
    a response id of the router's shape with variant letter `g`, so feedback on a template is
    attributed to neither stable nor canary and no rollout figure sees it."""
    GUARDED.labels(decision.category).inc()
    return {
        "response_id": f"none.0.g.{uuid.uuid4().hex[:16]}",
        "variant": GUARD_VARIANT,
        "model": guard.GUARD_VERSION,
        "rollout_id": "",
        "stage_index": 0,
    }


def tgi_body(decision: guard.GuardDecision) -> dict[str, Any]:
    text = guard.guarded_answer(decision)
    return {
        "generated_text": text,
        "details": {"finish_reason": "guard", "generated_tokens": 0, "seed": None, "prefill": [], "tokens": []},
        "guard": {"category": decision.category, "rule_id": decision.rule_id, "version": guard.GUARD_VERSION},
    }


async def tgi_stream(decision: guard.GuardDecision) -> AsyncIterator[dict[str, Any]]:
    text = guard.guarded_answer(decision)
    yield {
        "index": 0,
        "token": {"id": 0, "text": text, "logprob": 0.0, "special": False},
        "generated_text": text,
        "details": {"finish_reason": "guard", "generated_tokens": 0, "seed": None},
    }


def chat_body(decision: guard.GuardDecision, rid: str) -> dict[str, Any]:
    return {
        "id": rid,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": guard.GUARD_VERSION,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": guard.guarded_answer(decision)},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        "guard": {"category": decision.category, "rule_id": decision.rule_id, "version": guard.GUARD_VERSION},
    }


async def chat_stream(decision: guard.GuardDecision, rid: str) -> AsyncIterator[dict[str, Any]]:
    base = {"id": rid, "object": "chat.completion.chunk", "created": int(time.time()), "model": guard.GUARD_VERSION}
    delta = {"role": "assistant", "content": guard.guarded_answer(decision)}
    yield {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
    yield {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}


def completion_body(decision: guard.GuardDecision, rid: str) -> dict[str, Any]:
    return {
        "id": rid,
        "object": "text_completion",
        "created": int(time.time()),
        "model": guard.GUARD_VERSION,
        "choices": [{"index": 0, "text": guard.guarded_answer(decision), "finish_reason": "stop", "logprobs": None}],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        "guard": {"category": decision.category, "rule_id": decision.rule_id, "version": guard.GUARD_VERSION},
    }


async def completion_stream(decision: guard.GuardDecision, rid: str) -> AsyncIterator[dict[str, Any]]:
    base = {"id": rid, "object": "text_completion", "created": int(time.time()), "model": guard.GUARD_VERSION}
    yield {**base, "choices": [{"index": 0, "text": guard.guarded_answer(decision), "finish_reason": None}]}
    yield {**base, "choices": [{"index": 0, "text": "", "finish_reason": "stop"}]}
