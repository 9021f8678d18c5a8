"""rollout_decision: the pure canary analysis."""

from crucible.gateway.decision import COMPLETE, HOLD, PAUSE, PROMOTE, ROLLBACK, rollout_decision
from crucible.gateway.figures import Summary
from crucible.gateway.policy import GatewayPolicy

POLICY = GatewayPolicy(stage_duration_seconds=100, min_requests_per_stage=50, min_feedback_per_stage=10)
HEALTHY_STABLE = Summary(
    requests=500,
    errors=5,
    error_rate=0.01,
    p95_latency_seconds=0.2,
    p95_ttft_seconds=0.05,
    mean_satisfaction=7.5,
    feedback_count=100,
)
HEALTHY_CANARY = Summary(
    requests=100,
    errors=1,
    error_rate=0.01,
    p95_latency_seconds=0.21,
    p95_ttft_seconds=0.05,
    mean_satisfaction=7.4,
    feedback_count=20,
)


def decide(canary=HEALTHY_CANARY, stable=HEALTHY_STABLE, elapsed=150.0, stage=0, policy=POLICY):
    return rollout_decision(
        stable=stable, canary=canary, stage_index=stage, stage_count=4, stage_elapsed_seconds=elapsed, policy=policy
    )


def test_healthy_stage_promotes_after_its_duration():
    assert decide().action == PROMOTE
    assert decide(stage=3).action == COMPLETE


def test_healthy_stage_holds_before_its_duration():
    d = decide(elapsed=50)
    assert d.action == HOLD and "50s of 100s" in d.reason


def test_any_safety_incident_rolls_back_at_once():
    d = decide(canary=Summary(**{**HEALTHY_CANARY.__dict__, "safety_incidents": 1}), elapsed=1)
    assert d.action == ROLLBACK and d.reason.startswith("safety")


def test_error_rate_increase_over_five_points_rolls_back():
    bad = Summary(**{**HEALTHY_CANARY.__dict__, "errors": 7, "error_rate": 0.07})
    d = decide(canary=bad, elapsed=1)
    assert d.action == ROLLBACK and "error rate" in d.reason
    # +5 points exactly is not "more than 5"
    edge = Summary(**{**HEALTHY_CANARY.__dict__, "errors": 6, "error_rate": 0.06})
    assert decide(canary=edge).action == PROMOTE


def test_satisfaction_drop_over_half_a_point_rolls_back():
    d = decide(canary=Summary(**{**HEALTHY_CANARY.__dict__, "mean_satisfaction": 6.9}), elapsed=1)
    assert d.action == ROLLBACK and "satisfaction" in d.reason
    assert decide(canary=Summary(**{**HEALTHY_CANARY.__dict__, "mean_satisfaction": 7.0})).action == PROMOTE


def test_too_little_evidence_does_not_roll_back_on_rates():
    tiny = Summary(requests=3, errors=3, error_rate=1.0, mean_satisfaction=1.0, feedback_count=2)
    assert decide(canary=tiny, elapsed=1).action == HOLD


def test_no_promotion_without_the_minimum_sample():
    few = Summary(**{**HEALTHY_CANARY.__dict__, "requests": 10})
    d = decide(canary=few, elapsed=150)
    assert d.action == HOLD and "10 of 50 canary requests" in d.reason
    no_ratings = Summary(**{**HEALTHY_CANARY.__dict__, "feedback_count": 0, "mean_satisfaction": 0})
    assert decide(canary=no_ratings, elapsed=150).action == HOLD


def test_no_data_for_twice_the_stage_pauses_as_inconclusive():
    d = decide(canary=Summary(), elapsed=250)
    assert d.action == PAUSE and "inconclusive" in d.reason


def test_slow_canary_pauses_instead_of_promoting():
    slow = Summary(**{**HEALTHY_CANARY.__dict__, "p95_latency_seconds": 0.5})
    d = decide(canary=slow)
    assert d.action == PAUSE and "latency" in d.reason
