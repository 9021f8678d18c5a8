"""Deciding on a held record: `crucible.common.review` does it (the web console uses the same code).
Approve publishes it to crucible.records.scored (msg id `<record_id>:scorer`); reject keeps it in the
registry for audit and publishes nothing. A second decision on one item is refused, naming who decided."""

from __future__ import annotations

from typing import Any

from crucible.common import review
from crucible.scorer import __version__


async def approve(runtime: Any, record_id: str, *, by: str, note: str = "", bus: Any = None) -> dict[str, Any]:
    if bus is None:
        from crucible.common.embedded import connected_bus

        async with connected_bus(runtime) as connected:
            return await review.approve(
                runtime.registry, connected, record_id, by=by, note=note, stage_version=__version__
            )
    return await review.approve(runtime.registry, bus, record_id, by=by, note=note, stage_version=__version__)


def reject(runtime: Any, record_id: str, *, by: str, note: str = "") -> dict[str, Any]:
    return review.reject(runtime.registry, record_id, by=by, note=note)
