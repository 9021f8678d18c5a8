"""A local OpenAI-compatible endpoint (`POST /v1/chat/completions`, `GET /v1/models`) for the
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

SITUATIONS = (
    "You and your partner have been arguing about money since you moved in together, and last night it ended "
    "with both of you going to bed without a word.",
    "Your partner has started working late every evening, and you feel more like flatmates than a couple.",
    "You want to tell your partner that their jokes about your family hurt, but you are afraid of a fight.",
    "Since the baby arrived you barely talk about anything but schedules, and you miss being close.",
    "Your partner checks your phone when you leave the room, and it has started to make you uneasy.",
    "You have been together for two years and disagree about whether to move to another city for a job.",
)
OPENERS = (
    "We keep having the same fight and I don't know how to break the pattern.",
    "I feel invisible at home lately and I'm not sure how to bring it up.",
    "Can you help me plan how to talk about this without it turning into an argument?",
    "I'm exhausted and a bit scared that we're drifting apart.",
    "Something happened again yesterday and I can't stop thinking about it.",
)
REPLIES = (
    "That sounds really draining, and it makes sense that you feel stuck. What usually happens right before "
    "the argument starts?",
    "Thank you for telling me. Feeling unseen by someone you love hurts. When did you last feel close to them?",
    "Let's plan it together. One thing that helps is starting with how you feel rather than what they did. "
    "How would you put that in one sentence?",
    "It's okay to feel scared about this; it shows how much the relationship matters to you. What would a "
    "good evening together look like to you right now?",
    "A small step for this week: pick a calm moment, ask for twenty minutes, and share one feeling and one "
    "wish. Would that feel doable?",
    "If you ever feel unsafe, please contact local emergency services or a helpline right away; your safety "
    "comes first. Would you like to talk through what feels safe to do next?",
)
FOLLOW_UPS = (
    "Usually it starts when one of us is tired after work and a small comment turns into a big thing.",
    "Honestly it's been weeks. We used to cook together on Sundays.",
    "Maybe something like 'I miss us and I want to feel like a team again'.",
    "A quiet dinner without phones, just talking about something other than bills.",
    "Yes, I think I can try that on Saturday morning when things are calmer.",
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
    return SITUATIONS[seed % len(SITUATIONS)]


def conversation_text(seed: int, turns: int = 6) -> str:
    rng = random.Random(seed)
    lines = [f"User: {rng.choice(OPENERS)}"]
    replies = rng.sample(REPLIES, k=len(REPLIES))
    follow = rng.sample(FOLLOW_UPS, k=len(FOLLOW_UPS))
    for i in range(turns // 2):
        if i:
            lines.append(f"User: {follow[i % len(follow)]}")
        lines.append(f"Coach: {replies[i % len(replies)]}")
    return "\n".join(lines)


def _allow(state: LoopbackState) -> bool:
    if state.rate_limit is None:
        return True
    now = time.monotonic()
    state.tokens = min(state.rate_limit, state.tokens + (now - state.stamp) * state.rate_limit)
    state.stamp = now
    if state.tokens >= 1.0:
        state.tokens -= 1.0
        return True
    return False


def make_app(state: LoopbackState) -> web.Application:
    async def chat(request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
            messages = body["messages"]
            prompt = str(messages[-1]["content"])
        except (ValueError, KeyError, IndexError, TypeError):
            return web.json_response({"error": {"message": "bad request", "type": "invalid_request_error"}}, status=400)
        seed = body.get("seed")
        digest = hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()[:16]
        fault = state.faults.popleft() if state.faults else (state.always or "ok")
        if fault == "ok" and not _allow(state):
            fault = "rate_limited"
        step = "scenario" if "realistic situation" in prompt else "conversation"
        state.log.append(Served(seed, digest, fault, step))
        if fault == "timeout":
            await asyncio.sleep(state.hang)
        await asyncio.sleep(state.latency)
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
        n = int(seed or 0)
        text = scenario_text(n) if step == "scenario" else conversation_text(n)
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in messages)
        completion_tokens = len(text.split())
        return web.json_response(
            {
                "id": f"chatcmpl-{digest}",
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

    async def models(_request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "loopback", "object": "model"}]})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
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
    state.tokens = float(rate_limit or 0.0)
    state.stamp = time.monotonic()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def start() -> None:
        runner = web.AppRunner(make_app(state), access_log=None)
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
