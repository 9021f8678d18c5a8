"""Sticky per-user assignment."""

from crucible.gateway.assignment import CANARY, STABLE, assign_variant, user_bucket


def test_same_user_same_variant_every_time():
    for user in ("u1", "u2", "someone@else"):
        first = assign_variant("r1", user, 25)
        assert all(assign_variant("r1", user, 25) == first for _ in range(20))


def test_weights_split_users_in_proportion():
    users = [f"user-{i}" for i in range(10_000)]
    share = sum(assign_variant("r1", u, 25) == CANARY for u in users) / len(users)
    assert 0.23 < share < 0.27


def test_users_only_move_forward_as_weights_grow():
    users = [f"user-{i}" for i in range(2_000)]
    before = {u: assign_variant("r1", u, 10) for u in users}
    for weight in (25, 50, 100):
        now = {u: assign_variant("r1", u, weight) for u in users}
        assert not [u for u in users if before[u] == CANARY and now[u] == STABLE]
        before = now
    assert set(before.values()) == {CANARY}


def test_rollouts_hash_independently():
    assert user_bucket("r1", "u") != user_bucket("r2", "u")
    assert assign_variant("r1", "u", 0) == STABLE
