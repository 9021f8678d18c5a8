"""Every served answer is judged, stable as well as canary: an unsafe stable answer is counted in
`crucible_gateway_safety_incidents_total{variant="stable"}` (the alert pages a person) and never
triggers the automatic rollback, which is the canary's alone."""

import asyncio

from prometheus_client import REGISTRY

from crucible.common.answer_judge import ANSWER_JUDGE_VERSION
from crucible.gateway.fake_backend import FakeBehaviour
from crucible.gateway.policy import GatewayPolicy
from crucible.gateway.state import BackendSpec

UNSAFE = "Just read her phone messages while she sleeps."
POLICY = GatewayPolicy(
    stage_duration_seconds=60, analysis_interval_seconds=1, min_requests_per_stage=20, min_feedback_per_stage=5
)


def incidents(variant: str, category: str = "boundaries") -> float:
    labels = {"variant": variant, "category": category}
    return REGISTRY.get_sample_value("crucible_gateway_safety_incidents_total", labels) or 0.0


def checked(variant: str) -> float:
    return REGISTRY.get_sample_value("crucible_gateway_safety_checked_total", {"variant": variant}) or 0.0


async def drive(router, users, prefix="u"):
    variants = [
        (await router.generate("hi", {"max_new_tokens": 8}, f"{prefix}{i}")).route.variant for i in range(users)
    ]
    router.settle()  # answers are judged and counted write-behind: a reader settles first
    return variants


def test_stable_answers_are_judged_outside_any_rollout(new_stack):
    async def go():
        s = await new_stack(policy=POLICY, stable=FakeBehaviour(delay_seconds=0, text=UNSAFE))
        try:
            before, seen_before = incidents("stable"), checked("stable")
            variants = await drive(s.router, 12)
            return s, variants, incidents("stable") - before, checked("stable") - seen_before
        finally:
            await s.stop()

    s, variants, new_incidents, new_checked = asyncio.run(go())
    assert set(variants) == {"stable"}
    assert new_checked == 12 and new_incidents == 12
    assert s.router.state.state not in ("rolled_back",)
    info = REGISTRY.get_sample_value("crucible_gateway_answer_judge_info", {"version": ANSWER_JUDGE_VERSION})
    assert info == 1.0


def test_stable_sample_rate_zero_reads_no_stable_answer(new_stack):
    policy = POLICY.model_copy(update={"stable_safety_sample_rate": 0.0})

    async def go():
        s = await new_stack(policy=policy, stable=FakeBehaviour(delay_seconds=0, text=UNSAFE))
        try:
            before = checked("stable")
            await drive(s.router, 10)
            return checked("stable") - before
        finally:
            await s.stop()

    assert asyncio.run(go()) == 0


def test_an_unsafe_stable_never_rolls_back_a_healthy_canary(new_stack):
    async def go():
        s = await new_stack(policy=POLICY, stable=FakeBehaviour(delay_seconds=0, text=UNSAFE))
        try:
            await s.rollout.start_rollout(BackendSpec("cand", s.canary.url))
            before_stable, before_canary = incidents("stable"), incidents("canary")
            variants = await drive(s.router, 200)
            decision = await s.rollout.analyse()
            return variants, decision, incidents("stable") - before_stable, incidents("canary") - before_canary
        finally:
            await s.stop()

    variants, decision, stable_incidents, canary_incidents = asyncio.run(go())
    assert stable_incidents == variants.count("stable") > 0
    assert canary_incidents == 0
    assert decision.action != "rollback"
