"""What `crucible models list` and `crucible models show` print: registry rows as plain dicts.

One place reads a model's lineage together: the dataset version it was trained on (and how many
records that version holds), its evaluation, its rollouts' decisions, and every lifecycle
transition with who caused it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from crucible.common import lifecycle
from crucible.common.registry import DatasetVersion, ModelVersion, Registry

SUMMARY_METRICS = ("perplexity", "bleu", "rouge_l", "bertscore_f1", "safety_pass_rate")


def list_models(registry: Registry, *, pool: str | None = None, status: str | None = None) -> list[dict[str, Any]]:
    """Every registered model, oldest first: name, base, status, pool, dataset version, created, metrics."""
    with registry.session() as s:
        query = select(ModelVersion).order_by(ModelVersion.seq, ModelVersion.created_at)
        if pool is not None:
            query = query.where(ModelVersion.pool == pool)
        if status is not None:
            query = query.where(ModelVersion.status == status)
        return [_summary(mv) for mv in s.scalars(query)]


def show_model(registry: Registry, name: str) -> dict[str, Any]:
    """One model with its lineage; raises `LookupError` when it is not registered."""
    with registry.session() as s:
        mv = s.get(ModelVersion, name)
        if mv is None:
            raise LookupError(f"model {name!r} is not in the registry")
        dsv = s.get(DatasetVersion, mv.dataset_version) if mv.dataset_version else None
        out = _summary(mv)
        out.update(
            {
                "job_id": mv.job_id,
                "adapter_uri": mv.adapter_uri,
                "merged_uri": mv.merged_uri,
                "contains_forgotten_subject": mv.contains_forgotten_subject,
                "dataset": {
                    "version": mv.dataset_version,
                    "records": int((dsv.counts or {}).get("total", 0)) if dsv else None,
                    "counts": dict(dsv.counts or {}) if dsv else {},
                    "manifest_uri": dsv.manifest_uri if dsv else "",
                },
                "evaluation": dict(mv.evaluation or {}),
                "rollouts": list(mv.rollouts or []),
                "history": [
                    {
                        "at": t.at.isoformat() if t.at else "",
                        "from": t.from_status,
                        "to": t.to_status,
                        "actor": t.actor,
                        "reason": t.reason,
                    }
                    for t in lifecycle.history(s, name)
                ],
            }
        )
        return out


def _summary(mv: ModelVersion) -> dict[str, Any]:
    metrics = dict((mv.evaluation or {}).get("metrics") or {})
    return {
        "name": mv.name,
        "base_model": mv.base_model,
        "status": mv.status,
        "pool": mv.pool,
        "dataset_version": mv.dataset_version,
        "created_at": mv.created_at.isoformat() if mv.created_at else "",
        "passed": (mv.evaluation or {}).get("passed"),
        "metrics": {k: metrics[k] for k in SUMMARY_METRICS if k in metrics},
    }
