"""Per-variant figures the gateway measures itself (TGI's own metrics carry no adapter label).

Figures must merge across replicas (each replica writes its own to the KV store and the
analysis sums them), so latencies go into a fixed log-spaced histogram instead of a list of
samples: merging is adding counts, and a percentile is read from the cumulative counts with
about 5 % resolution, which is plenty to compare a canary with its stable.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import Any

# Bucket upper bounds: 0.1 ms .. ~10 min, growing 5 % per bucket.
_GROWTH = 1.05
BOUNDS: tuple[float, ...] = tuple(1e-4 * _GROWTH**i for i in range(int(math.log(6e6) / math.log(_GROWTH)) + 2))


def _bucket(seconds: float) -> int:
    return min(bisect.bisect_left(BOUNDS, max(seconds, 0.0)), len(BOUNDS) - 1)


def percentile(hist: dict[int, int], q: float) -> float:
    """The upper bound of the bucket holding the q-quantile (0 when empty)."""
    total = sum(hist.values())
    if total == 0:
        return 0.0
    rank = q * total
    seen = 0
    for i in sorted(hist):
        seen += hist[i]
        if seen >= rank:
            return BOUNDS[i]
    return BOUNDS[max(hist)]


@dataclass
class VariantFigures:
    requests: int = 0
    errors: int = 0
    generated_tokens: int = 0
    latency: dict[int, int] = field(default_factory=dict)
    ttft: dict[int, int] = field(default_factory=dict)
    rating_sum: float = 0.0
    rating_count: int = 0
    advice_accepted: int = 0
    safety_checked: int = 0
    safety_incidents: int = 0
    outcome_reports: int = 0
    positive_outcomes: int = 0

    def record_request(self, *, ok: bool, latency_s: float, ttft_s: float | None, tokens: int) -> None:
        self.requests += 1
        if not ok:
            self.errors += 1
            return
        i = _bucket(latency_s)
        self.latency[i] = self.latency.get(i, 0) + 1
        j = i if ttft_s is None else _bucket(ttft_s)  # a whole answer's ttft is its latency: one search
        self.ttft[j] = self.ttft.get(j, 0) + 1
        self.generated_tokens += tokens

    def record_feedback(self, rating: int, advice_accepted: bool, positive_outcome: bool | None = None) -> None:
        self.rating_sum += rating
        self.rating_count += 1
        self.advice_accepted += int(advice_accepted)
        if positive_outcome is not None:
            self.outcome_reports += 1
            self.positive_outcomes += int(positive_outcome)

    def record_safety(self, *, flagged: bool) -> None:
        self.safety_checked += 1
        self.safety_incidents += int(flagged)

    def merge(self, other: VariantFigures) -> VariantFigures:
        out = VariantFigures(
            requests=self.requests + other.requests,
            errors=self.errors + other.errors,
            generated_tokens=self.generated_tokens + other.generated_tokens,
            latency=dict(self.latency),
            ttft=dict(self.ttft),
            rating_sum=self.rating_sum + other.rating_sum,
            rating_count=self.rating_count + other.rating_count,
            advice_accepted=self.advice_accepted + other.advice_accepted,
            safety_checked=self.safety_checked + other.safety_checked,
            safety_incidents=self.safety_incidents + other.safety_incidents,
            outcome_reports=self.outcome_reports + other.outcome_reports,
            positive_outcomes=self.positive_outcomes + other.positive_outcomes,
        )
        for src, dst in ((other.latency, out.latency), (other.ttft, out.ttft)):
            for k, v in src.items():
                dst[k] = dst.get(k, 0) + v
        return out

    def summary(self) -> Summary:
        return Summary(
            requests=self.requests,
            errors=self.errors,
            error_rate=self.errors / self.requests if self.requests else 0.0,
            p95_latency_seconds=percentile(self.latency, 0.95),
            p95_ttft_seconds=percentile(self.ttft, 0.95),
            mean_satisfaction=self.rating_sum / self.rating_count if self.rating_count else 0.0,
            feedback_count=self.rating_count,
            safety_incidents=self.safety_incidents,
            advice_acceptance=self.advice_accepted / self.rating_count if self.rating_count else 0.0,
            feedback_rate=self.rating_count / self.requests if self.requests else 0.0,
            positive_outcome_rate=self.positive_outcomes / self.outcome_reports if self.outcome_reports else 0.0,
            outcome_reports=self.outcome_reports,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "generated_tokens": self.generated_tokens,
            "latency": {str(k): v for k, v in self.latency.items()},
            "ttft": {str(k): v for k, v in self.ttft.items()},
            "rating_sum": self.rating_sum,
            "rating_count": self.rating_count,
            "advice_accepted": self.advice_accepted,
            "safety_checked": self.safety_checked,
            "safety_incidents": self.safety_incidents,
            "outcome_reports": self.outcome_reports,
            "positive_outcomes": self.positive_outcomes,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VariantFigures:
        return cls(
            requests=int(data.get("requests", 0)),
            errors=int(data.get("errors", 0)),
            generated_tokens=int(data.get("generated_tokens", 0)),
            latency={int(k): int(v) for k, v in data.get("latency", {}).items()},
            ttft={int(k): int(v) for k, v in data.get("ttft", {}).items()},
            rating_sum=float(data.get("rating_sum", 0.0)),
            rating_count=int(data.get("rating_count", 0)),
            advice_accepted=int(data.get("advice_accepted", 0)),
            safety_checked=int(data.get("safety_checked", 0)),
            safety_incidents=int(data.get("safety_incidents", 0)),
            outcome_reports=int(data.get("outcome_reports", 0)),
            positive_outcomes=int(data.get("positive_outcomes", 0)),
        )


@dataclass(frozen=True)
class Summary:
    """What the analysis compares: one variant's figures over a window."""

    requests: int = 0
    errors: int = 0
    error_rate: float = 0.0
    p95_latency_seconds: float = 0.0
    p95_ttft_seconds: float = 0.0
    mean_satisfaction: float = 0.0
    feedback_count: int = 0
    safety_incidents: int = 0
    # The seeds' A/B figures: share of ratings whose advice was accepted, ratings per request,
    # share of outcome reports that were positive (and how many there were).
    advice_acceptance: float = 0.0
    feedback_rate: float = 0.0
    positive_outcome_rate: float = 0.0
    outcome_reports: int = 0


@dataclass
class StageFigures:
    """Both variants' figures for one stage of one rollout, as measured by one replica (or merged)."""

    stable: VariantFigures = field(default_factory=VariantFigures)
    canary: VariantFigures = field(default_factory=VariantFigures)

    def variant(self, name: str) -> VariantFigures:
        return self.canary if name == "canary" else self.stable

    def merge(self, other: StageFigures) -> StageFigures:
        return StageFigures(stable=self.stable.merge(other.stable), canary=self.canary.merge(other.canary))

    def to_json(self) -> dict[str, Any]:
        return {"stable": self.stable.to_json(), "canary": self.canary.to_json()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StageFigures:
        return cls(
            stable=VariantFigures.from_json(data.get("stable", {})),
            canary=VariantFigures.from_json(data.get("canary", {})),
        )


def merge_all(items: list[StageFigures]) -> StageFigures:
    out = StageFigures()
    for item in items:
        out = out.merge(item)
    return out
