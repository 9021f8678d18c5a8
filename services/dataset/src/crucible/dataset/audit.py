"""The bias audit: representation across the dimensions the records carry, a 0-100 fairness
score, and recommendations naming the gaps (seed 000, Phase 4).

Fairness score (docs/dataset.md):
  for each dimension d known for at least `min_coverage` of the records (the audited ones),
  with k_d groups (values seen, plus `expected_values` not seen) and shares p_1..p_k among the
  records where d is known:
      balance_d = H(p) / ln(k_d)   (normalised Shannon entropy; 1 = every group equally present)
      balance_d = 0                 when k_d = 1 (a single group: nothing to compare it with)
  fairness = 100 * mean_d(balance_d) over audited dimensions; 0 when none can be audited.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from crucible.dataset.policy import AuditPolicy
from crucible.v1 import records_pb2

FORMULA = (
    "fairness = 100 * mean over audited dimensions of H(p)/ln(k) (normalised Shannon entropy of group shares "
    "among records where the dimension is known; k = groups seen plus expected; a single group scores 0); "
    "a dimension is audited when known for at least min_coverage of the records"
)
_UNKNOWN = frozenset({"", "unknown", "none", "n/a", "na", "null", "unspecified", "prefer_not_to_say"})


def dimension_value(context: Mapping[str, str], dimension: str) -> str:
    """A record's group on one dimension, lower-cased; "" when unknown."""
    return normalise_value(context.get(dimension, ""))


def normalise_value(raw: str) -> str:
    """A context value as its audit group: trimmed, lower-cased; "" when it means unknown."""
    value = raw.strip().lower()
    return "" if value in _UNKNOWN else value


def audit_context(record: records_pb2.Record) -> dict[str, str]:
    """The record's context as a plain dict (one copy out of protobuf), language filled from the record."""
    context = dict(record.context)
    if not context.get("language") and record.language:
        context["language"] = record.language
    return context


def balance(counts: Sequence[int]) -> float:
    """Normalised Shannon entropy of a distribution; 0 for a single group."""
    k = len(counts)
    total = sum(counts)
    if k < 2 or total == 0:
        return 0.0
    entropy = -sum((n / total) * math.log(n / total) for n in counts if n)
    return entropy / math.log(k)


def records_to_parity_floor(count: int, known: int, floor_share: float) -> int:
    """How many records of a group to add so its share reaches `floor_share`."""
    if floor_share >= 1.0:
        return 0
    needed = (floor_share * known - count) / (1.0 - floor_share)
    return max(math.ceil(needed - 1e-9), 0)


def audit_dimension(values: Sequence[str], expected: Sequence[str], policy: AuditPolicy) -> dict[str, Any]:
    return audit_dimension_counts(len(values), Counter(v for v in values if v), expected, policy)


def audit_dimension_counts(
    total: int, known_counts: Mapping[str, int], expected: Sequence[str], policy: AuditPolicy
) -> dict[str, Any]:
    """One dimension from the number of records and the count of each known value ("" excluded)."""
    counts = Counter(known_counts)
    for group in expected:
        counts.setdefault(group.strip().lower(), 0)
    known = sum(counts.values())
    coverage = known / total if total else 0.0
    groups = sorted(counts)
    k = len(groups)
    score = 100.0 * balance([counts[g] for g in groups])
    floor_share = policy.underrepresented_ratio / k if k else 0.0
    gaps = []
    for g in groups:
        share = counts[g] / known if known else 0.0
        if k >= 2 and share < floor_share:
            gaps.append(
                {
                    "group": g,
                    "count": counts[g],
                    "share": round(share, 6),
                    "parity_share": round(1.0 / k, 6),
                    "records_needed": records_to_parity_floor(counts[g], known, floor_share),
                }
            )
    return {
        "coverage": round(coverage, 6),
        "known": known,
        "audited": bool(known) and coverage >= policy.min_coverage,
        "groups": {g: {"count": counts[g], "share": round(counts[g] / known, 6) if known else 0.0} for g in groups},
        "score": round(score, 4),
        "gaps": gaps,
    }


def bias_audit(
    records: Sequence[records_pb2.Record],
    policy: AuditPolicy,
    fairness_target: float,
    *,
    category_report: Mapping[str, Mapping[str, Any]] | None = None,
    synthetic_room: int | None = None,
) -> dict[str, Any]:
    """Audit the records of one version. Pure; the result goes into the manifest and the report."""
    contexts = [audit_context(r) for r in records]
    value_counts = {dim: Counter(v for c in contexts if (v := dimension_value(c, dim))) for dim in policy.dimensions}
    return bias_audit_counts(
        len(records),
        value_counts,
        policy,
        fairness_target,
        category_report=category_report,
        synthetic_room=synthetic_room,
    )


def bias_audit_counts(
    records: int,
    value_counts: Mapping[str, Mapping[str, int]],
    policy: AuditPolicy,
    fairness_target: float,
    *,
    category_report: Mapping[str, Mapping[str, Any]] | None = None,
    synthetic_room: int | None = None,
) -> dict[str, Any]:
    """The audit from the count of each known value per dimension (what an out-of-core build can
    aggregate without holding the records)."""
    dimensions = {}
    for dim in policy.dimensions:
        dimensions[dim] = audit_dimension_counts(
            records, value_counts.get(dim, {}), policy.expected_values.get(dim, []), policy
        )
    audited = [d for d in dimensions.values() if d["audited"]]
    score = sum(d["score"] for d in audited) / len(audited) if audited else 0.0
    score = round(score, 2)
    return {
        "formula": FORMULA,
        "records": records,
        "dimensions": dimensions,
        "audited_dimensions": [name for name, d in dimensions.items() if d["audited"]],
        "fairness_score": score,
        "fairness_target": fairness_target,
        "below_target": score < fairness_target,
        "recommendations": recommendations(dimensions, policy, category_report or {}, synthetic_room),
    }


def recommendations(
    dimensions: Mapping[str, Mapping[str, Any]],
    policy: AuditPolicy,
    category_report: Mapping[str, Mapping[str, Any]],
    synthetic_room: int | None,
) -> list[str]:
    """Plain-language actions, most specific first: missing groups, small groups, unaudited dimensions,
    category deficits."""
    out: list[str] = []
    for name, dim in dimensions.items():
        if not dim["known"]:
            out.append(f"{name}: no record states it; capture it at extraction to audit this dimension.")
            continue
        if not dim["audited"]:
            out.append(
                f"{name}: known for only {dim['coverage']:.0%} of records (audit needs {policy.min_coverage:.0%}); "
                "capture it at extraction."
            )
            continue
        groups = dim["groups"]
        if len(groups) == 1:
            only = next(iter(groups))
            out.append(
                f"{name}: every record is {only!r}; add records from other groups to measure and improve balance."
            )
            continue
        for gap in dim["gaps"]:
            out.append(
                f"{name}: {gap['group']!r} is {gap['share']:.1%} of records (parity {gap['parity_share']:.1%}); "
                f"add about {gap['records_needed']} records from this group."
            )
    for category, row in category_report.items():
        if row.get("deficit"):
            out.append(
                f"category {category}: {row['deficit']} records short of its {row['target_share']:.0%} target "
                f"({row['available']} available); collect or generate more."
            )
    if out and synthetic_room is not None:
        out.append(
            f"synthetic records can fill at most {synthetic_room} of these gaps before the synthetic cap is reached."
        )
    return out
