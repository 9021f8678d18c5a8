"""Stored feedback (`feedback.FeedbackRow`, written by the gateway) as a subject store: forget
deletes a person's rows, export lists them, retention deletes rows older than
`privacy.retention.interaction_days`. The interaction records themselves travel the pipeline
like any record (review queue, rejections, curated store: those stores cover them)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select

from crucible.common.feedback import FeedbackRow, forget_feedback
from crucible.common.subject_stores import ForgetRequest, RetentionRequest, SubjectStore

if TYPE_CHECKING:
    from crucible.common.runtime import Runtime


def _record_ids(runtime: Runtime, token: str) -> set[str]:
    with runtime.registry.session() as s:
        ids = s.scalars(select(FeedbackRow.record_id).where(FeedbackRow.subject_token == token))
        return {i for i in ids if i}


def _forget(runtime: Runtime, request: ForgetRequest) -> dict[str, int]:
    return {"feedback_rows": forget_feedback(runtime.registry, request.subject_token)}


def _export(runtime: Runtime, token: str) -> dict[str, Any]:
    with runtime.registry.session() as s:
        rows = s.scalars(select(FeedbackRow).where(FeedbackRow.subject_token == token)).all()
        return {
            "feedback": [
                {
                    "response_id": r.response_id, "record_id": r.record_id, "model": r.model, "variant": r.variant,
                    "rating": r.rating, "advice_accepted": r.advice_accepted, "positive_outcome": r.positive_outcome,
                    "action_taken": r.action_taken, "created_at": r.created_at.isoformat(),
                }
                for r in rows
            ]
        }  # fmt: skip


def _retention(runtime: Runtime, request: RetentionRequest) -> dict[str, int]:
    old = FeedbackRow.created_at < request.cutoff(request.policy.interaction_days)
    with runtime.registry.session() as s:
        if request.dry_run:
            return {"feedback_rows": int(s.scalar(select(func.count()).select_from(FeedbackRow).where(old)) or 0)}
        return {"feedback_rows": int(s.execute(delete(FeedbackRow).where(old)).rowcount or 0)}


FEEDBACK_STORE = SubjectStore(
    name="feedback",
    order=25,
    record_ids=_record_ids,
    forget=_forget,
    export=_export,
    retention=_retention,
    tables=("feedback",),
)
