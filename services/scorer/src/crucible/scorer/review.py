"""Deciding on a held record. Approve publishes it to crucible.records.scored (msg id
`<record_id>:scorer`, the id the stage worker would have used) and only then marks it approved, so a
failed publish leaves it pending; reject keeps it in the registry for audit and publishes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crucible.common import subjects
from crucible.common.worker import stamp
from crucible.scorer import __version__
from crucible.scorer.store import APPROVED, REJECTED, STAGE, pending_record, record_decision
from crucible.v1 import records_pb2


@dataclass(frozen=True)
class _Stamp:
    name: str = STAGE
    version: str = __version__


async def approve(runtime: Any, record_id: str, *, by: str, note: str = "", bus: Any = None) -> dict[str, Any]:
    record = pending_record(runtime.registry, record_id)
    stamp(record, _Stamp())  # type: ignore[arg-type]
    payload = records_pb2.RecordBatch(records=[record]).SerializeToString()
    if bus is None:
        from crucible.common.embedded import connected_bus

        async with connected_bus(runtime) as connected:
            await connected.publish(subjects.SCORED, payload, msg_id=f"{record_id}:{STAGE}")
    else:
        await bus.publish(subjects.SCORED, payload, msg_id=f"{record_id}:{STAGE}")
    record_decision(runtime.registry, record_id, APPROVED, by, note)
    return {"record_id": record_id, "status": APPROVED, "published_to": subjects.SCORED}


def reject(runtime: Any, record_id: str, *, by: str, note: str = "") -> dict[str, Any]:
    record_decision(runtime.registry, record_id, REJECTED, by, note)
    return {"record_id": record_id, "status": REJECTED}
