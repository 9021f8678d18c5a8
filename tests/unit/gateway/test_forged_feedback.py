"""Issue 25 item 2, the attack in short form: with a canary running, an attacker who can reach the
gateway posts forged feedback (the old unsigned shape with the public rollout id, tampered and
foreign-key signatures, a stable answer relabelled canary, expired ids) and replays real ones.
Figure: forged or duplicate feedback accepted (must be 0); the canary's figures do not move.
Run with `-s` to see the figure."""

from __future__ import annotations

import json
import os

import httpx

from crucible.gateway.policy import FeedbackPolicy, GatewayPolicy
from crucible.gateway.response_ids import ResponseIds
from crucible.gateway.state import BackendSpec

ATTEMPTS_PER_KIND = 12  # the probe rolled a canary back with twelve forged posts


def test_forged_or_duplicate_feedback_accepted_is_zero(new_stack, loop_thread) -> None:
    policy = GatewayPolicy(stages=[50.0, 100.0], feedback=FeedbackPolicy(rate_per_second=1000, burst=1000))
    stack = loop_thread.run(new_stack(policy=policy))
    try:
        loop_thread.run(stack.rollout.start_rollout(BackendSpec(model="cand", url=stack.canary.url)))
        rollout_id = stack.router.state.rollout_id
        with httpx.Client(base_url=stack.url, timeout=10) as http:
            served = [
                http.post("/generate", json={"inputs": "hi"}, headers={"x-crucible-user": f"u{i}"}) for i in range(40)
            ]
            real = [(r.headers["x-crucible-response-id"], r.headers["x-crucible-variant"]) for r in served]
            stable_ids = [rid for rid, v in real if v == "stable"]
            legit = sum(
                http.post("/feedback", json={"response_id": rid, "rating": 9}).json()["accepted"] for rid, _ in real
            )
            canary_before = dict(stack.router._figures[(rollout_id, 0)].canary.to_json())

            expired_ids = ResponseIds(b"unknown", ttl_seconds=1, clock=lambda: 0.0)
            forged = {
                "unsigned_old_shape": [f"{rollout_id}.0.c.{os.urandom(8).hex()}" for _ in range(ATTEMPTS_PER_KIND)],
                "tampered_signature": [rid[:-4] + "beef" for rid, _ in real[:ATTEMPTS_PER_KIND]],
                "stable_relabelled_canary": [
                    rid.replace(f"{rollout_id}.0.s", f"{rollout_id}.0.c", 1) for rid in stable_ids[:ATTEMPTS_PER_KIND]
                ],
                "foreign_key": [
                    ResponseIds(os.urandom(16), 3600).mint(rollout_id, 0, "canary") for _ in range(ATTEMPTS_PER_KIND)
                ],
                "expired_foreign": [expired_ids.mint(rollout_id, 0, "canary") for _ in range(ATTEMPTS_PER_KIND)],
                "replayed_real": [rid for rid, _ in real[:ATTEMPTS_PER_KIND]],
            }
            accepted: dict[str, int] = {}
            reasons: dict[str, list[str]] = {}
            for kind, ids in forged.items():
                answers = [http.post("/feedback", json={"response_id": rid, "rating": 1}).json() for rid in ids]
                accepted[kind] = sum(a["accepted"] for a in answers)
                reasons[kind] = sorted({a.get("reason", "") for a in answers})
        canary_after = stack.router._figures[(rollout_id, 0)].canary.to_json()
        figure = {
            "legit_feedback_accepted": legit,
            "forged_or_duplicate_feedback_accepted": sum(accepted.values()),
            "attempts": sum(len(v) for v in forged.values()),
            "by_kind": accepted,
            "reasons": reasons,
            "canary_rating_count_change": canary_after["rating_count"] - canary_before["rating_count"],
        }
        print(json.dumps(figure, sort_keys=True))
        assert legit == len(real)
        assert figure["forged_or_duplicate_feedback_accepted"] == 0
        assert figure["canary_rating_count_change"] == 0
        assert reasons["replayed_real"] == ["duplicate"] and reasons["tampered_signature"] == ["forged"]
    finally:
        loop_thread.run(stack.stop())
