"""Where the gateway bench runs each process (pure: the bench's shell applies it).

The bench compares a client talking to a backend directly with the same client talking through
the gateway. On a shared machine the gateway's CPU would otherwise be taken from the client and
the backend, so the comparison would measure CPU stolen from the load generator rather than the
gateway's added cost. The `pinned` placement models a deployment where the gateway runs in its
own pod: the load generator and the backend share one set of cores for *both* measurements
(direct and through the gateway), and the gateway gets cores of its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

PINNED = "pinned"
SHARED = "shared"


@dataclass(frozen=True)
class Placement:
    name: str
    load_cpus: tuple[int, ...]  # the load generator (bench client) and the fake backend
    gateway_cpus: tuple[int, ...]  # the gateway process

    def describe(self) -> dict[str, object]:
        if self.name == PINNED:
            note = (
                "load generator + fake backend pinned to load_cpus for both the direct and the "
                "through-gateway measurements; the gateway pinned to gateway_cpus (its own pod)"
            )
        else:
            note = "no pinning: load generator, fake backend and gateway share every core"
        return {
            "name": self.name,
            "load_generator_and_backend_cpus": list(self.load_cpus),
            "gateway_cpus": list(self.gateway_cpus),
            "note": note,
        }


def plan_placement(available: Iterable[int], requested: str = PINNED, gateway_cores: int = 1) -> Placement:
    """Split the available CPUs: the gateway gets the last `gateway_cores`, the rest run the load.

    `pinned` needs at least one CPU left for the load; with fewer, or when `shared` is asked
    for, every process may run anywhere (recorded as such, never silently)."""
    if requested not in (PINNED, SHARED):
        raise ValueError(f"unknown placement {requested!r} ({PINNED} | {SHARED})")
    cpus = tuple(sorted(set(available)))
    if not cpus:
        raise ValueError("no CPUs available")
    if gateway_cores < 1:
        raise ValueError("the gateway needs at least one core")
    if requested == SHARED or len(cpus) <= gateway_cores:
        return Placement(SHARED, cpus, cpus)
    return Placement(PINNED, cpus[:-gateway_cores], cpus[-gateway_cores:])
