"""The stores that hold something of a person, and what each does for forget, export and retention.

Every place that keeps records, labels or logs about a subject contributes one `SubjectStore`:
the kernel's own (`builtin_stores`: review queue and rejections, the bus streams, run logs) and
each service's (`ServiceSpec.subject_stores`: the dataset's curated store and versions, the
dedup index, the gateway's interaction and feedback stores). `crucible forget`, `crucible export`
and `crucible retention run` go through `all_stores()`, so a new store is covered by adding it
to its service's spec, never by editing the commands.

Each function may be sync or async and returns JSON-able data without personal data (counts,
names of versions and models), except `export`, whose result is handed to the person.
"""

from __future__ import annotations

import datetime as dt
import inspect
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from google.protobuf.json_format import MessageToDict
from sqlalchemy import delete, func, select

from crucible.common.config import RetentionPolicy
from crucible.common.registry import RejectionRow, ReviewItem, Run
from crucible.v1 import records_pb2

if TYPE_CHECKING:
    from crucible.common.runtime import Runtime


@dataclass(frozen=True)
class ForgetRequest:
    """One subject to forget. `record_ids` are every record id any store knew for the token,
    resolved before anything was deleted (stores keyed by record id need them)."""

    subject_token: str
    record_ids: frozenset[str] = frozenset()
    requested_by: str = ""


@dataclass(frozen=True)
class RetentionRequest:
    now: dt.datetime
    dry_run: bool
    policy: RetentionPolicy

    def cutoff(self, days: float) -> dt.datetime:
        return self.now - dt.timedelta(days=days)


Fn = Callable[..., Any]


@dataclass(frozen=True)
class SubjectStore:
    """What one store does for privacy; every function is optional.

    - `record_ids(runtime, token)`: the subject's record ids this store knows (before forgetting);
    - `forget(runtime, ForgetRequest)`: remove the subject; returns what was removed (counts);
    - `export(runtime, token)`: everything the store holds about the subject, JSON-able;
    - `retention(runtime, RetentionRequest)`: remove (or, dry run, count) what is older than policy;
    - `tables`: the registry tables `forget` deletes from (vacuumed afterwards on PostgreSQL).
    Stores run in `order` (lower first): derived stores after the ones they are derived from.
    """

    name: str
    order: int = 100
    record_ids: Fn | None = None
    forget: Fn | None = None
    export: Fn | None = None
    retention: Fn | None = None
    # Registry tables `forget` deletes from, vacuumed afterwards on PostgreSQL (dead tuples).
    tables: tuple[str, ...] = ()


async def call(fn: Fn, *args: Any) -> Any:
    result = fn(*args)
    if inspect.isawaitable(result):
        result = await result
    return result


def record_as_json(blob: bytes) -> dict[str, Any]:
    """A stored (serialized) record as the person can read it."""
    return MessageToDict(records_pb2.Record.FromString(blob), preserving_proto_field_name=True)


# --- the review queue and the rejections (scrubbed text kept by stages after the scrubber) ---


def _review_record_ids(runtime: Runtime, token: str) -> set[str]:
    with runtime.registry.session() as s:
        ids = set(s.scalars(select(ReviewItem.record_id).where(ReviewItem.subject_token == token)))
        ids |= set(s.scalars(select(RejectionRow.record_id).where(RejectionRow.subject_token == token)))
    return ids


def _review_forget(runtime: Runtime, request: ForgetRequest) -> dict[str, int]:
    token = request.subject_token
    with runtime.registry.session() as s:
        review = s.execute(delete(ReviewItem).where(ReviewItem.subject_token == token)).rowcount or 0
        rejections = s.execute(delete(RejectionRow).where(RejectionRow.subject_token == token)).rowcount or 0
    return {"review_items": int(review), "rejections": int(rejections)}


def _review_export(runtime: Runtime, token: str) -> dict[str, Any]:
    with runtime.registry.session() as s:
        review = s.scalars(select(ReviewItem).where(ReviewItem.subject_token == token)).all()
        rejections = s.scalars(select(RejectionRow).where(RejectionRow.subject_token == token)).all()
        return {
            "review_items": [
                {
                    "record_id": r.record_id, "stage": r.stage, "reason": r.reason, "status": r.status,
                    "decision_note": r.decision_note, "created_at": r.created_at.isoformat(),
                    "record": record_as_json(r.record),
                }
                for r in review
            ],
            "rejections": [
                {
                    "record_id": r.record_id, "stage": r.stage, "reason": r.reason, "detail": r.detail,
                    "created_at": r.created_at.isoformat(),
                    "record": record_as_json(r.record) if r.record else None,
                }
                for r in rejections
            ],
        }  # fmt: skip


def _review_retention(runtime: Runtime, request: RetentionRequest) -> dict[str, int]:
    cutoff = request.cutoff(request.policy.review_days)
    out = {}
    with runtime.registry.session() as s:
        for name, model in (("review_items", ReviewItem), ("rejections", RejectionRow)):
            old = model.created_at < cutoff
            if request.dry_run:
                out[name] = int(s.scalar(select(func.count()).select_from(model).where(old)) or 0)
            else:
                out[name] = int(s.execute(delete(model).where(old)).rowcount or 0)
    return out


REVIEW_STORE = SubjectStore(
    name="review",
    order=20,
    tables=("review_queue", "rejections"),
    record_ids=_review_record_ids,
    forget=_review_forget,
    export=_review_export,
    retention=_review_retention,
)


# --- run logs: run rows and run folders under CRUCIBLE_HOME/runs ---


def _runs_retention(runtime: Runtime, request: RetentionRequest) -> dict[str, int]:
    cutoff = request.cutoff(request.policy.run_log_days)
    with runtime.registry.session() as s:
        old_ids = list(s.scalars(select(Run.run_id).where(Run.started_at < cutoff)))
        if not request.dry_run and old_ids:
            s.execute(delete(Run).where(Run.run_id.in_(old_ids)))
    folders = 0
    runs_dir = runtime.settings.home / "runs"
    if runs_dir.is_dir():
        for folder in runs_dir.iterdir():
            modified = dt.datetime.fromtimestamp(folder.stat().st_mtime, dt.UTC)
            if folder.is_dir() and modified < cutoff:
                folders += 1
                if not request.dry_run:
                    shutil.rmtree(folder, ignore_errors=True)
    return {"runs": len(old_ids), "run_folders": folders}


RUNS_STORE = SubjectStore(name="runs", order=90, retention=_runs_retention)
