"""The right to deletion, everywhere: `forget_subject_everywhere` and its receipt.

1. resolve the subject's record ids in every store that knows them (before anything is deleted);
2. each store forgets the subject (`subject_stores.all_stores()`, in order): the review queue
   and rejections, the curated store and dataset versions (re-materialised or deleted), the
   dedup index, the interaction and feedback stores, the DLQ and EVENTS streams;
3. publish `subject.forget` (token + record ids) for running services with in-memory state
   (the dedup worker's index), wait for every consumer to acknowledge it, then delete it;
4. append a receipt to the privacy audit log (`privacy_receipts`): what was removed, where,
   when, by whom — counts and names only, the subject by digest.
Idempotent: a second run removes anything that arrived since and writes a second receipt.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from typing import Any

from sqlalchemy import select

from crucible.common import subjects
from crucible.common.privacy_keys import subject_digest
from crucible.common.registry import PrivacyReceipt, Registry, utcnow
from crucible.common.runtime import Runtime
from crucible.common.store_registry import all_stores
from crucible.common.subject_stores import ForgetRequest, SubjectStore, call

log = logging.getLogger(__name__)


async def subject_record_ids(runtime: Runtime, token: str, stores: list[SubjectStore]) -> set[str]:
    ids: set[str] = set()
    for store in stores:
        if store.record_ids is not None:
            ids |= set(await call(store.record_ids, runtime, token))
    return ids


async def forget_subject_everywhere(
    runtime: Runtime, token: str, *, requested_by: str = "crucible forget", stores: list[SubjectStore] | None = None
) -> dict[str, Any]:
    """Forget one subject in every store; returns the receipt (also appended to the audit log)."""
    if not token:
        raise ValueError("an empty subject token cannot be forgotten")
    stores = all_stores() if stores is None else stores
    started = utcnow()
    record_ids = await subject_record_ids(runtime, token, stores)
    request = ForgetRequest(subject_token=token, record_ids=frozenset(record_ids), requested_by=requested_by)
    removed: dict[str, Any] = {}
    for store in stores:
        if store.forget is not None:
            removed[store.name] = await call(store.forget, runtime, request)
    removed.setdefault("bus", {}).update(await _announce(runtime, request))
    receipt = {
        "receipt_id": uuid.uuid4().hex,
        "action": "forget",
        "subject_digest": subject_digest(token),
        "requested_by": requested_by,
        "started_at": started.isoformat(),
        "finished_at": utcnow().isoformat(),
        "record_count": len(record_ids),
        "stores": removed,
    }
    append_receipt(runtime.registry, receipt)
    tables = sorted({t for s in stores for t in s.tables} | {"forgotten_subjects", "privacy_receipts"})
    await asyncio.to_thread(runtime.registry.erase_deleted, tables)
    log.info("forgot a subject: receipt %s, %d records", receipt["receipt_id"], len(record_ids))
    return receipt


async def _announce(runtime: Runtime, request: ForgetRequest) -> dict[str, Any]:
    """Publish `subject.forget` for running services, then delete it once all have handled it."""
    if runtime.bus is None:
        return {"forget_event": "not published (no bus)"}
    from crucible.common.stream_privacy import delete_handled_forget_events
    from crucible.v1 import events_pb2

    event = events_pb2.SubjectForget(
        subject_token=request.subject_token, requested_by=request.requested_by, record_ids=sorted(request.record_ids)
    )
    event.requested_at.GetCurrentTime()
    await runtime.bus.publish_event(subjects.SUBJECT_FORGET, event)
    wait = runtime.policy.privacy.forget.event_wait_seconds
    return await delete_handled_forget_events(runtime.bus, wait_seconds=wait)


def append_receipt(registry: Registry, receipt: dict[str, Any]) -> None:
    """Append one receipt to the privacy audit log (insert only: nothing updates or deletes it)."""
    with registry.session() as s:
        s.add(
            PrivacyReceipt(
                receipt_id=receipt["receipt_id"],
                at=dt.datetime.fromisoformat(receipt.get("finished_at") or utcnow().isoformat()),
                action=receipt["action"],
                subject_digest=receipt.get("subject_digest", ""),
                requested_by=receipt.get("requested_by", ""),
                receipt=receipt,
            )
        )


def receipts_for(registry: Registry, digest: str | None = None) -> list[dict[str, Any]]:
    query = select(PrivacyReceipt).order_by(PrivacyReceipt.at)
    if digest is not None:
        query = query.where(PrivacyReceipt.subject_digest == digest)
    with registry.session() as s:
        return [dict(r.receipt) for r in s.scalars(query)]


def format_receipt(receipt: dict[str, Any]) -> str:
    lines = [
        f"forget receipt {receipt['receipt_id']} ({receipt['finished_at']})",
        f"  subject digest {receipt['subject_digest'][:16]}…, {receipt['record_count']} record id(s) resolved",
    ]
    for store, what in receipt["stores"].items():
        if isinstance(what, dict):
            parts = [f"{k} {v}" for k, v in what.items() if not isinstance(v, list | dict)]
            parts += [f"{k}: {', '.join(map(str, v)) or '-'}" for k, v in what.items() if isinstance(v, list)]
            lines.append(f"  {store:<10} " + "; ".join(parts))
        else:
            lines.append(f"  {store:<10} {what}")
    return "\n".join(lines)
