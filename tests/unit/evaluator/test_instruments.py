"""The evaluator's Prometheus counters, which the CrucibleEvaluationGateFailed alert reads."""

from prometheus_client import REGISTRY

from crucible.evaluator.instruments import record_evaluation


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_failed_evaluation_counts_as_failed_and_names_its_gates() -> None:
    failed_before = _value("crucible_evaluations_total", result="failed")
    passed_before = _value("crucible_evaluations_total", result="passed")
    safety_before = _value("crucible_evaluation_gate_failures_total", gate="safety")
    record_evaluation(False, ["safety"], 12.0)
    assert _value("crucible_evaluations_total", result="failed") == failed_before + 1
    assert _value("crucible_evaluations_total", result="passed") == passed_before
    assert _value("crucible_evaluation_gate_failures_total", gate="safety") == safety_before + 1


def test_a_passed_evaluation_observes_its_duration() -> None:
    count_before = _value("crucible_evaluation_duration_seconds_count")
    passed_before = _value("crucible_evaluations_total", result="passed")
    record_evaluation(True, [], 42.0)
    assert _value("crucible_evaluations_total", result="passed") == passed_before + 1
    assert _value("crucible_evaluation_duration_seconds_count") == count_before + 1
