"""Token bucket, circuit breaker and back-off on a hand-driven clock."""

from __future__ import annotations

import random

from crucible.synthesizer.resilience import CLOSED, HALF_OPEN, OPEN, CircuitBreaker, TokenBucket, backoff_delay


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_paces_beyond_its_burst() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=10.0, capacity=2, clock=clock)
    assert [bucket.reserve() for _ in range(2)] == [0.0, 0.0]
    assert abs(bucket.reserve() - 0.1) < 1e-9  # the third waits one refill
    assert abs(bucket.reserve() - 0.2) < 1e-9  # the fourth queues behind it
    clock.now = 1.0
    assert bucket.reserve() == 0.0


def test_breaker_opens_lets_one_trial_through_and_closes() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failures=3, cooldown=30.0, clock=clock)
    for _ in range(2):
        breaker.failure()
    assert breaker.state == CLOSED and breaker.allow()
    breaker.failure()
    assert breaker.state == OPEN and not breaker.allow()
    clock.now = 30.0
    assert breaker.state == HALF_OPEN
    assert breaker.allow() and not breaker.allow()  # one trial at a time
    breaker.success()
    assert breaker.state == CLOSED and breaker.consecutive == 0


def test_a_failed_trial_opens_the_breaker_again() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failures=1, cooldown=5.0, clock=clock)
    breaker.failure()
    clock.now = 5.0
    assert breaker.allow()
    breaker.failure()
    assert breaker.state == OPEN and breaker.opened == 2
    clock.now = 9.0
    assert not breaker.allow()


def test_backoff_is_jittered_capped_and_floored_by_retry_after() -> None:
    rng = random.Random(0)
    delays = [backoff_delay(5, 0.5, 2.0, rng) for _ in range(200)]
    assert max(delays) <= 2.0 and min(delays) >= 0.0 and len(set(delays)) > 100
    assert backoff_delay(0, 0.5, 2.0, rng, retry_after=3.0) == 3.0
