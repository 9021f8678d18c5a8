"""The scorer as a subject store: its persisted diversity state (issue 25 item 11) remembers, per
record id, which snapshot the record was scored against. Forget deletes those rows; the
snapshots themselves are counts per category and context, with no record ids."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete

from crucible.common.registry import DiversityDecision
from crucible.common.subject_stores import ForgetRequest, SubjectStore


def _forget(runtime: Any, request: ForgetRequest) -> dict[str, int]:
    if not request.record_ids:
        return {"diversity_decisions": 0}
    ids = sorted(request.record_ids)
    removed = 0
    with runtime.registry.session() as s:
        for start in range(0, len(ids), 500):  # SQLite's bound-parameter limit
            chunk = ids[start : start + 500]
            removed += s.execute(delete(DiversityDecision).where(DiversityDecision.record_id.in_(chunk))).rowcount or 0
    return {"diversity_decisions": int(removed)}


STORE = SubjectStore(
    name="scorer_diversity",
    order=25,
    tables=("scorer_diversity_decisions",),
    forget=_forget,
)
