"""Deciding on a record held for review: the one way `crucible review approve|reject` and the web
console do it.

A decision is claimed with one conditional UPDATE (`... WHERE status = 'pending'`), so when two
reviewers decide the same item at once exactly one wins and the other is told who did (`AlreadyDecided`).
Approve claims, then publishes the record to crucible.records.scored with msg id `<record_id>:scorer`
(the id the stage worker would have used); a failed publish hands the item back to `pending`, so nothing
is lost. Reject keeps the record in the registry for audit (a `rejected_in_review` rejection) and
publishes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import update

from crucible.common import subjects
from crucible.common.registry import Registry, RejectionRow, ReviewItem
from crucible.common.worker import stamp
from crucible.v1 import records_pb2

if TYPE_CHECKING:
    from crucible.common.bus import Bus

STAGE = "scorer"
PENDING, APPROVED, REJECTED = "pending", "approved", "rejected"


@dataclass(frozen=True)
class _StageRef:
    name: str
    version: str


class AlreadyDecided(ValueError):
    """Someone decided this item first."""

    def __init__(self, record_id: str, status: str, by: str) -> None:
        self.record_id, self.status, self.by = record_id, status, by
        who = f" by {by}" if by else ""
        super().__init__(f"review item {record_id!r} is already {status}{who}")


def detail_of(text: str) -> dict[str, Any]:
    """The review detail JSON the scorer stored (score breakdown, labels, why held)."""
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return {"text": text}
    return value if isinstance(value, dict) else {"text": text}


def decide(registry: Registry, record_id: str, status: str, by: str, note: str) -> bytes:
    """Claim the item for `status` atomically; returns the held record's bytes. Raises `LookupError`
    when there is no such item and `AlreadyDecided` when it is no longer pending."""
    if status not in (APPROVED, REJECTED):
        raise ValueError(f"a decision is {APPROVED!r} or {REJECTED!r}, not {status!r}")
    with registry.session() as s:
        claimed = s.execute(
            update(ReviewItem)
            .where(ReviewItem.record_id == record_id, ReviewItem.status == PENDING)
            .values(status=status, decided_by=by, decision_note=note, decided_at=dt.datetime.now(dt.UTC))
            .execution_options(synchronize_session=False)
        ).rowcount
        item = s.get(ReviewItem, record_id)
        if item is None:
            raise LookupError(f"no review item {record_id!r}")
        if not claimed:
            raise AlreadyDecided(record_id, item.status, item.decided_by)
        if status == REJECTED:
            # Kept for audit with the other refused records.
            s.merge(
                RejectionRow(
                    stage=STAGE,
                    record_id=record_id,
                    reason="rejected_in_review",
                    detail=json.dumps({"by": by, "note": note, "review": detail_of(item.detail)}, sort_keys=True),
                    subject_token=item.subject_token,
                    record=item.record,
                )
            )
        return bytes(item.record)


def _release(registry: Registry, record_id: str, by: str) -> None:
    """Undo an approval whose publish failed, so the item waits again."""
    with registry.session() as s:
        s.execute(
            update(ReviewItem)
            .where(ReviewItem.record_id == record_id, ReviewItem.status == APPROVED, ReviewItem.decided_by == by)
            .values(status=PENDING, decided_by="", decision_note="", decided_at=None)
            .execution_options(synchronize_session=False)
        )


async def approve(
    registry: Registry, bus: Bus, record_id: str, *, by: str, note: str = "", stage_version: str
) -> dict[str, Any]:
    """Claim, stamp with the scorer's provenance (once), publish to crucible.records.scored."""
    blob = decide(registry, record_id, APPROVED, by, note)
    record = records_pb2.Record.FromString(blob)
    stamp(record, _StageRef(STAGE, stage_version))  # type: ignore[arg-type]
    payload = records_pb2.RecordBatch(records=[record]).SerializeToString()
    try:
        await bus.publish(subjects.SCORED, payload, msg_id=f"{record_id}:{STAGE}")
    except BaseException:
        _release(registry, record_id, by)
        raise
    return {"record_id": record_id, "status": APPROVED, "published_to": subjects.SCORED}


def reject(registry: Registry, record_id: str, *, by: str, note: str = "") -> dict[str, Any]:
    decide(registry, record_id, REJECTED, by, note)
    return {"record_id": record_id, "status": REJECTED}
