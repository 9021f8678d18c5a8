"""The built-in load generator: simulated app users sending real requests to the gateway (gRPC,
TGI HTTP plain and streamed, OpenAI chat) and rating some of the answers.

The simulated user's rating is a rule over the answer text they got and the question they asked,
the same rule for both variants, so a variant that answers worse gets worse ratings: empty answers
score low, answers that repeat themselves or are mostly not words score lower, answers that do not
speak to the question (none of its topic words) score lower, a little per-user noise on top.
It stands in for the app's users in the embedded run; production ratings come from real users
through SubmitFeedback / POST /feedback.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
import httpx

from crucible.v1 import gateway_pb2, gateway_pb2_grpc

PROMPTS = (
    "My partner and I keep arguing about chores. What can we do?",
    "How do I tell my girlfriend I need more time for myself?",
    "We have been distant since the baby was born. Any ideas?",
    "What is a good way to apologise after a fight?",
    "My husband works late every night and I feel lonely.",
    "How can we plan a date night on a small budget?",
    "I get jealous when my partner texts their ex. Is that normal?",
    "We disagree about how to spend money. How do we talk about it?",
)

_WORD = re.compile(r"^[A-Za-z][A-Za-z'’-]*[.,!?]?$")


_STOP = frozenset(
    [
        "about",
        "after",
        "again",
        "been",
        "being",
        "could",
        "does",
        "from",
        "good",
        "have",
        "ideas",
        "into",
        "keep",
        "more",
        "need",
        "should",
        "since",
        "that",
        "their",
        "there",
        "them",
        "they",
        "this",
        "what",
        "when",
        "where",
        "which",
        "while",
        "with",
        "would",
        "your",
    ]
)


def topic_words(question: str) -> set[str]:
    """The question's content words (4+ letters, not function words), cut to a 5-letter stem."""
    words = re.findall(r"[a-z]{4,}", question.lower())
    return {w[:5] for w in words if w not in _STOP}


def simulated_rating(text: str, rng: random.Random, question: str = "") -> int:
    """A 1-10 rating from what the answer looks like and whether it speaks to the question (see
    the module docstring); without a question, only the look counts."""
    words = text.split()
    if not words:
        return max(1, min(10, round(2 + rng.gauss(0, 0.5))))
    wordlike = sum(bool(_WORD.match(w)) for w in words) / len(words)
    variety = len(set(words)) / len(words)
    topics = topic_words(question)
    if not topics:
        score = 3.0 + 4.0 * wordlike + 3.0 * variety + rng.gauss(0, 0.5)
        return max(1, min(10, round(score)))
    said = {w[:5] for w in re.findall(r"[a-z]{4,}", text.lower())}
    on_topic = min(1.0, 2.0 * len(topics & said) / len(topics))
    score = 2.0 + 3.0 * wordlike + 2.0 * variety + 3.0 * on_topic + rng.gauss(0, 0.5)
    return max(1, min(10, round(score)))


@dataclass
class LoadReport:
    requests: int = 0
    client_errors: int = 0
    feedback: int = 0
    by_variant: Counter[str] = field(default_factory=Counter)
    ratings: dict[str, list[int]] = field(default_factory=lambda: {"stable": [], "canary": []})
    seconds: float = 0.0
    # Each rated exchange (question, answer, rating, ...), for the embedded run's preference round
    # until the gateway publishes interactions itself; not part of `as_dict` (the run summary).
    rated: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "client_errors": self.client_errors,
            "feedback": self.feedback,
            "by_variant": dict(self.by_variant),
            "mean_rating": {v: round(sum(r) / len(r), 2) if r else None for v, r in self.ratings.items()},
            "requests_per_second": round(self.requests / self.seconds, 1) if self.seconds else 0.0,
        }


