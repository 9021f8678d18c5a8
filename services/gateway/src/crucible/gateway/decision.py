"""`rollout_decision`: the canary analysis, as one pure function.

Inputs are figures (canary: this stage; stable: the whole rollout so far, so the last stage at
100 % still has a baseline), where the rollout stands, and the policy. Output is one action:

- rollback  — a seed criterion is crossed (any safety incident; satisfaction drop > 0.5;
              error-rate increase > 5 points; advice acceptance lower than stable's by
              more than the policy's points). Acts at once, at any time in a stage.
- hold      — the stage is still running, or it ended without the minimum sample
              (low traffic must never promote on no data).
- pause     — inconclusive: the canary is slower than the policy allows, or the stage ran
              twice its duration without reaching the minimum sample. A person decides.
- promote   — the stage ran its duration with enough data and nothing wrong.
- complete  — the same, on the last stage.

Order matters: rollback criteria first (a bad canary is never promoted because its stage
happened to end), then time, then sample size, then the soft (latency) checks.
"""

from __future__ import annotations

from dataclasses import dataclass

from crucible.gateway.figures import Summary
from crucible.gateway.policy import GatewayPolicy

ROLLBACK, HOLD, PAUSE, PROMOTE, COMPLETE = "rollback", "hold", "pause", "promote", "complete"

# Fewer canary requests/ratings than this are not evidence for a rollback on a rate or a mean
# (one failed request out of one is not a 100 % error rate worth acting on); safety has no minimum.
MIN_REQUESTS_FOR_ERROR_RATE = 10
MIN_RATINGS_FOR_SATISFACTION = 5


@dataclass(frozen=True)
class Decision:
    action: str
    reason: str


def rollout_decision(
    *,
    stable: Summary,
    canary: Summary,
    stage_index: int,
    stage_count: int,
    stage_elapsed_seconds: float,
    policy: GatewayPolicy,
) -> Decision:
    crit = policy.rollback
    if canary.safety_incidents > crit.max_safety_incidents:
        return Decision(ROLLBACK, f"safety: {canary.safety_incidents} incident(s) on canary responses")

    if canary.requests >= MIN_REQUESTS_FOR_ERROR_RATE:
        increase = (canary.error_rate - stable.error_rate) * 100.0
        if increase > crit.max_error_rate_increase_points:
            return Decision(
                ROLLBACK,
                f"error rate: canary {canary.error_rate:.1%} vs stable {stable.error_rate:.1%} "
                f"(+{increase:.1f} points > {crit.max_error_rate_increase_points:g})",
            )

    if canary.feedback_count >= MIN_RATINGS_FOR_SATISFACTION and stable.feedback_count >= MIN_RATINGS_FOR_SATISFACTION:
        drop = stable.mean_satisfaction - canary.mean_satisfaction
        if drop > crit.max_satisfaction_drop:
            return Decision(
                ROLLBACK,
                f"satisfaction: canary {canary.mean_satisfaction:.2f} vs stable {stable.mean_satisfaction:.2f} "
                f"(drop {drop:.2f} > {crit.max_satisfaction_drop:g})",
            )

    if canary.feedback_count >= MIN_RATINGS_FOR_SATISFACTION and stable.feedback_count >= MIN_RATINGS_FOR_SATISFACTION:
        fewer = (stable.advice_acceptance - canary.advice_acceptance) * 100.0
        if fewer > crit.max_advice_acceptance_drop_points:
            return Decision(
                ROLLBACK,
                f"advice acceptance: canary {canary.advice_acceptance:.1%} vs stable {stable.advice_acceptance:.1%} "
                f"(-{fewer:.1f} points > {crit.max_advice_acceptance_drop_points:g})",
            )

    duration = policy.stage_duration_seconds
    if stage_elapsed_seconds < duration:
        return Decision(HOLD, f"stage running: {stage_elapsed_seconds:.0f}s of {duration:.0f}s")

    short = _missing_sample(canary, stable, policy)
    if short:
        if stage_elapsed_seconds >= 2 * duration:
            return Decision(PAUSE, f"inconclusive after {stage_elapsed_seconds:.0f}s: {short}")
        return Decision(HOLD, f"waiting for the minimum sample: {short}")

    slow = _too_slow(canary, stable, policy)
    if slow:
        return Decision(PAUSE, f"inconclusive: {slow}")

    if stage_index >= stage_count - 1:
        return Decision(COMPLETE, f"last stage healthy: {_healthy(canary, stable)}")
    return Decision(PROMOTE, f"stage healthy: {_healthy(canary, stable)}")


def _missing_sample(canary: Summary, stable: Summary, policy: GatewayPolicy) -> str:
    missing = []
    if canary.requests < policy.min_requests_per_stage:
        missing.append(f"{canary.requests} of {policy.min_requests_per_stage} canary requests")
    if canary.feedback_count < policy.min_feedback_per_stage:
        missing.append(f"{canary.feedback_count} of {policy.min_feedback_per_stage} canary ratings")
    if policy.min_feedback_per_stage and stable.feedback_count < min(policy.min_feedback_per_stage, 5):
        # Without a stable baseline the satisfaction criterion could not have fired: not evidence.
        missing.append(f"{stable.feedback_count} stable ratings (baseline)")
    return "; ".join(missing)


def _too_slow(canary: Summary, stable: Summary, policy: GatewayPolicy) -> str:
    # A few milliseconds of jitter is not a regression: the ratio applies above an absolute slack.
    slack = policy.latency_slack_seconds
    for what, c, b, ratio in (
        ("p95 latency", canary.p95_latency_seconds, stable.p95_latency_seconds, policy.max_p95_latency_ratio),
        ("p95 time to first token", canary.p95_ttft_seconds, stable.p95_ttft_seconds, policy.max_ttft_ratio),
    ):
        if b > 0 and c > ratio * b + slack:
            return f"canary {what} {c * 1000:.0f} ms > {ratio:g}x stable {b * 1000:.0f} ms + {slack * 1000:.0f} ms"
    return ""


def _healthy(canary: Summary, stable: Summary) -> str:
    return (
        f"{canary.requests} canary requests, errors {canary.error_rate:.1%} vs {stable.error_rate:.1%}, "
        f"satisfaction {canary.mean_satisfaction:.2f} vs {stable.mean_satisfaction:.2f} "
        f"({canary.feedback_count} ratings), advice accepted {canary.advice_acceptance:.0%} vs "
        f"{stable.advice_acceptance:.0%}, p95 {canary.p95_latency_seconds * 1000:.0f} ms vs "
        f"{stable.p95_latency_seconds * 1000:.0f} ms, 0 safety incidents"
    )
