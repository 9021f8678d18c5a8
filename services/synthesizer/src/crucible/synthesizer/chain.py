"""The fallback chain: endpoints tried in policy order. On each: the circuit breaker may skip
it, the token bucket paces it, retryable failures are retried with jittered back-off (a
Retry-After longer than the endpoint's longest back-off moves on at once), and a request that
still fails moves to the next endpoint. Tokens, cost and failures are counted per endpoint."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from crucible.synthesizer import metrics
from crucible.synthesizer.policy import EndpointPolicy
from crucible.synthesizer.providers import Completion, ProviderError, complete
from crucible.synthesizer.resilience import CLOSED, CircuitBreaker, TokenBucket, backoff_delay


@dataclass
class Usage:
    requests: int = 0
    successes: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    skipped_open: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "successes": self.successes,
            "failures": dict(self.failures),
            "skipped_open_circuit": self.skipped_open,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost": round(self.cost, 6),
        }


@dataclass
class EndpointState:
    policy: EndpointPolicy
    bucket: TokenBucket
    breaker: CircuitBreaker
    usage: Usage = field(default_factory=Usage)


@dataclass(frozen=True)
class Generated:
    completion: Completion
    endpoint: str
    model: str
    attempts: int  # requests this call made across the chain


class ChainExhausted(RuntimeError):
    """Every endpoint failed or was skipped for one request; the caller keeps the item for later."""


class FallbackChain:
    def __init__(
        self,
        endpoints: Sequence[EndpointPolicy],
        *,
        client: httpx.AsyncClient | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.states = [
            EndpointState(
                e,
                TokenBucket(e.rate_per_second, e.burst),
                CircuitBreaker(e.breaker_failures, e.breaker_cooldown_seconds),
            )
            for e in endpoints
        ]
        self._client = client
        self._own_client = client is None
        self.rng = rng or random.Random()

    async def __aenter__(self) -> FallbackChain:
        if self._client is None:
            limits = httpx.Limits(max_connections=256, max_keepalive_connections=64)
            self._client = httpx.AsyncClient(limits=limits)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._own_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    def usage(self) -> dict[str, dict[str, Any]]:
        return {s.policy.name: s.usage.to_dict() | {"circuit": s.breaker.state} for s in self.states}

    async def generate(self, messages: Sequence[Mapping[str, str]], params: Mapping[str, Any]) -> Generated:
        assert self._client is not None, "use `async with FallbackChain(...)`"
        errors: list[str] = []
        attempts = 0
        for state in self.states:
            ep = state.policy
            if not state.breaker.allow():
                state.usage.skipped_open += 1
                metrics.SKIPPED.labels(ep.name).inc()
                errors.append(f"{ep.name}: circuit open")
                continue
            for attempt in range(ep.retries + 1):
                wait = state.bucket.reserve()
                if wait > 0:
                    await asyncio.sleep(wait)
                attempts += 1
                state.usage.requests += 1
                try:
                    result = await complete(self._client, ep, messages, params)
                except ProviderError as err:
                    state.usage.failures[err.kind] += 1
                    state.breaker.failure()
                    metrics.REQUESTS.labels(ep.name, err.kind).inc()
                    metrics.CIRCUIT_OPEN.labels(ep.name).set(state.breaker.state != CLOSED)
                    errors.append(f"{ep.name}: {err}")
                    too_long = err.retry_after is not None and err.retry_after > ep.backoff_max_seconds
                    if not err.retryable or too_long or attempt == ep.retries or state.breaker.state != CLOSED:
                        break
                    await asyncio.sleep(
                        backoff_delay(attempt, ep.backoff_seconds, ep.backoff_max_seconds, self.rng, err.retry_after)
                    )
                    continue
                state.breaker.success()
                state.usage.successes += 1
                metrics.REQUESTS.labels(ep.name, "ok").inc()
                metrics.CIRCUIT_OPEN.labels(ep.name).set(0)
                state.usage.prompt_tokens += result.prompt_tokens
                state.usage.completion_tokens += result.completion_tokens
                cost = (
                    result.prompt_tokens * ep.cost_per_1k_prompt_tokens
                    + result.completion_tokens * ep.cost_per_1k_completion_tokens
                ) / 1000.0
                state.usage.cost += cost
                metrics.TOKENS.labels(ep.name, "prompt").inc(result.prompt_tokens)
                metrics.TOKENS.labels(ep.name, "completion").inc(result.completion_tokens)
                metrics.COST.labels(ep.name).inc(cost)
                return Generated(result, ep.name, ep.model, attempts)
        raise ChainExhausted("; ".join(errors[-6:]) or "no endpoint configured")
