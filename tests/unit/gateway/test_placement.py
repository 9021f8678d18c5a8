"""Where the gateway bench puts its processes: the gateway never shares a core with the load."""

import pytest

from crucible.gateway.placement import PINNED, SHARED, plan_placement


def test_two_cores_give_the_gateway_one_and_the_load_the_other() -> None:
    p = plan_placement({0, 1})
    assert p.name == PINNED
    assert p.load_cpus == (0,)
    assert p.gateway_cpus == (1,)


def test_load_and_gateway_cores_never_overlap_on_bigger_machines() -> None:
    p = plan_placement(range(8), gateway_cores=2)
    assert p.name == PINNED
    assert set(p.load_cpus).isdisjoint(p.gateway_cpus)
    assert set(p.load_cpus) | set(p.gateway_cpus) == set(range(8))
    assert len(p.gateway_cpus) == 2


def test_one_core_cannot_be_split_and_says_so() -> None:
    p = plan_placement({3})
    assert p.name == SHARED
    assert p.load_cpus == p.gateway_cpus == (3,)
    assert p.describe()["name"] == SHARED


def test_shared_when_asked() -> None:
    p = plan_placement({0, 1, 2}, SHARED)
    assert p.name == SHARED
    assert p.gateway_cpus == (0, 1, 2)


def test_unknown_placement_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown placement"):
        plan_placement({0, 1}, "pinned-ish")
