"""Data portability: everything Crucible holds about one person, as JSON (`crucible export`).

Each subject store contributes its part (`SubjectStore.export`): records as stored, labels,
review decisions, which dataset versions and models used them, interactions and feedback.
The opt-out state and the privacy receipts (by digest) are added here."""

from __future__ import annotations

from typing import Any

from crucible.common.forgetting import receipts_for
from crucible.common.privacy_keys import subject_digest
from crucible.common.registry import ForgottenSubject, OptedOutSubject, utcnow
from crucible.common.runtime import Runtime
from crucible.common.store_registry import all_stores
from crucible.common.subject_stores import SubjectStore, call

EXPORT_FORMAT = "crucible.subject-export/1"


async def export_subject(runtime: Runtime, token: str, stores: list[SubjectStore] | None = None) -> dict[str, Any]:
    digest = subject_digest(token)
    stores = all_stores() if stores is None else stores
    out: dict[str, Any] = {
        "format": EXPORT_FORMAT,
        "exported_at": utcnow().isoformat(),
        "subject_token": token,
        "stores": {},
    }
    for store in stores:
        if store.export is not None:
            out["stores"][store.name] = await call(store.export, runtime, token)
    with runtime.registry.session() as s:
        opted = s.get(OptedOutSubject, digest)
        forgotten = s.get(ForgottenSubject, digest)
        out["opt_out"] = {"opted_out": opted is not None, "since": opted.added_at.isoformat() if opted else None}
        out["forgotten_at"] = forgotten.forgotten_at.isoformat() if forgotten else None
    out["privacy_receipts"] = receipts_for(runtime.registry, digest)
    return out
