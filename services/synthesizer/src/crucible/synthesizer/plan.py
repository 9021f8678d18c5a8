"""From a dataset version's manifest to a generation plan: how many conversations of which
category, and which under-represented groups (relationship stage, age band, ...) they portray.

Pure: the manifest is a dict (as the dataset service writes it), the plan a value. A plan's id
and its items' ids are derived from their content, so planning the same version twice gives
the same items, and an item generated once is never generated again (the ledger and the
record id both key on it).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from crucible.common.categories import CATEGORIES, TARGET_SHARES


@dataclass(frozen=True)
class PlanItem:
    item_id: str
    category: str
    scenario: Mapping[str, str]  # context hints the conversation must portray (dimension -> group)
    seed: int


@dataclass(frozen=True)
class Plan:
    plan_id: str
    dataset_version: str
    reason: str  # why the plan exists (deficits, fairness below target, manual)
    items: tuple[PlanItem, ...]
    by_category: Mapping[str, int]
    synthetic_room: int | None = None
    needs: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["items"] = [asdict(i) | {"scenario": dict(i.scenario)} for i in self.items]
        out["by_category"] = dict(self.by_category)
        return out


def max_synthetic(real: int, cap: float) -> int:
    """Most synthetic records a set of `real` ones can hold with synthetic share <= cap."""
    if cap >= 1.0:
        return 10**12
    return math.floor(cap * real / (1.0 - cap) + 1e-9)


def apportion(total: int, weights: Mapping[str, float]) -> dict[str, int]:
    """Split `total` by weights, largest remainder; deterministic on ties (mapping order)."""
    s = sum(weights.values())
    if total <= 0 or s <= 0:
        return {k: 0 for k in weights}
    raw = {k: total * w / s for k, w in weights.items()}
    out = {k: math.floor(v) for k, v in raw.items()}
    left = total - sum(out.values())
    order = sorted(weights, key=lambda k: (-(raw[k] - out[k]), list(weights).index(k)))
    for k in order[:left]:
        out[k] += 1
    return out


def manifest_needs(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """What a version lacks: category deficits, audit gaps per dimension, fairness, synthetic room."""
    selection = manifest.get("selection", {})
    audit = manifest.get("audit", {})
    mix = selection.get("category_mix", {})
    deficits = {c: int(row.get("deficit", 0)) for c, row in mix.items() if int(row.get("deficit", 0)) > 0}
    gaps: dict[str, dict[str, int]] = {}
    for dim, info in audit.get("dimensions", {}).items():
        rows = {g["group"]: int(g["records_needed"]) for g in info.get("gaps", []) if int(g["records_needed"]) > 0}
        if rows and info.get("audited", True):
            gaps[dim] = rows
    splits = manifest.get("counts", {}).get("splits", {})
    total = sum(int(r.get("total", 0)) for r in splits.values())
    synthetic = sum(int(r.get("synthetic", 0)) for r in splits.values())
    cap = float(manifest.get("policy", {}).get("synthetic_cap", 0.30))
    return {
        "category_deficits": deficits,
        "gaps": gaps,
        "fairness_score": float(audit.get("fairness_score", 0.0)),
        "fairness_target": float(audit.get("fairness_target", 85.0)),
        "below_fairness_target": bool(audit.get("below_target", False)),
        "real_records": total - synthetic,
        "synthetic_records": synthetic,
        "synthetic_cap": cap,
    }


def _hash(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:16]


def round_robin(counts: Mapping[str, int]) -> list[str]:
    """Each key as many times as its count, interleaved: {a: 3, b: 1} -> [a, b, a, a]."""
    left = dict(counts)
    out: list[str] = []
    while any(n > 0 for n in left.values()):
        for key, n in left.items():
            if n > 0:
                out.append(key)
                left[key] = n - 1
    return out


def spread_scenarios(n: int, gaps: Mapping[str, Mapping[str, int]]) -> list[dict[str, str]]:
    """Give n items the under-represented groups, each dimension's groups in proportion to the
    records they need and never more than needed; remaining items leave the dimension free."""
    out: list[dict[str, str]] = [{} for _ in range(n)]
    for dim in sorted(gaps):
        needed = dict(sorted(gaps[dim].items()))
        counts = apportion(min(n, sum(needed.values())), needed)
        counts = {g: min(c, needed[g]) for g, c in counts.items()}
        # Interleaved, so every slice of the plan carries each group.
        for i, group in enumerate(round_robin(counts)):
            out[i][dim] = group
    return out


def plan_from_manifest(manifest: Mapping[str, Any], *, seed: int, max_items: int, cap: float | None = None) -> Plan:
    """The plan that fills a version's gaps, within the synthetic cap and `max_items`."""
    needs = manifest_needs(manifest)
    cap = needs["synthetic_cap"] if cap is None else cap
    room = max(max_synthetic(needs["real_records"], cap) - needs["synthetic_records"], 0)
    wanted: dict[str, int] = dict(needs["category_deficits"])
    reasons = []
    if wanted:
        reasons.append("category deficits " + json.dumps(wanted, sort_keys=True))
    if needs["below_fairness_target"] and needs["gaps"]:
        # Records for under-represented groups, spread over categories by their target shares.
        gap_total = max(sum(g.values()) for g in needs["gaps"].values())
        extra = max(gap_total - sum(wanted.values()), 0)
        for c, k in apportion(extra, {c: TARGET_SHARES[c] for c in CATEGORIES}).items():
            if k:
                wanted[c] = wanted.get(c, 0) + k
        reasons.append(f"fairness {needs['fairness_score']:.1f} below target {needs['fairness_target']:g}")
    total = min(sum(wanted.values()), room, max_items)
    by_category = apportion(total, {c: float(wanted[c]) for c in sorted(wanted)}) if wanted else {}
    by_category = {c: k for c, k in by_category.items() if k}
    version = str(manifest.get("version", ""))
    return _assemble(version, "; ".join(reasons) or "no deficits", by_category, needs["gaps"], seed, room, needs)


