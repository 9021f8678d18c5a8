"""What the console reads from the registry, as plain dicts (the I/O side; the pages' view models are
built from these by the pure functions in `views.py`).

The review list is filtered and paginated in SQL (reason and age on columns, a safety label by a match
on the stored detail JSON), so a queue of tens of thousands costs one indexed page read and one count.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import func, select

from crucible.common import review
from crucible.common.artifacts import ArtifactStore
from crucible.common.redaction import redact
from crucible.common.registry import AuditEntry, DatasetVersion, Registry, ReviewItem, Run
from crucible.common.review import STAGE, detail_of
from crucible.console.views import ReviewFilter
from crucible.v1 import records_pb2


def review_page(registry: Registry, f: ReviewFilter, page_size: int, now: dt.datetime) -> tuple[list[dict], int]:
    """(the page's items, how many match the filter)."""
    conds = [ReviewItem.stage == STAGE]
    if f.status != "all":
        conds.append(ReviewItem.status == f.status)
    if f.reason:
        conds.append(ReviewItem.reason == f.reason)
    if f.label:
        # The detail is the scorer's sorted JSON: a label is a key `"<label>": <score>` under "safety".
        conds.append(ReviewItem.detail.contains(json.dumps(f.label), autoescape=True))
    if f.older_than_hours:
        conds.append(ReviewItem.created_at <= now - dt.timedelta(hours=f.older_than_hours))
    if f.newer_than_hours:
        conds.append(ReviewItem.created_at >= now - dt.timedelta(hours=f.newer_than_hours))
    with registry.session() as s:
        total = int(s.scalar(select(func.count()).select_from(ReviewItem).where(*conds)) or 0)
        rows = s.execute(
            select(
                ReviewItem.record_id,
                ReviewItem.status,
                ReviewItem.reason,
                ReviewItem.detail,
                ReviewItem.created_at,
                ReviewItem.decided_by,
            )
            .where(*conds)
            .order_by(ReviewItem.created_at, ReviewItem.record_id)
            .offset((f.page - 1) * page_size)
            .limit(page_size)
        ).all()
    return [
        {
            "record_id": r.record_id,
            "status": r.status,
            "reason": r.reason,
            "detail": detail_of(r.detail),
            "created_at": r.created_at,
            "decided_by": r.decided_by,
        }
        for r in rows
    ], total


def review_reasons(registry: Registry) -> list[str]:
    with registry.session() as s:
        return list(s.scalars(select(ReviewItem.reason).where(ReviewItem.stage == STAGE).distinct()))


def review_record(registry: Registry, record_id: str) -> dict[str, Any]:
    """One held record: its scrubbed turns, context, detail and decision. `LookupError` if absent."""
    with registry.session() as s:
        item = s.get(ReviewItem, record_id)
        if item is None:
            raise LookupError(f"no review item {record_id!r}")
        record = records_pb2.Record.FromString(item.record)
        return {
            "record_id": item.record_id,
            "status": item.status,
            "reason": item.reason,
            "detail": detail_of(item.detail),
            "turns": [{"role": t.role, "text": t.text} for t in record.turns],
            "context": dict(record.context),
            "category": record.category,
            "created_at": item.created_at,
            "decided_by": item.decided_by,
            "decision_note": item.decision_note,
            "decided_at": item.decided_at,
        }


def runs(registry: Registry, limit: int = 20) -> list[dict[str, Any]]:
    with registry.session() as s:
        rows = s.scalars(select(Run).order_by(Run.started_at.desc()).limit(limit)).all()
        return [
            {
                "run_id": r.run_id,
                "status": r.status,
                "started_at": r.started_at,
                "finished_at": r.finished_at,
                "summary": redact(dict(r.summary or {})),  # runs stored before redaction existed
            }
            for r in rows
        ]


def datasets(registry: Registry, limit: int = 20) -> list[dict[str, Any]]:
    with registry.session() as s:
        rows = s.scalars(select(DatasetVersion).order_by(DatasetVersion.seq.desc()).limit(limit)).all()
        return [
            {
                "version": d.version,
                "created_at": d.created_at,
                "fairness_score": d.fairness_score,
                "below_fairness_target": d.below_fairness_target,
                "contains_forgotten_subject": d.contains_forgotten_subject,
                "counts": dict(d.counts or {}),
                "manifest_uri": d.manifest_uri,
            }
            for d in rows
        ]


def manifest_audit(artifacts: ArtifactStore, manifest_uri: str) -> dict[str, Any] | None:
    """The bias audit of a dataset version from its manifest (fairness per dimension, gaps, recommendations);
    None when the manifest is not in this artifact store or cannot be read."""
    root = artifacts.uri("")
    if not manifest_uri.startswith(root):
        return None
    try:
        return dict(artifacts.read_json(manifest_uri.removeprefix(root)).get("audit") or {})
    except (OSError, ValueError):
        return None


def audit(registry: Registry, actor: str, role: str, action: str, target: str, outcome: str, detail: str = "") -> None:
    with registry.session() as s:
        s.add(AuditEntry(actor=actor, role=role, action=action, target=target, outcome=outcome, detail=detail))


def audit_log(registry: Registry, limit: int = 50) -> list[dict[str, Any]]:
    with registry.session() as s:
        rows = s.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)).all()
        return [
            {"at": a.at, "actor": a.actor, "role": a.role, "action": a.action, "target": a.target,
             "outcome": a.outcome, "detail": a.detail}
            for a in rows
        ]  # fmt: skip


def review_counts(registry: Registry) -> dict[str, int]:
    with registry.session() as s:
        rows = s.execute(
            select(ReviewItem.status, func.count()).where(ReviewItem.stage == STAGE).group_by(ReviewItem.status)
        )
        return {status: int(n) for status, n in rows}


def next_pending(registry: Registry, after: str) -> str | None:
    """The pending item after `after` in queue order (or the first pending one), for "decide, then next"."""
    with registry.session() as s:
        current = s.get(ReviewItem, after)
        q = select(ReviewItem.record_id).where(
            ReviewItem.stage == STAGE, ReviewItem.status == review.PENDING, ReviewItem.record_id != after
        )
        if current is not None:
            later = q.where(
                (ReviewItem.created_at > current.created_at)
                | ((ReviewItem.created_at == current.created_at) & (ReviewItem.record_id > after))
            )
            found = s.scalar(later.order_by(ReviewItem.created_at, ReviewItem.record_id).limit(1))
            if found:
                return found
        return s.scalar(q.order_by(ReviewItem.created_at, ReviewItem.record_id).limit(1))
