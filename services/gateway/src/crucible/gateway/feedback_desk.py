"""Feedback intake: who may send it, whether the answer it names was really served, once per answer.

`FeedbackDesk.submit` in order:
1. the rating is 1..10 (else ValueError: the front ends answer 422 / INVALID_ARGUMENT);
2. the caller is within its rate (a token bucket per caller, from policy) -> `rate_limited`;
3. the response id verifies (signed by this gateway's secret, not expired) -> `forged`,
   `expired`, `malformed`, `guarded`;
4. the first feedback on that answer wins -> `duplicate` (the registry's primary key across
   replicas, and a bounded in-memory set in front of it);
5. it counts in the rollout figures of the variant and stage that answered, is stored (numbers and
   attribution, no text), and, when the exchange was published as an interaction record, its
   feedback record (text, rating, signals) goes to RAW behind it, for the scrubber and the scorer.

Every refusal is `accepted: false` with the reason, and `crucible_gateway_feedback_total{outcome}`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import Counter

from crucible.gateway.interactions import feedback_record, interaction_record_id
from crucible.gateway.policy import FeedbackPolicy
from crucible.gateway.response_ids import IssuedResponse

if TYPE_CHECKING:
    from crucible.common.registry import Registry
    from crucible.gateway.router import Router

log = logging.getLogger(__name__)

ACCEPTED, DUPLICATE, RATE_LIMITED, UNAUTHENTICATED = "accepted", "duplicate", "rate_limited", "unauthenticated"

FEEDBACK = Counter(
    "crucible_gateway_feedback_total",
    "Feedback by outcome: accepted, or why not (forged, expired, malformed, guarded, duplicate, rate_limited, "
    "unauthenticated).",
    ["outcome"],
)

_SEEN_CAPACITY = 1_000_000  # response ids remembered in memory (the registry remembers all)


@dataclass(frozen=True)
class FeedbackInput:
    response_id: str
    rating: int
    advice_accepted: bool = False
    text: str = ""
    positive_outcome: bool | None = None
    action_taken: bool | None = None
    user_id: str = ""  # the caller's user id, when sent: its subject token goes on the stored row


@dataclass(frozen=True)
class FeedbackVerdict:
    accepted: bool
    reason: str = ""


class TokenBuckets:
    """One token bucket per caller: `rate` per second, up to `burst` at once. Idle buckets are
    dropped when there are many, so a flood of distinct callers cannot grow it without bound."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self._clock = rate, float(burst), clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def allow(self, caller: str) -> bool:
        now = self._clock()
        tokens, at = self._buckets.get(caller, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        if len(self._buckets) > 100_000:
            full = self.burst / self.rate
            self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < full}
        if tokens < 1.0:
            self._buckets[caller] = (tokens, now)
            return False
        self._buckets[caller] = (tokens - 1.0, now)
        return True


class FeedbackDesk:
    def __init__(self, router: Router, policy: FeedbackPolicy) -> None:
        self.router = router
        self.policy = policy
        self.limits = TokenBuckets(policy.rate_per_second, policy.burst)
        self.registry: Registry | None = None
        self.subject_secret = b""
        self._seen: OrderedDict[str, None] = OrderedDict()

    async def submit(self, fb: FeedbackInput, caller: str) -> FeedbackVerdict:
        if not 1 <= fb.rating <= 10:
            raise ValueError(f"rating must be 1..10, got {fb.rating}")
        if not self.limits.allow(caller):
            return _refused(RATE_LIMITED)
        issued = self.router.ids.verify(fb.response_id)
        if isinstance(issued, str):
            return _refused(issued)
        if not self._first(issued.response_id):
            return _refused(DUPLICATE)
        if self.registry is not None and not await asyncio.to_thread(self._store, fb, issued, caller):
            return _refused(DUPLICATE)  # another replica took it first
        self.router.attribute_feedback(issued, fb.rating, fb.advice_accepted, fb.positive_outcome)
        log_ = self.router.interactions
        if issued.published and log_ is not None:
            log_.feedback_update(
                feedback_record(
                    issued.response_id,
                    rating=fb.rating,
                    advice_accepted=fb.advice_accepted,
                    positive_outcome=fb.positive_outcome,
                    action_taken=fb.action_taken,
                    text=fb.text,
                    user_id=fb.user_id,
                    secret=self.subject_secret,
                ),
                answered_at=issued.expires_at - self.router.ids.ttl,
            )
        FEEDBACK.labels(ACCEPTED).inc()
        return FeedbackVerdict(True)

    def refuse(self, reason: str) -> FeedbackVerdict:
        """Count a refusal decided by a front end (a missing client credential)."""
        return _refused(reason)

    def submit_local(self, response_id: str, rating: int, advice_accepted: bool) -> bool:
        """The rating alone, counted in this replica's figures (no store, no limit): tests and rigs."""
        if not 1 <= rating <= 10:
            raise ValueError(f"rating must be 1..10, got {rating}")
        issued = self.router.ids.verify(response_id)
        if isinstance(issued, str) or not self._first(issued.response_id):
            return False
        self.router.attribute_feedback(issued, rating, advice_accepted, None)
        return True

    def _first(self, response_id: str) -> bool:
        if response_id in self._seen:
            return False
        self._seen[response_id] = None
        if len(self._seen) > _SEEN_CAPACITY:
            self._seen.popitem(last=False)
        return True

    def _store(self, fb: FeedbackInput, issued: IssuedResponse, caller: str) -> bool:
        from crucible.common.feedback import FeedbackRow, store_feedback
        from crucible.gateway.interactions import subject_token

        assert self.registry is not None
        row = FeedbackRow(
            response_id=issued.response_id,
            record_id=interaction_record_id(issued.response_id) if issued.published else "",
            variant=issued.variant,
            model=self.router.model_of(issued.variant, issued.rollout_id),
            rollout_id=issued.rollout_id,
            stage_index=issued.stage_index,
            rating=fb.rating,
            advice_accepted=fb.advice_accepted,
            positive_outcome=fb.positive_outcome,
            action_taken=fb.action_taken,
            text_chars=len(fb.text),
            subject_token=subject_token(self.subject_secret, fb.user_id) if fb.user_id and self.subject_secret else "",
            caller=caller if not caller.startswith("ip:") else "",  # an address is personal data: not stored
        )
        return store_feedback(self.registry, row)


def _refused(reason: str) -> FeedbackVerdict:
    FEEDBACK.labels(reason).inc()
    return FeedbackVerdict(False, reason)