def manual_plan(category: str, n: int, *, seed: int, gaps: Mapping[str, Mapping[str, int]] | None = None) -> Plan:
    """`crucible synth run --category C --n N`: the same arguments give the same plan (and items)."""
    if category not in CATEGORIES:
        raise ValueError(f"unknown category {category!r}; one of {', '.join(CATEGORIES)}")
    if n < 1:
        raise ValueError("--n must be at least 1")
    return _assemble("", f"manual: {n} {category}", {category: n}, gaps or {}, seed, None, {})


def _assemble(
    version: str,
    reason: str,
    by_category: Mapping[str, int],
    gaps: Mapping[str, Mapping[str, int]],
    seed: int,
    room: int | None,
    needs: Mapping[str, Any],
) -> Plan:
    total = sum(by_category.values())
    scenarios = spread_scenarios(total, gaps)
    plan_id = "plan-" + _hash(version, json.dumps(dict(by_category), sort_keys=True), json.dumps(scenarios), str(seed))
    # Categories interleaved (round-robin), so the groups the scenarios name reach every category.
    order = round_robin({c: by_category[c] for c in sorted(by_category)})
    items = [PlanItem(f"{plan_id}-{i:05d}", c, scenarios[i], seed + i) for i, c in enumerate(order)]
    return Plan(plan_id, version, reason, tuple(items), dict(by_category), room, dict(needs))


def plan_summary(plan: Plan, done: Sequence[str] = ()) -> dict[str, Any]:
    finished = set(done)
    return {
        "plan_id": plan.plan_id,
        "dataset_version": plan.dataset_version,
        "reason": plan.reason,
        "items": len(plan.items),
        "done": sum(1 for i in plan.items if i.item_id in finished),
        "by_category": dict(plan.by_category),
        "synthetic_room": plan.synthetic_room,
        "needs": dict(plan.needs),
        "scenarios": _scenario_counts(plan.items),
    }


def _scenario_counts(items: Sequence[PlanItem]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for item in items:
        for dim, group in item.scenario.items():
            out.setdefault(dim, {}).setdefault(group, 0)
            out[dim][group] += 1
    return out
