"""A local OpenAI-compatible endpoint (`POST /v1/chat/completions`, `GET /v1/models`; TGI's
`POST /generate` too) for the
bench and the tests: real HTTP on loopback, a fixed latency, its own rate limit (429 with
Retry-After beyond it), and scripted faults (5xx, 429, hangs past the client's timeout, bad JSON).

It answers the synthesizer's two prompts with well-formed text: a situation for the first, a
`User:`/`Coach:` conversation for the second, varied by the request's seed. Every request is
logged (seed, prompt digest, outcome) so tests can prove none was lost or doubled.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

# What the endpoint writes: coherent exchanges built from a topic (what the person brings), how
# they open, what they add when asked, and the coach's reflect -> ask -> suggest replies, so the
# scorer's coherence and empathy judges see a conversation, and seeds vary enough for dedup.
TOPICS = (
    ("money", "we keep fighting about money since we moved in together", "who pays for what"),
    ("time", "my partner works late every evening and we feel like flatmates", "evenings alone"),
    ("family", "my partner's jokes about my family hurt me", "the comments at dinner"),
    ("baby", "since the baby arrived we only talk about schedules", "how tired we both are"),
    ("trust", "my partner checks my phone when I leave the room", "feeling watched"),
    ("moving", "we disagree about moving to another city for my job", "leaving our friends"),
    ("chores", "I do most of the housework and I feel resentful", "the unfair split"),
    ("intimacy", "we have not been close in months and I miss it", "feeling rejected"),
)
OPENERS = (
    "Hi. {issue}, and I don't know how to talk about it without a fight.",
    "I need some help. {issue}. It's been building up for weeks.",
    "Honestly I'm worn out. {issue} and I feel stuck.",
    "Can I ask you something? {issue}, and last night it got bad again.",
)
REFLECTIONS = (
    "That sounds really painful, and it makes sense that you feel stuck when {issue_short}. "
    "What happens between you two when the subject of {topic} comes up?",
    "Thank you for telling me. It's hard to carry that on your own, especially around {topic}. "
    "How do you feel in the moment when it starts?",
    "I can hear how tired you are, and your feelings about {topic} are valid. "
    "What would you most like your partner to understand?",
)
DETAILS = (
    "Usually one of us makes a small comment about {detail} and then we both get defensive.",
    "I feel hurt and a bit lonely, mostly because of {detail}.",
    "I want them to know that {detail} matters to me and that I'm not trying to blame them.",
    "It mostly comes up at night, when we're both exhausted and {detail} is on my mind.",
)
STEPS = (
    "That makes a lot of sense. One small step for this week: pick a calm moment, ask for twenty minutes, "
    "and start with how you feel about {detail} rather than what they did. How does that sound?",
    "You're already doing something important by naming it. Try saying 'I feel hurt about {detail} and I want "
    "us to be a team on this', then ask what it's like for them. Could you try that this weekend?",
    "It sounds like you both care and you're both stretched. A gentle start could be sharing one feeling and "
    "one wish about {detail}, and listening to theirs without solving it straight away. Would that feel doable?",
)
CLOSINGS = (
    "Yes, I think I can try that on Saturday morning when things are calmer.",
    "That feels less scary than what I was planning. I'll try it.",
    "Okay. I'm nervous, but I want to try.",
)
WRAPS = (
    "That's a brave step. Afterwards, notice what went well, even if it was small, and come back to tell me "
    "how it went. You don't have to fix everything in one conversation.",
    "I'm glad. Go gently with yourself too; one honest conversation about {topic} is a real start. "
    "Let me know how it goes.",
)


@dataclass
class Served:
    seed: int | None
    digest: str
    outcome: str  # ok | rate_limited | http_500 | timeout | garbage
    step: str  # scenario | conversation (which of the synthesizer's prompts it answered)


@dataclass
class LoopbackState:
    latency: float
    rate_limit: float | None  # requests/second the endpoint itself allows (429 beyond)
    retry_after: float
    faults: deque[str] = field(default_factory=deque)  # consumed one per request, then "ok"
    always: str | None = None  # a fault on every request (a provider that is down)
    hang: float = 30.0
    log: list[Served] = field(default_factory=list)
    tokens: float = 0.0
    stamp: float = 0.0


def scenario_text(seed: int) -> str:
    topic, issue, detail = TOPICS[seed % len(TOPICS)]
    return (
        f"You and your partner are struggling: {issue}. It keeps coming back to {detail}, "
        f"and you want to talk about {topic} without it turning into a fight."
    )


def conversation_text(seed: int) -> str:
    rng = random.Random(seed)
    topic, issue, detail = TOPICS[seed % len(TOPICS)]
    fill = {"topic": topic, "issue": issue[0].upper() + issue[1:], "issue_short": issue, "detail": detail}
    turns = [
        ("User", rng.choice(OPENERS)),
        ("Coach", rng.choice(REFLECTIONS)),
        ("User", rng.choice(DETAILS)),
        ("Coach", rng.choice(STEPS)),
        ("User", rng.choice(CLOSINGS)),
        ("Coach", rng.choice(WRAPS)),
    ]
    return "\n".join(f"{who}: {text.format(**fill)}" for who, text in turns)


def _allow(state: LoopbackState) -> bool:
    if state.rate_limit is None:
        return True
    now = time.monotonic()
    state.tokens = min(max(state.rate_limit / 4, 1.0), state.tokens + (now - state.stamp) * state.rate_limit)
    state.stamp = now
    if state.tokens >= 1.0:
        state.tokens -= 1.0
        return True
    return False


def _serve(state: LoopbackState, messages: Any, seed: Any) -> tuple[str, str]:
    """Log the request and pick its fault; returns (fault, step)."""
    prompt = str(messages[-1]["content"]) if isinstance(messages, list) else str(messages)
    digest = hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()[:16]
    fault = state.faults.popleft() if state.faults else (state.always or "ok")
    if fault == "ok" and not _allow(state):
        fault = "rate_limited"
    step = "scenario" if "realistic situation" in prompt else "conversation"
    state.log.append(Served(seed, digest, fault, step))
    return fault, step


def _fault_response(state: LoopbackState, fault: str) -> web.Response | None:
    if fault == "rate_limited":
        return web.json_response(
            {"error": {"message": "Rate limit reached", "type": "rate_limit_error"}},
            status=429,
            headers={"Retry-After": f"{state.retry_after:g}"},
        )
    if fault == "http_500":
        return web.json_response({"error": {"message": "internal error", "type": "server_error"}}, status=500)
    if fault == "garbage":
        return web.Response(text="<html>bad gateway</html>", status=200, content_type="text/html")
    return None


async def _answer(state: LoopbackState, prompt: Any, seed: Any) -> tuple[web.Response | None, str]:
    """What both protocols do for one request: the scripted fault (or its delay), the endpoint's
    latency, then the scenario or conversation text for this seed."""
    fault, step = _serve(state, prompt, seed)
    if fault == "timeout":
        await asyncio.sleep(state.hang)
    await asyncio.sleep(state.latency)
    failed = _fault_response(state, fault)
    if failed is not None:
        return failed, ""
    n = int(seed or 0)
    return None, scenario_text(n) if step == "scenario" else conversation_text(n)


def make_app(state: LoopbackState) -> web.Application:
    async def chat(request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
            messages = body["messages"]
            str(messages[-1]["content"])
        except (ValueError, KeyError, IndexError, TypeError):
            return web.json_response({"error": {"message": "bad request", "type": "invalid_request_error"}}, status=400)
        seed = body.get("seed")
        failed, text = await _answer(state, messages, seed)
        if failed is not None:
            return failed
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in messages)
        completion_tokens = len(text.split())
        return web.json_response(
            {
                "id": f"chatcmpl-{state.log[-1].digest}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "loopback"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            }
        )

    async def generate(request: web.Request) -> web.StreamResponse:
        """TGI's `POST /generate` ({"inputs", "parameters"} -> {"generated_text", "details"})."""
        try:
            body = await request.json()
            inputs = str(body["inputs"])
            params = body.get("parameters") or {}
        except (ValueError, KeyError, TypeError):
            return web.json_response({"error": "bad request", "error_type": "validation"}, status=422)
        seed = params.get("seed")
        failed, text = await _answer(state, inputs, seed)
        if failed is not None:
            return failed
        return web.json_response(
            {
                "generated_text": text,
                "details": {
                    "finish_reason": "eos_token",
                    "generated_tokens": len(text.split()),
                    "seed": seed,
                    "prefill": [],
                    "tokens": [],
                },
            }
        )

    async def models(_request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "loopback", "object": "model"}]})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_post("/generate", generate)
    app.router.add_get("/v1/models", models)
    return app


@contextmanager
def loopback_provider(
    *,
    latency: float = 0.0,
    rate_limit: float | None = None,
    retry_after: float = 0.2,
    faults: Iterable[str] = (),
    always: str | None = None,
    hang: float = 30.0,
) -> Iterator[tuple[str, LoopbackState]]:
    """Serve on a free loopback port in a thread of its own; yields (base URL, state)."""
    state = LoopbackState(latency, rate_limit, retry_after, deque(faults), always, hang)
    state.tokens = max(rate_limit / 4, 1.0) if rate_limit else 0.0  # a quarter second of burst: the limit is the rate
    state.stamp = time.monotonic()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def start() -> None:
        # A client that gave up (its timeout) cancels the handler, as a real server's would stop work.
        runner = web.AppRunner(make_app(state), access_log=None, handler_cancellation=True)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        holder["runner"] = runner
        holder["port"] = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(holder["runner"].cleanup())
        loop.close()

    thread = threading.Thread(target=serve, name="loopback-provider", daemon=True)
    thread.start()
    if not ready.wait(10):
        raise RuntimeError("the loopback provider did not start")
    try:
        yield f"http://127.0.0.1:{holder['port']}", state
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
