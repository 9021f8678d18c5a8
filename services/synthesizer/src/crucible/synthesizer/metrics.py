"""Prometheus metrics of the chain (exported by `crucible serve synthesizer`'s /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

REQUESTS = Counter(
    "crucible_synth_requests_total",
    "Requests to LLM endpoints by outcome (ok, or the failure kind: rate_limited, http_5xx, timeout, ...).",
    ["endpoint", "outcome"],
)
SKIPPED = Counter(
    "crucible_synth_skipped_total", "Requests that skipped an endpoint because its circuit was open.", ["endpoint"]
)
TOKENS = Counter(
    "crucible_synth_tokens_total", "Tokens by endpoint and kind (prompt, completion).", ["endpoint", "kind"]
)
COST = Counter("crucible_synth_cost_total", "Cost by endpoint, in the policy's cost unit.", ["endpoint"])
CIRCUIT_OPEN = Gauge("crucible_synth_circuit_open", "1 while an endpoint's circuit is open.", ["endpoint"])
ITEMS = Counter(
    "crucible_synth_items_total",
    "Plan items by outcome (generated, rejected:<reason>, no_endpoint).",
    ["outcome"],
)
