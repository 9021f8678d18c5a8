"""The gateway's Prometheus instruments (names from the issue; no user ids as labels)."""

from __future__ import annotations

import bisect
import functools
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

from crucible.gateway.state import STATES

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)

FEEDBACK_SCORE = Histogram(
    "crucible_gateway_feedback_score",
    "User ratings (1-10) attributed to the variant that produced the response.",
    ["variant"],
    buckets=tuple(float(x) for x in range(1, 11)),
)
FEEDBACK_ADVICE_ACCEPTED = Counter(
    "crucible_gateway_feedback_advice_accepted_total",
    "Ratings whose advice the user accepted, by variant (divide by the feedback score count: advice acceptance).",
    ["variant"],
)
FEEDBACK_OUTCOMES = Counter(
    "crucible_gateway_feedback_outcomes_total",
    "Outcome signals sent with feedback, by variant and outcome (positive | negative).",
    ["variant", "outcome"],
)
ROLLOUT_WEIGHT = Gauge("crucible_rollout_weight", "Traffic weight in percent, by variant.", ["variant"])
ROLLOUT_STATE = Gauge("crucible_rollout_state", "1 for the rollout's current state, 0 for the others.", ["state"])
DELIVERIES = Counter(
    "crucible_gateway_adapter_deliveries_total",
    "Adapter deliveries to the serving fleet, by method (runtime_api|restart|external), outcome and reason.",
    ["method", "outcome", "reason"],
)
SAFETY_INCIDENTS = Counter(
    "crucible_gateway_safety_incidents_total",
    "Served answers the answer-safety judge found unsafe, by variant (stable|canary) and category.",
    ["variant", "category"],
)
ANSWER_JUDGE_INFO = Gauge(
    "crucible_gateway_answer_judge_info", "1 for the answer-safety judge version in use.", ["version"]
)


@functools.cache
def feedback_score_child(variant: str) -> Any:
    SERVED.variant_seen(variant)  # the variant's latency series appear with its rating series
    return FEEDBACK_SCORE.labels(variant)


def set_rollout_gauges(state: str, canary_weight: float) -> None:
    ROLLOUT_WEIGHT.labels("canary").set(canary_weight)
    ROLLOUT_WEIGHT.labels("stable").set(100.0 - canary_weight)
    for name in STATES:
        ROLLOUT_STATE.labels(name).set(1.0 if name == state else 0.0)


class ServedMetrics:
    """The per-request instruments of the serving path, as one Prometheus collector:
    `crucible_gateway_requests_total{variant,model,code}`, `..._request_duration_seconds{variant}`,
    `..._time_to_first_token_seconds{variant}` (the whole request for non-streaming calls),
    `..._generated_tokens_total{variant,model}` and `..._safety_checked_total{variant}`, exposed
    exactly as prometheus_client's Counter and Histogram expose them (`tests/unit/gateway/
    test_served_metrics.py` compares the two).

    Why not those classes: every request made seven of their locked, validated updates (~4.5 µs
    of the gateway's ~45 µs own CPU per request, issue 17). Here a request is one call: plain
    counts (the gateway updates them from its one event loop; a scrape copies them), one bucket
    search shared by both histograms when they get the same value. Counts become samples only
    when scraped."""

    def __init__(self, registry: CollectorRegistry | None = REGISTRY) -> None:
        self._requests: dict[tuple[str, str, str], list[float]] = {}  # [count, created]
        self._tokens: dict[tuple[str, str], list[float]] = {}
        self._checked: dict[str, list[float]] = {}
        # Per variant: [duration buckets, ttft buckets, [duration sum, ttft sum], created]
        self._latency: dict[str, list[Any]] = {}
        if registry is not None:
            registry.register(self)

    def request(self, variant: str, model: str, code: str) -> None:
        row = self._requests.get((variant, model, code))
        if row is None:
            row = self._requests[(variant, model, code)] = [0.0, time.time()]
        row[0] += 1

    def served(self, variant: str, model: str, elapsed: float, ttft: float | None, tokens: int) -> None:
        """A successful answer: its latency, time to first token and tokens."""
        hist = self._latency.get(variant)
        if hist is None:
            hist = self.variant_seen(variant)
        i = bisect.bisect_left(_LATENCY_BUCKETS, elapsed)
        hist[0][i] += 1
        hist[1][i if ttft is None else bisect.bisect_left(_LATENCY_BUCKETS, ttft)] += 1
        sums = hist[2]
        sums[0] += elapsed
        sums[1] += elapsed if ttft is None else ttft
        row = self._tokens.get((variant, model))
        if row is None:
            row = self._tokens[(variant, model)] = [0.0, time.time()]
        row[0] += tokens

    def safety_checked(self, variant: str) -> None:
        row = self._checked.get(variant)
        if row is None:
            row = self._checked[variant] = [0.0, time.time()]
        row[0] += 1

    def variant_seen(self, variant: str) -> list[Any]:
        """The variant's latency series (zero until served), created with its rating series."""
        hist = self._latency.get(variant)
        if hist is None:
            size = len(_LATENCY_BUCKETS) + 1  # the last one is +Inf
            hist = self._latency[variant] = [[0.0] * size, [0.0] * size, [0.0, 0.0], time.time()]
            feedback_score_child(variant)
        return hist

    def describe(self) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "crucible_gateway_requests_total", _REQUESTS_HELP, labels=["variant", "model", "code"]
        )
        yield HistogramMetricFamily("crucible_gateway_request_duration_seconds", _DURATION_HELP, labels=["variant"])
        yield HistogramMetricFamily("crucible_gateway_time_to_first_token_seconds", _TTFT_HELP, labels=["variant"])
        yield CounterMetricFamily("crucible_gateway_generated_tokens_total", _TOKENS_HELP, labels=["variant", "model"])
        yield CounterMetricFamily("crucible_gateway_safety_checked_total", _CHECKED_HELP, labels=["variant"])

    def collect(self) -> Iterator[Metric]:
        requests, durations, ttfts, tokens, checked = self.describe()
        for labels, (value, created) in list(self._requests.items()):
            requests.add_metric(labels, value, created=created)
        for variant, (duration, ttft, sums, created) in list(self._latency.items()):
            for family, counts, total in ((durations, duration, sums[0]), (ttfts, ttft, sums[1])):
                _add_histogram(family, variant, counts, total, created)
        for labels, (value, created) in list(self._tokens.items()):
            tokens.add_metric(labels, value, created=created)
        for variant, (value, created) in list(self._checked.items()):
            checked.add_metric([variant], value, created=created)
        yield from (requests, durations, ttfts, tokens, checked)


_REQUESTS_HELP = "Requests the gateway answered or attempted, by variant, model and status code (502 = backend error)."
_DURATION_HELP = "Backend time per request (until the last token), by variant."
_TTFT_HELP = "Time until the first streamed token (whole request for non-streaming calls), by variant."
_TOKENS_HELP = "Tokens generated by the backends, by variant and model."
_CHECKED_HELP = "Served answers read by the answer-safety judge (the sample), by variant."
_BUCKET_NAMES = [floatToGoString(b) for b in _LATENCY_BUCKETS] + ["+Inf"]


def _add_histogram(
    family: HistogramMetricFamily, variant: str, counts: list[float], total: float, created: float
) -> None:
    cumulative, buckets = 0.0, []
    for name, count in zip(_BUCKET_NAMES, counts, strict=True):
        cumulative += count
        buckets.append((name, cumulative))
    family.add_metric([variant], buckets, total)
    family.samples.append(Sample(family.name + "_created", {"variant": variant}, created))


SERVED = ServedMetrics()
