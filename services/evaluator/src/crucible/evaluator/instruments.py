"""Prometheus instruments of the evaluator (the alert CrucibleEvaluationGateFailed reads the counter)."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import Counter, Histogram

EVALUATIONS = Counter(
    "crucible_evaluations_total", "Candidate models evaluated, by gate result (passed or failed).", ["result"]
)
GATE_FAILURES = Counter("crucible_evaluation_gate_failures_total", "Failed evaluation gates, by gate.", ["gate"])
EVALUATION_SECONDS = Histogram(
    "crucible_evaluation_duration_seconds",
    "Wall time of one model evaluation (generation, metrics, safety suite, pairwise rating).",
    buckets=(10, 30, 60, 120, 300, 600, 1200, 2400, 3600, 7200),
)


def record_evaluation(passed: bool, failed_gates: Iterable[str], seconds: float) -> None:
    """Count one finished evaluation; gate names are a fixed, small set, so they are safe labels."""
    EVALUATIONS.labels(result="passed" if passed else "failed").inc()
    for gate in failed_gates:
        GATE_FAILURES.labels(gate=gate).inc()
    EVALUATION_SECONDS.observe(seconds)
