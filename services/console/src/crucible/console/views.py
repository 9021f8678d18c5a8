"""The pages' view models: pure functions from registry rows (plain dicts) to what a template shows.
No I/O here, so every page's logic is unit-tested without a server."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from crucible.common.categories import TARGET_SHARES
from crucible.common.run_figures import stage_rows

STATUSES = ("pending", "approved", "rejected", "all")


class BadFilter(ValueError):
    pass


@dataclass(frozen=True)
class ReviewFilter:
    status: str = "pending"
    reason: str = ""
    label: str = ""
    older_than_hours: float = 0.0
    newer_than_hours: float = 0.0
    page: int = 1

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> ReviewFilter:
        """From query parameters; a bad value is a `BadFilter` naming it."""
        status = params.get("status") or "pending"
        if status not in STATUSES:
            raise BadFilter(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
        values: dict[str, float] = {}
        for name in ("older_than_hours", "newer_than_hours", "page"):
            raw = (params.get(name) or "").strip()
            try:
                values[name] = float(raw) if raw else (1.0 if name == "page" else 0.0)
            except ValueError:
                raise BadFilter(f"{name} must be a number, got {raw!r}") from None
            if values[name] < 0 or not math.isfinite(values[name]):
                raise BadFilter(f"{name} must be a finite number >= 0, got {raw!r}")
        return cls(
            status=status,
            reason=(params.get("reason") or "").strip()[:64],
            label=(params.get("label") or "").strip()[:64],
            older_than_hours=values["older_than_hours"],
            newer_than_hours=values["newer_than_hours"],
            page=max(1, int(values["page"])),
        )

    def query(self, **change: Any) -> str:
        """This filter as a query string, with some fields changed (the pager's links)."""
        from urllib.parse import urlencode

        fields = {**self.__dict__, **change}
        return urlencode({k: v for k, v in fields.items() if v not in ("", 0, 0.0) or k == "status"})


def age_text(created: dt.datetime | None, now: dt.datetime) -> str:
    if created is None:
        return "-"
    if created.tzinfo is None:
        created = created.replace(tzinfo=dt.UTC)
    seconds = max(0.0, (now - created).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def review_list(rows: list[dict[str, Any]], total: int, f: ReviewFilter, page_size: int, now: dt.datetime) -> dict:
    pages = max(1, math.ceil(total / page_size))
    items = []
    for r in rows:
        d = r["detail"]
        safety = d.get("safety") or {}
        items.append(
            {
                "record_id": r["record_id"],
                "status": r["status"],
                "reason": r["reason"],
                "why": list(d.get("review") or []),
                "total": d.get("total"),
                "threshold": d.get("threshold"),
                "category": d.get("category") or "",
                "labels": sorted(((k, float(v)) for k, v in safety.items()), key=lambda kv: -kv[1]),
                "age": age_text(r["created_at"], now),
                "decided_by": r.get("decided_by", ""),
            }
        )
    return {
        "items": items,
        "total": total,
        "page": f.page,
        "pages": pages,
        "prev": f.query(page=f.page - 1) if f.page > 1 else None,
        "next": f.query(page=f.page + 1) if f.page < pages else None,
        "filter": f,
    }


def record_view(rec: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    d = rec["detail"]
    return {
        **rec,
        "why": list(d.get("review") or []),
        "total": d.get("total"),
        "threshold": d.get("threshold"),
        "components": dict(d.get("components") or {}),
        "issues": list(d.get("issues") or []),
        "labels": sorted(((k, float(v)) for k, v in (d.get("safety") or {}).items()), key=lambda kv: -kv[1]),
        "category": d.get("category") or rec.get("category") or "",
        "age": age_text(rec.get("created_at"), now),
        "decided": rec["status"] != "pending",
    }


def run_view(run: dict[str, Any]) -> dict[str, Any]:
    """A run's stage funnel (in → out per stage, with the share kept) and its rejections by reason."""
    rows = stage_rows(run.get("summary") or {})
    funnel = []
    reasons: dict[str, int] = {}
    for row in rows:
        n_in, n_out = int(row.get("in", 0) or 0), int(row.get("out", 0) or 0)
        rejected = row.get("rejected") or {}
        rejected = rejected if isinstance(rejected, dict) else {"rejected": int(rejected)}
        for reason, n in rejected.items():
            reasons[f"{row['stage']}: {reason}"] = reasons.get(f"{row['stage']}: {reason}", 0) + int(n)
        held = row.get("held") or {}
        funnel.append(
            {
                "stage": row["stage"],
                "in": n_in,
                "out": n_out,
                "kept_share": (n_out / n_in) if n_in else None,
                "rejected": sum(int(v) for v in rejected.values()),
                "held": sum(int(v) for v in held.values()) if isinstance(held, dict) else int(held),
            }
        )
    return {**run, "funnel": funnel, "rejections": sorted(reasons.items(), key=lambda kv: -kv[1])}


def dataset_view(
    d: dict[str, Any], audit: Mapping[str, Any] | None = None, targets: Mapping[str, float] = TARGET_SHARES
) -> dict[str, Any]:
    """Size, category mix against the target shares, synthetic share, and (with the manifest's audit) the
    fairness score per dimension, the groups below parity and the audit's recommendations."""
    counts = d.get("counts") or {}
    total = int(counts.get("total", 0) or 0)
    by_cat = {k: int(v) for k, v in (counts.get("by_category") or {}).items()}
    cat_total = sum(by_cat.values()) or 1
    mix = [
        {
            "category": cat,
            "count": by_cat.get(cat, 0),
            "share": by_cat.get(cat, 0) / cat_total,
            "target": target,
            "gap": by_cat.get(cat, 0) / cat_total - target,
        }
        for cat, target in targets.items()
    ]
    splits = dict(counts.get("splits") or {})
    synthetic = sum(int(v.get("synthetic", 0)) for v in splits.values() if isinstance(v, Mapping)) if splits else None
    gaps = [
        {"dimension": dim, **gap}
        for dim, row in ((audit or {}).get("dimensions") or {}).items()
        for gap in row.get("gaps") or []
    ]
    return {
        **d,
        "total": total,
        "splits": {k: (v.get("total", 0) if isinstance(v, Mapping) else v) for k, v in splits.items()},
        "mix": mix,
        "deficits": dict(counts.get("deficits") or {}),
        "synthetic_share": (synthetic / total) if synthetic is not None and total else None,
        "fairness_dimensions": {k: v.get("score") for k, v in ((audit or {}).get("dimensions") or {}).items()},
        "fairness_gaps": gaps,
        "recommendations": list((audit or {}).get("recommendations") or []),
    }


def rollout_view(status: dict[str, Any] | None) -> dict[str, Any]:
    if not status:
        return {"available": False}
    stages = [float(s) for s in status.get("stages") or []]
    return {
        "available": True,
        **status,
        "stages": stages,
        "stage_number": int(status.get("stage_index", 0) or 0) + 1,
        "canary_weight": float(status.get("canary_weight", 0) or 0),
        "active": status.get("state") in ("progressing", "paused"),
    }
