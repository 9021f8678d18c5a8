"""The right to be forgotten: remove a person's records, mark what was built from them.

Past versions are not rebuilt in place (their manifests and hashes are an audit trail); every
dataset version and every model that contained the person is marked
`contains_forgotten_subject`, the subject is recorded in `forgotten_subjects`, and both the
store's intake and every later build exclude the token.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import delete, select, update

from crucible.common.registry import (
    DatasetMember,
    DatasetVersion,
    ForgottenSubject,
    ModelVersion,
    Registry,
    RejectionRow,
    ReviewItem,
    utcnow,
)
from crucible.dataset.store import delete_subject_records


def subject_token_for(secret: bytes, user_id: str) -> str:
    """HMAC-SHA256(secret, user_id) hex: the same token the extractor puts on records."""
    return hmac.new(secret, user_id.encode("utf-8"), hashlib.sha256).hexdigest()


@dataclass
class ForgetReport:
    subject_token: str
    already_forgotten: bool
    removed_records: list[str] = field(default_factory=list)
    removed_rejections: int = 0
    removed_review_items: int = 0
    marked_versions: list[str] = field(default_factory=list)
    marked_models: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["removed_record_count"] = len(self.removed_records)
        return out


def forget_subject(registry: Registry, token: str) -> ForgetReport:
    """Remove everything the registry holds of one subject and mark what was built from it.
    Idempotent: a second call removes nothing and reports `already_forgotten`."""
    if not token:
        raise ValueError("an empty subject token cannot be forgotten")
    with registry.session() as session:
        previous = session.get(ForgottenSubject, token)
        report = ForgetReport(subject_token=token, already_forgotten=previous is not None)
        report.removed_records = delete_subject_records(session, token)
        # Records held or rejected by earlier stages carry the person's (scrubbed) text too.
        report.removed_rejections = _delete_count(session, RejectionRow, token)
        report.removed_review_items = _delete_count(session, ReviewItem, token)

        versions = sorted(
            set(session.scalars(select(DatasetMember.version).where(DatasetMember.subject_token == token)))
        )
        if versions:
            session.execute(
                update(DatasetVersion)
                .where(DatasetVersion.version.in_(versions))
                .values(contains_forgotten_subject=True)
            )
            report.marked_models = sorted(
                session.scalars(select(ModelVersion.name).where(ModelVersion.dataset_version.in_(versions)))
            )
            if report.marked_models:
                session.execute(
                    update(ModelVersion)
                    .where(ModelVersion.name.in_(report.marked_models))
                    .values(contains_forgotten_subject=True)
                )
        report.marked_versions = versions
        # The marks now carry the fact; the membership rows would keep linking the token to versions.
        session.execute(delete(DatasetMember).where(DatasetMember.subject_token == token))

        removed = len(report.removed_records)
        if previous is None:
            session.add(ForgottenSubject(subject_token=token, forgotten_at=utcnow(), removed_records=removed))
        else:
            previous.removed_records += removed
    return report


def _delete_count(session: Any, model: Any, token: str) -> int:
    result = session.execute(delete(model).where(model.subject_token == token))
    return int(result.rowcount or 0)


def format_forget_report(report: ForgetReport) -> str:
    lines = [f"subject {report.subject_token[:12]}…"]
    if report.already_forgotten:
        lines.append("  was already forgotten; removed anything that arrived since")
    lines.append(f"  removed {len(report.removed_records)} curated record(s)")
    for rid in report.removed_records:
        lines.append(f"    - {rid}")
    if report.removed_rejections or report.removed_review_items:
        lines.append(
            f"  removed {report.removed_rejections} rejected and {report.removed_review_items} review-queue record(s)"
        )
    if report.marked_versions:
        lines.append("  marked contains_forgotten_subject on dataset version(s): " + ", ".join(report.marked_versions))
    else:
        lines.append("  no dataset version contained this subject")
    if report.marked_models:
        lines.append("  marked contains_forgotten_subject on model(s): " + ", ".join(report.marked_models))
    else:
        lines.append("  no model was trained on a version containing this subject")
    return "\n".join(lines)
