"""The scorer's registry side: rejected records kept for audit, the review queue, and the curated store
read back to seed the diversity distribution. Every write is an upsert by key, so a redelivered batch
writes the same rows again, and a decision already taken on a review item is never reopened."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from crucible.common import review
from crucible.common.registry import CuratedRecord, Registry, RejectionRow, ReviewItem
from crucible.common.stage import Sink, StageResult
from crucible.scorer.diversity import RunningDistribution
from crucible.scorer.diversity_state import DiversityLedger
from crucible.scorer.policy import DiversityPolicy
from crucible.v1 import records_pb2

STAGE = "scorer"
PENDING, APPROVED, REJECTED = review.PENDING, review.APPROVED, review.REJECTED


class ScorerSink(Sink):
    def __init__(self, registry: Registry, run_id: str = "", ledger: DiversityLedger | None = None) -> None:
        self.registry = registry
        self.run_id = run_id
        # The diversity snapshot of the batch is written in the same transaction as its
        # rejections and review items: all of it or none before the worker acks.
        self.ledger = ledger

    def persist(self, result: StageResult) -> None:
        pending = self.ledger is not None and self.ledger.pending is not None
        if not result.rejected and not result.held and not pending:
            return
        settle = None
        with self.registry.session() as s:
            if self.ledger is not None:
                settle = self.ledger.commit(s)
            for rej in result.rejected:
                s.merge(
                    RejectionRow(
                        stage=STAGE,
                        record_id=rej.record.record_id,
                        run_id=self.run_id,
                        reason=rej.reason,
                        detail=rej.detail,
                        subject_token=rej.record.subject_token,
                        record=rej.record.SerializeToString(),
                    )
                )
            for held in result.held:
                item = s.get(ReviewItem, held.record.record_id)
                if item is None:
                    s.add(
                        ReviewItem(
                            record_id=held.record.record_id,
                            stage=STAGE,
                            reason=held.reason,
                            detail=held.detail,
                            subject_token=held.record.subject_token,
                            record=held.record.SerializeToString(),
                            status=PENDING,
                        )
                    )
                elif item.status == PENDING:
                    item.reason, item.detail = held.reason, held.detail
                    item.record = held.record.SerializeToString()
        if settle is not None:
            settle()


def seed_distribution(registry: Registry, policy: DiversityPolicy) -> RunningDistribution:
    """The running distribution as the curated store has it now (first member of each duplicate cluster)."""
    dist = RunningDistribution(policy)
    with registry.session() as s:
        rows = s.execute(select(CuratedRecord.category, CuratedRecord.record).where(CuratedRecord.duplicate_of == ""))
        for category, blob in rows.yield_per(1000):
            record = records_pb2.Record.FromString(blob)
            dist.observe(category or record.category, dict(record.context))
    return dist


def diversity_ledger(registry: Registry, policy: DiversityPolicy) -> DiversityLedger:
    """The persisted diversity state: the newest snapshot, or one seeded from the curated store."""
    return DiversityLedger.load(registry, policy, lambda: seed_distribution(registry, policy))


def review_items(registry: Registry, status: str | None = PENDING, limit: int = 100) -> list[dict[str, Any]]:
    with registry.session() as s:
        q = select(ReviewItem).where(ReviewItem.stage == STAGE).order_by(ReviewItem.created_at, ReviewItem.record_id)
        if status and status != "all":
            q = q.where(ReviewItem.status == status)
        return [_summary(item) for item in s.scalars(q.limit(limit))]


def review_item(registry: Registry, record_id: str) -> dict[str, Any]:
    with registry.session() as s:
        item = s.get(ReviewItem, record_id)
        if item is None:
            raise LookupError(f"no review item {record_id!r}")
        record = records_pb2.Record.FromString(item.record)
        out = _summary(item)
        out["breakdown"] = review.detail_of(item.detail)
        out["turns"] = [{"role": t.role, "text": t.text} for t in record.turns]
        out["context"] = dict(record.context)
        out["decided_by"], out["decision_note"] = item.decided_by, item.decision_note
        out["decided_at"] = item.decided_at.isoformat() if item.decided_at else None
        return out


def pending_record(registry: Registry, record_id: str) -> records_pb2.Record:
    """The held record, if it still waits for a decision (approving twice is an error, not a re-publish)."""
    with registry.session() as s:
        item = s.get(ReviewItem, record_id)
        if item is None:
            raise LookupError(f"no review item {record_id!r}")
        if item.status != PENDING:
            raise ValueError(f"review item {record_id!r} is already {item.status}")
        return records_pb2.Record.FromString(item.record)


def record_decision(registry: Registry, record_id: str, status: str, by: str, note: str) -> None:
    review.decide(registry, record_id, status, by, note)


def review_counts(registry: Registry) -> dict[str, int]:
    from sqlalchemy import func

    with registry.session() as s:
        rows = s.execute(
            select(ReviewItem.status, func.count()).where(ReviewItem.stage == STAGE).group_by(ReviewItem.status)
        )
        return {status: int(n) for status, n in rows}


def rejection_counts(registry: Registry) -> dict[str, int]:
    from sqlalchemy import func

    with registry.session() as s:
        rows = s.execute(
            select(RejectionRow.reason, func.count()).where(RejectionRow.stage == STAGE).group_by(RejectionRow.reason)
        )
        return {reason: int(n) for reason, n in rows}


def _summary(item: ReviewItem) -> dict[str, Any]:
    detail = review.detail_of(item.detail)
    return {
        "record_id": item.record_id,
        "status": item.status,
        "reason": item.reason,
        "why": detail.get("review", []),
        "total": detail.get("total"),
        "threshold": detail.get("threshold"),
        "category": detail.get("category"),
        "safety": detail.get("safety", {}),
        "created_at": item.created_at.isoformat() if item.created_at else None,
    }
