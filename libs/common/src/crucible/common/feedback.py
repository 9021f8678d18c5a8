"""Stored feedback on the gateway's answers, and the rows that join it to the scrubbed exchanges.

The gateway writes one `FeedbackRow` per accepted response id (the primary key: feedback counts
once per answer, across replicas). The row holds numbers and attribution only; the feedback text
is user text, so it is never stored here: the gateway publishes it inside the exchange's
feedback record on crucible.records.raw, and it rests only after the scrubber (in the scrubbed
interaction record's context, `feedback_text`).

`feedback_examples(registry)` is the reading side for preference data: each stored rating joined
to its scrubbed interaction (prompt, answer) wherever the pipeline put it (curated store, the
scorer's rejections, the review queue). `forget_feedback(registry, subject_token)` removes a
person's rows (the interaction records themselves are curated/rejected/held records, which the
curated-store forget covers by subject token).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import Boolean, DateTime, Integer, String, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from crucible.common.registry import Base, CuratedRecord, Registry, RejectionRow, ReviewItem, utcnow
from crucible.v1 import records_pb2

FEEDBACK_SPEAKER = "feedback"  # the speaker of a feedback turn (gateway's interactions.FEEDBACK_SPEAKER)
FEEDBACK_TEXT = "feedback_text"  # context key of the scrubbed feedback text, once merged


class FeedbackRow(Base):
    __tablename__ = "feedback"
    response_id: Mapped[str] = mapped_column(String(512), primary_key=True)
    record_id: Mapped[str] = mapped_column(String(128), default="", index=True)  # "" = exchange not published
    variant: Mapped[str] = mapped_column(String(16))
    model: Mapped[str] = mapped_column(String(200), default="")
    rollout_id: Mapped[str] = mapped_column(String(64), default="")
    stage_index: Mapped[int] = mapped_column(Integer, default=0)
    rating: Mapped[int] = mapped_column(Integer)
    advice_accepted: Mapped[bool] = mapped_column(Boolean, default=False)
    positive_outcome: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    action_taken: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    text_chars: Mapped[int] = mapped_column(Integer, default=0)
    subject_token: Mapped[str] = mapped_column(String(128), default="", index=True)
    caller: Mapped[str] = mapped_column(String(128), default="")  # client credential name, or ""
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


def store_feedback(registry: Registry, row: FeedbackRow) -> bool:
    """Insert; False when this response id has feedback already (the first one counts)."""
    try:
        with registry.session() as s:
            s.add(row)
    except IntegrityError:
        return False
    return True


def forget_feedback(registry: Registry, subject_token: str) -> int:
    """Delete a person's feedback rows; returns how many."""
    with registry.session() as s:
        result = s.execute(delete(FeedbackRow).where(FeedbackRow.subject_token == subject_token))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class FeedbackExample:
    """One rated answer with its scrubbed exchange. `prompt`/`answer` are scrubbed text;
    `where` is the store the interaction was found in: curated | rejected | held."""

    response_id: str
    record_id: str
    subject_token: str
    variant: str
    model: str
    rollout_id: str
    rating: int
    advice_accepted: bool
    positive_outcome: bool | None
    action_taken: bool | None
    prompt: str
    answer: str
    feedback_text: str
    quality: float
    cluster_id: str
    duplicate_of: str
    where: str
    created_at: dt.datetime | None


def feedback_examples(registry: Registry, *, limit: int | None = None) -> list[FeedbackExample]:
    """Stored feedback joined to its scrubbed interaction, oldest first. Feedback whose exchange
    was never published (or is not through the scrubber and scorer yet, or was forgotten) has no
    text to learn from and is left out."""
    return list(iter_feedback_examples(registry, limit=limit))


def iter_feedback_examples(registry: Registry, *, limit: int | None = None) -> Iterator[FeedbackExample]:
    with registry.session() as s:
        q = select(FeedbackRow).where(FeedbackRow.record_id != "").order_by(FeedbackRow.created_at)
        if limit is not None:
            q = q.limit(limit)
        rows = list(s.scalars(q))
        ids = [r.record_id for r in rows]
        found: dict[str, tuple[str, bytes, str, str]] = {}
        for chunk in _chunks(ids, 500):
            for rid, blob in s.execute(
                select(ReviewItem.record_id, ReviewItem.record).where(ReviewItem.record_id.in_(chunk))
            ):
                found[rid] = ("held", blob, "", "")
            for rid, blob in s.execute(
                select(RejectionRow.record_id, RejectionRow.record).where(
                    RejectionRow.record_id.in_(chunk), RejectionRow.stage == "scorer"
                )
            ):
                if blob:
                    found[rid] = ("rejected", blob, "", "")
            for rid, blob, cluster, dup in s.execute(
                select(
                    CuratedRecord.record_id, CuratedRecord.record, CuratedRecord.cluster_id, CuratedRecord.duplicate_of
                ).where(CuratedRecord.record_id.in_(chunk))
            ):
                found[rid] = ("curated", blob, cluster, dup)  # the curated copy wins: the newest stage
    for row in rows:
        hit = found.get(row.record_id)
        if hit is None:
            continue
        where, blob, cluster, dup = hit
        record = records_pb2.Record.FromString(blob)
        yield FeedbackExample(
            response_id=row.response_id,
            record_id=row.record_id,
            subject_token=row.subject_token or record.subject_token,
            variant=row.variant,
            model=row.model,
            rollout_id=row.rollout_id,
            rating=row.rating,
            advice_accepted=row.advice_accepted,
            positive_outcome=row.positive_outcome,
            action_taken=row.action_taken,
            prompt="\n".join(t.text for t in record.turns if t.role == "user" and t.speaker != FEEDBACK_SPEAKER),
            answer="\n".join(t.text for t in record.turns if t.role == "assistant"),
            feedback_text=record.context.get(FEEDBACK_TEXT, ""),
            quality=record.quality.total,
            cluster_id=cluster or record.dedup.cluster_id,
            duplicate_of=dup or record.dedup.duplicate_of,
            where=where,
            created_at=row.created_at,
        )


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
