"""From generated outcomes to records on crucible.records.raw: the distribution check per
category, a sample in the review queue, and publication once admitted.

States of a plan's batch (ledger `admission.json`): `awaiting_review` (sample queued),
`admitted` (published), `refused` (a reviewer rejected a sampled record), plus per category
`drifted` (the distribution check failed: never published)."""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from sqlalchemy import select

from crucible.common import subjects
from crucible.common.bus import Bus
from crucible.common.registry import CuratedRecord, Registry, ReviewItem
from crucible.synthesizer.conversation import STAGE
from crucible.synthesizer.ledger import Ledger
from crucible.synthesizer.policy import SynthesizerPolicy
from crucible.synthesizer.validation import conversation_text, distribution_check, shape_stats
from crucible.v1 import records_pb2

log = logging.getLogger(__name__)

REVIEW_REASON = "synthetic_sample"
Embedder = Callable[[Sequence[str]], np.ndarray]


def reference_records(registry: Registry, category: str | None, limit: int) -> list[records_pb2.Record]:
    """Real (non-synthetic) curated records, of one category or of all."""
    with registry.session() as s:
        q = select(CuratedRecord.record).where(CuratedRecord.synthetic.is_(False))
        if category:
            q = q.where(CuratedRecord.category == category)
        blobs = s.scalars(q.order_by(CuratedRecord.record_id).limit(limit)).all()
    return [records_pb2.Record.FromString(b) for b in blobs]


def validate_batch(
    by_category: dict[str, list[records_pb2.Record]],
    registry: Registry,
    policy: SynthesizerPolicy,
    embed: Embedder,
) -> dict[str, dict[str, Any]]:
    """One verdict per category. Too few real records of a category: compared with all real records."""
    vp = policy.validation
    out: dict[str, dict[str, Any]] = {}
    for category, batch in sorted(by_category.items()):
        reference = reference_records(registry, category, vp.reference_records)
        scope = "category"
        if len(reference) < vp.min_reference_records:
            reference = reference_records(registry, None, vp.reference_records)
            scope = "all_categories"
        if len(reference) < vp.min_reference_records:
            out[category] = {
                "passed": False,
                "reasons": [f"only {len(reference)} real records to compare with (policy {vp.min_reference_records})"],
                "figures": {},
                "reference_scope": "none",
            }
            continue
        verdict = distribution_check(
            shape_stats(batch),
            shape_stats(reference),
            embed([conversation_text(r) for r in batch]),
            embed([conversation_text(r) for r in reference]),
            vp,
        )
        out[category] = {
            "passed": verdict.passed,
            "reasons": list(verdict.reasons),
            "figures": verdict.figures,
            "reference_scope": scope,
        }
    return out


def review_sample(records: Sequence[records_pb2.Record], size: int) -> list[records_pb2.Record]:
    """A deterministic sample (by hashed record id), spread over the batch."""
    ranked = sorted(records, key=lambda r: hashlib.sha256(r.record_id.encode()).hexdigest())
    return ranked[:size]


def review_key(record_id: str) -> str:
    # Own key space: the scorer may hold the same record later under its plain id.
    return f"{STAGE}:{record_id}"


def queue_for_review(registry: Registry, plan_id: str, sample: Sequence[records_pb2.Record]) -> None:
    with registry.session() as s:
        for record in sample:
            if s.get(ReviewItem, review_key(record.record_id)) is None:
                s.add(
                    ReviewItem(
                        record_id=review_key(record.record_id),
                        stage=STAGE,
                        reason=REVIEW_REASON,
                        detail=plan_id,
                        subject_token=record.subject_token,
                        record=record.SerializeToString(),
                    )
                )


def review_status(registry: Registry, plan_id: str) -> dict[str, int]:
    with registry.session() as s:
        rows = s.scalars(select(ReviewItem).where(ReviewItem.stage == STAGE, ReviewItem.detail == plan_id)).all()
        counts: dict[str, int] = defaultdict(int)
        for row in rows:
            counts[row.status] += 1
        return dict(counts)


def review_items(registry: Registry, status: str | None) -> list[dict[str, Any]]:
    with registry.session() as s:
        q = select(ReviewItem).where(ReviewItem.stage == STAGE).order_by(ReviewItem.created_at, ReviewItem.record_id)
        if status and status != "all":
            q = q.where(ReviewItem.status == status)
        out = []
        for item in s.scalars(q):
            record = records_pb2.Record.FromString(item.record)
            out.append(
                {
                    "record_id": record.record_id,
                    "plan_id": item.detail,
                    "status": item.status,
                    "category": record.context.get("synthetic_category", ""),
                    "turns": [{"role": t.role, "text": t.text} for t in record.turns],
                }
            )
        return out


def decide(registry: Registry, record_id: str, status: str, by: str, note: str) -> str:
    """Approve or reject one sampled record; returns its plan id."""
    import datetime as dt

    with registry.session() as s:
        item = s.get(ReviewItem, review_key(record_id))
        if item is None:
            raise LookupError(f"no synthetic review item {record_id!r}")
        if item.status != "pending":
            raise ValueError(f"review item {record_id!r} is already {item.status}")
        item.status, item.decided_by, item.decision_note = status, by, note
        item.decided_at = dt.datetime.now(dt.UTC)
        return item.detail


def batch_msg_id(records: Sequence[records_pb2.Record]) -> str:
    """From the record ids, so a republished batch is dropped by JetStream's duplicate window."""
    digest = hashlib.sha256("\n".join(r.record_id for r in records).encode()).hexdigest()[:24]
    return f"{STAGE}:{digest}"


async def publish_records(bus: Bus, records: Sequence[records_pb2.Record], per_message: int) -> int:
    """Publish to RAW in RecordBatches and wait for every PubAck (raises PublishError otherwise)."""
    items: list[tuple[str, bytes, str | None, dict[str, str]]] = []
    for start in range(0, len(records), per_message):
        chunk = list(records[start : start + per_message])
        batch = records_pb2.RecordBatch(records=chunk)
        items.append((subjects.RAW, batch.SerializeToString(), batch_msg_id(chunk), {"Crucible-Source": STAGE}))
    await bus.publish_many(items)
    return len(records)


def admissible(ledger: Ledger, validation: dict[str, dict[str, Any]]) -> list[records_pb2.Record]:
    """Generated records of the categories that passed the distribution check."""
    passed = {c for c, v in validation.items() if v["passed"]}
    out = []
    for outcome in ledger.outcomes():
        if outcome.status == "generated" and outcome.category in passed:
            out.append(records_pb2.Record.FromString(outcome.record))
    return out
