"""The duplicate report of a run: clusters with their sizes and members, and every
duplicate pair with its estimated similarity. Pure: rows in, a JSON-able dict out."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from typing import Any


def decision_row(record_id: str, cluster_id: str, duplicate_of: str, similarity: float, exact: bool) -> dict[str, Any]:
    return {
        "record_id": record_id,
        "cluster_id": cluster_id,
        "duplicate_of": duplicate_of or None,
        "similarity": round(float(similarity), 6),
        "exact": bool(exact),
    }


def build_report(rows: Iterable[Mapping[str, Any]], threshold: float | None = None) -> dict[str, Any]:
    """Rows as written by `decision_row`; a record seen twice (redelivery) counts once."""
    by_id: dict[str, Mapping[str, Any]] = {}
    for row in rows:
        by_id.setdefault(str(row["record_id"]), row)
    members: dict[str, list[str]] = defaultdict(list)
    pairs = []
    for rid, row in by_id.items():
        members[str(row["cluster_id"])].append(rid)
        if row.get("duplicate_of"):
            pairs.append(
                {
                    "record_id": rid,
                    "duplicate_of": row["duplicate_of"],
                    "cluster_id": row["cluster_id"],
                    "similarity": row["similarity"],
                    "exact": bool(row.get("exact")),
                }
            )
    clusters = sorted(
        ({"cluster_id": cid, "size": len(ids), "members": sorted(ids)} for cid, ids in members.items() if len(ids) > 1),
        key=lambda c: (-c["size"], c["cluster_id"]),
    )
    exact = sum(1 for p in pairs if p["exact"])
    sizes = Counter(len(ids) for ids in members.values())
    return {
        "threshold": threshold,
        "records": len(by_id),
        "unique": len(by_id) - len(pairs),
        "duplicates": len(pairs),
        "exact_duplicates": exact,
        "near_duplicates": len(pairs) - exact,
        "clusters_with_duplicates": len(clusters),
        "largest_cluster": max((c["size"] for c in clusters), default=1 if by_id else 0),
        "cluster_sizes": {str(k): v for k, v in sorted(sizes.items())},
        "clusters": clusters,
        "pairs": sorted(pairs, key=lambda p: (p["cluster_id"], p["record_id"])),
    }


def report_counts(report: Mapping[str, Any]) -> dict[str, Any]:
    """The report without its lists: what goes into the `crucible run` summary."""
    return {k: v for k, v in report.items() if k not in ("clusters", "pairs")}
