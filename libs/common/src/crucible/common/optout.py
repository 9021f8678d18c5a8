"""The opt-out list (CCPA "do not sell or share"): add, remove, list, and the event that tells
running services. Entries are subject digests; the extractor never extracts an opted-out
person's rows and the gateway never publishes their interactions (`excluded_subjects`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from crucible.common import subjects
from crucible.common.privacy_keys import subject_digest
from crucible.common.registry import OptedOutSubject, Registry, utcnow
from crucible.common.runtime import Runtime


def add_optout(registry: Registry, token: str, requested_by: str = "") -> bool:
    """Put a subject on the list; False when it was already there."""
    digest = subject_digest(token)
    with registry.session() as s:
        if s.get(OptedOutSubject, digest) is not None:
            return False
        s.add(OptedOutSubject(subject_digest=digest, added_at=utcnow(), requested_by=requested_by))
    return True


def remove_optout(registry: Registry, token: str) -> bool:
    """Take a subject off the list; False when it was not on it."""
    with registry.session() as s:
        row = s.get(OptedOutSubject, subject_digest(token))
        if row is None:
            return False
        s.delete(row)
    return True


def list_optouts(registry: Registry) -> list[dict[str, Any]]:
    with registry.session() as s:
        rows = s.scalars(select(OptedOutSubject).order_by(OptedOutSubject.added_at)).all()
        return [
            {"subject_digest": r.subject_digest, "added_at": r.added_at.isoformat(), "requested_by": r.requested_by}
            for r in rows
        ]


async def publish_optout(runtime: Runtime, token: str, opted_out: bool, requested_by: str) -> None:
    """Tell running services (the gateway's cached list) at once."""
    from crucible.v1 import events_pb2

    event = events_pb2.SubjectOptOut(
        subject_digest=subject_digest(token), opted_out=opted_out, requested_by=requested_by
    )
    event.requested_at.GetCurrentTime()
    await runtime.require_bus().publish_event(subjects.SUBJECT_OPTOUT, event)
