"""`ServedMetrics` (instruments.py) exposes exactly what prometheus_client's own Counter and
Histogram expose for the same requests: the library is the reference."""

from __future__ import annotations

import random
import re

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from crucible.gateway import instruments
from crucible.gateway.instruments import _LATENCY_BUCKETS, ServedMetrics


def _reference(registry: CollectorRegistry) -> dict[str, object]:
    return {
        "requests": Counter("crucible_gateway_requests_total", instruments._REQUESTS_HELP,
                            ["variant", "model", "code"], registry=registry),
        "duration": Histogram("crucible_gateway_request_duration_seconds", instruments._DURATION_HELP,
                              ["variant"], buckets=_LATENCY_BUCKETS, registry=registry),
        "ttft": Histogram("crucible_gateway_time_to_first_token_seconds", instruments._TTFT_HELP,
                          ["variant"], buckets=_LATENCY_BUCKETS, registry=registry),
        "tokens": Counter("crucible_gateway_generated_tokens_total", instruments._TOKENS_HELP,
                          ["variant", "model"], registry=registry),
        "checked": Counter("crucible_gateway_safety_checked_total", instruments._CHECKED_HELP,
                           ["variant"], registry=registry),
    }  # fmt: skip


def _without_created(text: bytes) -> str:
    return re.sub(r"(?m)^\S+_created\{.*\n", "", text.decode())


def test_exposition_matches_prometheus_client() -> None:
    rng = random.Random(5)
    theirs_registry, ours_registry = CollectorRegistry(), CollectorRegistry()
    ref = _reference(theirs_registry)
    ours = ServedMetrics(ours_registry)
    for _ in range(2000):
        variant, model = rng.choice([("stable", "base"), ("canary", "cand")])
        code = rng.choice(["200", "200", "200", "422", "502"])
        ours.request(variant, model, code)
        ref["requests"].labels(variant, model, code).inc()
        if code != "200":
            continue
        # Bucket edges exactly, values between, beyond the last bucket, and streamed calls' ttft.
        elapsed = rng.choice([rng.choice(_LATENCY_BUCKETS), rng.uniform(0, 0.3), rng.uniform(100, 200), 0.0])
        ttft = rng.choice([None, elapsed / 3, rng.choice(_LATENCY_BUCKETS)])
        tokens = rng.randrange(0, 300)
        ours.served(variant, model, elapsed, ttft, tokens)
        ref["duration"].labels(variant).observe(elapsed)
        ref["ttft"].labels(variant).observe(elapsed if ttft is None else ttft)
        ref["tokens"].labels(variant, model).inc(tokens)
        if rng.random() < 0.5:
            ours.safety_checked(variant)
            ref["checked"].labels(variant).inc()
    theirs_text = _without_created(generate_latest(theirs_registry))
    ours_text = _without_created(generate_latest(ours_registry))
    assert sorted(ours_text.splitlines()) == sorted(theirs_text.splitlines())
    # Each series carries its creation time, as the library's do.
    assert generate_latest(ours_registry).count(b"_created{") == generate_latest(theirs_registry).count(b"_created{")


def test_the_gateway_registry_exposes_the_served_series() -> None:
    from prometheus_client import REGISTRY

    instruments.SERVED.request("stable", "m-test", "200")
    instruments.SERVED.served("stable", "m-test", 0.02, None, 7)
    labels = {"variant": "stable", "model": "m-test"}
    assert REGISTRY.get_sample_value("crucible_gateway_requests_total", {**labels, "code": "200"}) >= 1
    assert REGISTRY.get_sample_value("crucible_gateway_generated_tokens_total", labels) >= 7
    assert REGISTRY.get_sample_value("crucible_gateway_feedback_score_count", {"variant": "stable"}) is not None
