"""The rollout end to end on one gateway (fake backends with fault injection, a controlled
clock): promotion through every stage, rollback on errors / satisfaction / safety, no promotion
without the minimum sample, and a failing canary hidden from clients by the retry on stable."""

import asyncio

import httpx
import pytest

from crucible.gateway.fake_backend import FakeBehaviour
from crucible.gateway.policy import GatewayPolicy
from crucible.gateway.state import BackendSpec
from crucible.gateway.transport import BackendError

POLICY = GatewayPolicy(
    stage_duration_seconds=60, analysis_interval_seconds=1, min_requests_per_stage=20, min_feedback_per_stage=5
)


# Users per stage where a decision needs the canary's minimum sample (20 requests, 5 ratings): at a
# 10 % canary, 300 users fell short about once in a hundred rollout ids (assignment hashes the
# rollout id, random per run), 600 practically never (binomial mean 60, sd 7.3).
USERS = 600


async def drive(gateway, users, ratings=None, prefix="u", stream=False):
    """Each user sends one request (and rates it when `ratings` gives a score for its variant).
    Returns the variants the clients saw."""
    seen = []
    for i in range(users):
        user = f"{prefix}{i}"
        if stream:
            variant = None
            async for route, _ in gateway.generate_stream("hi", {"max_new_tokens": 8}, user):
                variant = route.variant
            seen.append(variant)
            continue
        served = await gateway.generate("hi", {"max_new_tokens": 8}, user)
        seen.append(served.route.variant)
        if ratings:
            gateway.feedback(served.route.response_id, ratings[served.route.variant], True)
    return seen


def run(coro):
    return asyncio.run(coro)


def test_promotes_through_every_stage_on_healthy_figures(new_stack):
    async def go():
        s = await new_stack(policy=POLICY)
        try:
            await s.rollout.start_rollout(BackendSpec("cand", s.canary.url))
            actions, weights = [], []
            for _ in POLICY.stages:
                weights.append(s.router.state.canary_weight)
                await drive(s.router, USERS, {"stable": 8, "canary": 8})
                s.advance(61)
                d = await s.rollout.analyse()
                actions.append(d.action)
            return s, actions, weights
        finally:
            await s.stop()

    s, actions, weights = run(go())
    assert weights == [10, 25, 50, 100]
    assert actions == ["promote", "promote", "promote", "complete"]
    assert s.router.state.state == "completed" and s.router.state.stable.model == "cand"
    assert [e[0] for e in s.events] == ["rollout.started"] + ["rollout.promoted"] * 3 + ["rollout.completed"]


def test_holds_mid_stage_and_without_the_minimum_sample_then_pauses(new_stack):
    async def go():
        s = await new_stack(policy=POLICY)
        try:
            await s.rollout.start_rollout(BackendSpec("cand", s.canary.url))
            await drive(s.router, USERS, {"stable": 8, "canary": 8})
            s.advance(30)
            mid = await s.rollout.analyse()
            # A new stage with almost no traffic: it must not promote on no data.
            s.advance(31)
            assert (await s.rollout.analyse()).action == "promote"
            await drive(s.router, 10, {"stable": 8, "canary": 8}, prefix="few")
            s.advance(61)
            low = await s.rollout.analyse()
            s.advance(60)
            late = await s.rollout.analyse()
            return s, mid, low, late
        finally:
            await s.stop()

    s, mid, low, late = run(go())
    assert mid.action == "hold" and "stage running" in mid.reason
    assert low.action == "hold" and "minimum sample" in low.reason
    assert late.action == "pause" and "inconclusive" in late.reason
    assert s.router.state.state == "paused" and s.router.state.stage_index == 1