async def run_load(
    http_url: str,
    grpc_address: str,
    *,
    users: int,
    concurrency: int,
    feedback_probability: float,
    max_new_tokens: int,
    done: Callable[[], bool],
    seed: int = 0,
    format_prompt: Callable[[str], str] | None = None,
) -> LoadReport:
    """Send requests until `done()` says stop. Client-visible errors are counted, not raised.

    Requests rotate over gRPC `Generate`, HTTP `/generate`, HTTP `/generate_stream` and OpenAI
    `/v1/chat/completions`. The TGI-style ones send `format_prompt(question)` (the model's chat
    template, as an app calling a chat model would); chat requests let the backend apply it."""
    fmt = format_prompt or (lambda q: q)
    report = LoadReport()
    rng = random.Random(seed)
    started = time.monotonic()
    async with (
        httpx.AsyncClient(base_url=http_url, timeout=60.0) as http,
        grpc.aio.insecure_channel(grpc_address) as channel,
    ):
        stub = gateway_pb2_grpc.ModelGatewayStub(channel)

        async def one(n: int) -> None:
            user = f"user-{rng.randrange(users)}"
            question = rng.choice(PROMPTS)
            prompt = fmt(question)
            kind = n % 4
            try:
                if kind == 0:
                    out = await stub.Generate(
                        gateway_pb2.GenerateRequest(
                            inputs=prompt,
                            user_id=user,
                            parameters=gateway_pb2.GenerationParameters(max_new_tokens=max_new_tokens),
                        )
                    )
                    rid, variant, text = out.response_id, out.variant, out.generated_text
                elif kind == 1:
                    r = await http.post(
                        "/generate",
                        json={"inputs": prompt, "parameters": {"max_new_tokens": max_new_tokens}},
                        headers={"x-crucible-user": user},
                    )
                    r.raise_for_status()
                    rid, variant, text = (
                        r.headers["x-crucible-response-id"],
                        r.headers["x-crucible-variant"],
                        r.json()["generated_text"],
                    )
                elif kind == 2:
                    text, rid, variant = await _stream(http, prompt, user, max_new_tokens)
                else:
                    r = await http.post(
                        "/v1/chat/completions",
                        json={
                            "model": "tgi",
                            "messages": [{"role": "user", "content": question}],
                            "max_tokens": max_new_tokens,
                            "user": user,
                        },
                    )
                    r.raise_for_status()
                    body = r.json()
                    rid, variant = body["id"], r.headers["x-crucible-variant"]
                    text = body["choices"][0]["message"]["content"] or ""
            except (grpc.aio.AioRpcError, httpx.HTTPError, KeyError, ValueError):
                report.requests += 1
                report.client_errors += 1
                return
            report.requests += 1
            report.by_variant[variant] += 1
            if rng.random() < feedback_probability:
                rating = simulated_rating(text, rng, question)
                report.ratings.setdefault(variant, []).append(rating)
                accepted = rating >= 7 if n % 2 else None
                if n % 2:
                    await stub.SubmitFeedback(
                        gateway_pb2.FeedbackRequest(response_id=rid, rating=rating, advice_accepted=rating >= 7)
                    )
                else:
                    await http.post(
                        "/feedback", json={"response_id": rid, "rating": rating, "advice_accepted": rating >= 7}
                    )
                report.feedback += 1
                report.rated.append(
                    {"question": question, "answer": text, "rating": rating, "advice_accepted": accepted,
                     "variant": variant, "response_id": rid, "user": user}
                )  # fmt: skip

        async def worker(offset: int) -> None:
            n = offset
            while not done():
                await one(n)
                n += concurrency

        await asyncio.gather(*(worker(i) for i in range(concurrency)))
    report.seconds = time.monotonic() - started
    return report


async def _stream(http: httpx.AsyncClient, prompt: str, user: str, max_new_tokens: int) -> tuple[str, str, str]:
    import json

    pieces: list[str] = []
    async with http.stream(
        "POST",
        "/generate_stream",
        json={"inputs": prompt, "parameters": {"max_new_tokens": max_new_tokens}},
        headers={"x-crucible-user": user},
    ) as r:
        r.raise_for_status()
        async for line in r.aiter_lines():
            if not line.startswith("data:"):
                continue
            event = json.loads(line[5:])
            if event.get("error"):
                raise ValueError(event["error"])
            token = event.get("token") or {}
            if not token.get("special"):
                pieces.append(token.get("text", ""))
        return "".join(pieces), r.headers["x-crucible-response-id"], r.headers["x-crucible-variant"]
