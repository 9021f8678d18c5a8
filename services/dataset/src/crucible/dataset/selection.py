"""Which records go into a version: one per dedup cluster, the synthetic cap, the category mix.

Every choice is "highest quality first"; ties are broken by a seeded hash of the record id, so
the same store and policy always choose the same records.
"""

from __future__ import annotations

import hashlib
import math
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from crucible.v1 import records_pb2


def seeded_hash(seed: int, key: str) -> int:
    """A stable 64-bit number for `key` under `seed` (Python's hash() is salted per process)."""
    return int.from_bytes(hashlib.blake2b(f"{seed}\x00{key}".encode(), digest_size=8).digest(), "big")


@dataclass(frozen=True, slots=True)
class Candidate:
    """The facts about a record that selection and splitting need; `index` points into the input list."""

    index: int
    record_id: str
    subject: str
    cluster: str
    category: str
    quality: float
    synthetic: bool
    tiebreak: int

    @property
    def rank(self) -> tuple[float, int, str]:
        """Sort key: best first."""
        return (-self.quality, self.tiebreak, self.record_id)


def candidates(records: Sequence[records_pb2.Record], seed: int) -> list[Candidate]:
    return [
        Candidate(
            index=i,
            record_id=r.record_id,
            subject=r.subject_token,
            cluster=r.dedup.cluster_id or r.record_id,
            category=r.category,
            quality=float(r.quality.total),
            synthetic=r.source.table == "synthetic",
            tiebreak=seeded_hash(seed, r.record_id),
        )
        for i, r in enumerate(records)
    ]


def resolve_clusters(cands: Iterable[Candidate]) -> tuple[list[Candidate], int]:
    """One record per dedup cluster, the highest quality winning. Returns (winners, dropped)."""
    best: dict[str, Candidate] = {}
    total = 0
    for c in cands:
        total += 1
        current = best.get(c.cluster)
        if current is None or c.rank < current.rank:
            best[c.cluster] = c
    winners = sorted(best.values(), key=lambda c: c.record_id)
    return winners, total - len(winners)


def max_synthetic(real: int, cap: float) -> int:
    """Largest synthetic count s with s / (real + s) <= cap."""
    if cap >= 1.0:
        return sys.maxsize
    if cap <= 0.0:
        return 0
    # The epsilon keeps 0.3 * 70 / 0.7 = 29.999... from flooring to 29.
    return math.floor(cap * real / (1.0 - cap) + 1e-9)


def cap_synthetic(cands: Sequence[Candidate], cap: float) -> tuple[list[Candidate], list[Candidate]]:
    """Keep the best synthetic records up to the cap. Returns (kept, dropped), kept in input order."""
    synthetic = sorted((c for c in cands if c.synthetic), key=lambda c: c.rank)
    allowed = max_synthetic(sum(1 for c in cands if not c.synthetic), cap)
    if len(synthetic) <= allowed:
        return list(cands), []
    dropped_ids = {c.record_id for c in synthetic[allowed:]}
    kept = [c for c in cands if c.record_id not in dropped_ids]
    dropped = [c for c in cands if c.record_id in dropped_ids]
    return kept, dropped


def apportion(total: int, shares: Mapping[str, float]) -> dict[str, int]:
    """Integer counts proportional to `shares` that sum to `total` (largest remainder, stable ties)."""
    raw = {k: total * v for k, v in shares.items()}
    counts = {k: math.floor(v + 1e-9) for k, v in raw.items()}
    left = total - sum(counts.values())
    by_remainder = sorted(shares, key=lambda k: (-(raw[k] - counts[k]), list(shares).index(k)))
    for k in by_remainder[: max(left, 0)]:
        counts[k] += 1
    return counts


def apply_category_mix(
    cands: Sequence[Candidate], mix: Mapping[str, float]
) -> tuple[list[Candidate], dict[str, dict[str, Any]]]:
    """Down-sample over-represented categories to their target share of the pool (best kept);
    under-represented categories keep everything and report their deficit.

    The target of each category is its share of the pool it is drawn from. Meeting every share
    exactly would shrink the whole version to the size its rarest category allows; instead the
    gap is reported (the audit's recommendations name it) so it can be filled with real or
    synthetic records.
    """
    by_category: dict[str, list[Candidate]] = defaultdict(list)
    for c in cands:
        by_category[c.category].append(c)
    targets = apportion(len(cands), mix)
    kept: list[Candidate] = []
    for category in mix:
        kept.extend(sorted(by_category.get(category, []), key=lambda c: c.rank)[: targets[category]])
    kept.sort(key=lambda c: c.record_id)
    return kept, category_mix_report({k: len(v) for k, v in by_category.items()}, targets, mix)


def category_mix_report(
    available: Mapping[str, int], targets: Mapping[str, int], mix: Mapping[str, float]
) -> dict[str, dict[str, Any]]:
    """The mix table of the manifest from the records available per category and each target."""
    report: dict[str, dict[str, Any]] = {}
    for category, share in mix.items():
        have, target = available.get(category, 0), targets[category]
        report[category] = {
            "target_share": share,
            "target": target,
            "available": have,
            "selected": min(have, target),
            "downsampled": max(have - target, 0),
            "deficit": max(target - have, 0),
        }
    # Categories outside the mix (possible only if the policy changed after intake) are left out.
    for category in sorted(set(available) - set(mix)):
        report[category] = {
            "target_share": 0.0,
            "target": 0,
            "available": available[category],
            "selected": 0,
            "downsampled": available[category],
            "deficit": 0,
        }
    total = sum(row["selected"] for row in report.values())
    for row in report.values():
        row["share"] = round(row["selected"] / total, 6) if total else 0.0
    return report


def category_counts(cands: Iterable[Candidate]) -> dict[str, int]:
    return dict(sorted(Counter(c.category for c in cands).items()))
