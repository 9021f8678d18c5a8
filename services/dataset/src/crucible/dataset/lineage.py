"""A curated record's lineage: where it came from, which stages touched it, its dedup cluster,
and the dataset versions (and splits) it went into."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from crucible.common.registry import CuratedRecord, DatasetMember, Registry


def record_lineage(registry: Registry, record_id: str) -> dict[str, Any] | None:
    with registry.session() as session:
        row = session.get(CuratedRecord, record_id)
        if row is None:
            return None
        members = session.execute(
            select(DatasetMember.version, DatasetMember.split)
            .where(DatasetMember.record_id == record_id)
            .order_by(DatasetMember.version)
        ).all()
        return {
            "record_id": row.record_id,
            "source": {"table": row.source_table, "key": row.source_key},
            "subject_token": row.subject_token,
            "kind": row.kind,
            "category": row.category,
            "quality": row.quality,
            "synthetic": row.synthetic,
            "stage_versions": dict(row.stage_versions or {}),
            "dedup": {"cluster_id": row.cluster_id, "duplicate_of": row.duplicate_of},
            "dataset_versions": [{"version": v, "split": s} for v, s in members],
        }