def test_rolls_back_on_injected_errors_and_clients_never_see_them(new_stack):
    async def go():
        s = await new_stack(policy=POLICY, canary=FakeBehaviour(delay_seconds=0, error_rate=0.5, seed=3))
        try:
            await s.rollout.start_rollout(BackendSpec("cand", s.canary.url))
            seen = await drive(s.router, 300)  # raises if any client saw an error
            decision = await s.rollout.analyse()
            return s, seen, decision
        finally:
            await s.stop()

    s, _seen, decision = run(go())
    assert s.canary.requests > 10  # the canary was tried ...
    assert decision.action == "rollback" and decision.reason.startswith("error rate")
    assert s.router.state.state == "rolled_back" and s.router.state.canary_weight == 0
    name, _state, reason = s.events[-1]
    assert name == "rollout.rolled_back" and "error rate" in reason
    assert s.router.route("anyone").variant == "stable"


def test_rolls_back_on_mid_stream_errors(new_stack):
    async def go():
        s = await new_stack(policy=POLICY, canary=FakeBehaviour(delay_seconds=0, midstream_error_rate=1.0))
        try:
            await s.rollout.start_rollout(BackendSpec("cand", s.canary.url))
            failures = 0
            for i in range(200):
                try:
                    await drive(s.router, 1, prefix=f"s{i}-", stream=True)
                except BackendError as exc:
                    assert exc.mid_stream
                    failures += 1
            return s, failures, await s.rollout.analyse()
        finally:
            await s.stop()

    _s, failures, decision = run(go())
    assert failures > 5  # errors after the first token cannot be retried: they reach the client ...
    assert decision.action == "rollback" and "error rate" in decision.reason  # ... and count


def test_rolls_back_on_a_satisfaction_drop(new_stack):
    async def go():
        s = await new_stack(policy=POLICY)
        try:
            await s.rollout.start_rollout(BackendSpec("cand", s.canary.url))
            await drive(s.router, USERS, {"stable": 8, "canary": 7})
            return s, await s.rollout.analyse()
        finally:
            await s.stop()

    _s, decision = run(go())
    assert decision.action == "rollback" and decision.reason.startswith("satisfaction")
    assert "7.00 vs stable 8.00" in decision.reason


def test_rolls_back_on_a_safety_incident(new_stack):
    unsafe = FakeBehaviour(delay_seconds=0, text="Just read her phone messages while she sleeps.")

    async def go():
        s = await new_stack(policy=POLICY, canary=unsafe)
        try:
            await s.rollout.start_rollout(BackendSpec("cand", s.canary.url))
            await drive(s.router, 100)
            return s, await s.rollout.analyse()
        finally:
            await s.stop()

    _s, decision = run(go())
    assert decision.action == "rollback" and decision.reason.startswith("safety")


def test_sticky_assignment_through_http(stack, loop_thread):
    loop_thread.run(stack.rollout.start_rollout(BackendSpec("cand", stack.canary.url)))
    with httpx.Client(base_url=stack.url) as http:

        def variant(user):
            r = http.post("/generate", json={"inputs": "hi"}, headers={"x-crucible-user": user})
            return r.headers["x-crucible-variant"]

        first = {u: variant(u) for u in (f"user{i}" for i in range(60))}
        again = {u: variant(u) for u in first}
    assert first == again and set(first.values()) == {"stable", "canary"}


@pytest.mark.parametrize("stream", [False, True])
def test_retry_on_stable_hides_a_failing_canary(stack, loop_thread, stream):
    stack.canary.behaviour.error_rate = 1.0
    loop_thread.run(stack.rollout.start_rollout(BackendSpec("cand", stack.canary.url)))
    path = "/generate_stream" if stream else "/generate"
    with httpx.Client(base_url=stack.url) as http:
        answers = [http.post(path, json={"inputs": "hi"}, headers={"x-crucible-user": f"u{i}"}) for i in range(100)]
    assert all(r.status_code == 200 and "error" not in r.text for r in answers)
    assert {r.headers["x-crucible-variant"] for r in answers} == {"stable"}
    assert stack.canary.requests >= 3  # the canary was really tried and failed
