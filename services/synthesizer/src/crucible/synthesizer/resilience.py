"""Per-endpoint protection: a token bucket (rate limit), a circuit breaker (skip a failing
endpoint for a cool-down) and jittered exponential back-off. Clock-injected, so unit tests
drive time by hand; the chain uses the event loop's monotonic clock."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

Clock = Callable[[], float]


@dataclass
class TokenBucket:
    """`rate` tokens per second, at most `capacity` stored. `reserve()` takes one token now and
    says how long the caller must wait for it (0 when one was available), so concurrent callers
    queue in order instead of polling."""

    rate: float
    capacity: float
    clock: Clock = time.monotonic
    tokens: float = field(init=False)
    stamp: float = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = float(self.capacity)
        self.stamp = self.clock()

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def reserve(self) -> float:
        self._refill()
        self.tokens -= 1.0
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate


CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


@dataclass
class CircuitBreaker:
    """Opens after `failures` consecutive failures; after `cooldown` seconds one trial request
    is let through (half-open): success closes it, failure opens it for another cool-down."""

    failures: int
    cooldown: float
    clock: Clock = time.monotonic
    consecutive: int = 0
    opened_at: float | None = None
    trial_in_flight: bool = False
    opened: int = 0  # times it opened (metrics, tests)

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return CLOSED
        return HALF_OPEN if self.clock() - self.opened_at >= self.cooldown else OPEN

    def allow(self) -> bool:
        state = self.state
        if state == CLOSED:
            return True
        if state == HALF_OPEN and not self.trial_in_flight:
            self.trial_in_flight = True
            return True
        return False

    def success(self) -> None:
        self.consecutive = 0
        self.opened_at = None
        self.trial_in_flight = False

    def failure(self) -> None:
        self.consecutive += 1
        if self.trial_in_flight or (self.opened_at is None and self.consecutive >= self.failures):
            self.opened_at = self.clock()
            self.opened += 1
        self.trial_in_flight = False


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random, retry_after: float | None = None) -> float:
    """Full-jitter exponential back-off (AWS architecture blog): uniform in [0, min(cap, base*2^attempt)].
    A server's Retry-After is a floor: asking again sooner only earns another 429."""
    delay = rng.uniform(0.0, min(cap, base * (2**attempt)))
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay
