"""Sticky per-user assignment: a user's hash bucket decides their variant.

The bucket (0..100) comes from SHA-256 of the rollout id and the user id, so it is stable for
the whole rollout, the same on every replica, and unrelated between rollouts. A user is on the
canary when their bucket is below the canary weight; weights only grow, so a user moves only
forward (stable -> canary), never back and forth within a rollout.
"""

from __future__ import annotations

from crucible.gateway.sha256 import sha256

STABLE, CANARY = "stable", "canary"


def user_bucket(rollout_id: str, user_id: str) -> float:
    digest = sha256(f"{rollout_id}\x00{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 * 100.0


def assign_variant(rollout_id: str, user_id: str, canary_weight: float) -> str:
    if canary_weight <= 0:
        return STABLE
    if canary_weight >= 100:
        return CANARY
    return CANARY if user_bucket(rollout_id, user_id) < canary_weight else STABLE
