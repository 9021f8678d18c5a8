"""Leakage-free, category-stratified train/val/test splits.

Records are first joined into groups that must not be separated: every record of one subject
token and every member of one dedup cluster (union-find over both keys). Whole groups are then
assigned to splits, largest first, each to the split that still wants the most records of the
group's main category (iterative stratification, Sechidis et al. 2011, applied to groups).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from crucible.dataset.selection import Candidate, seeded_hash


class UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, key: str) -> str:
        root = self.parent.setdefault(key, key)
        while self.parent[root] != root:
            root = self.parent[root]
        while key != root:  # path compression, iteratively (no recursion limit on long chains)
            self.parent[key], key = root, self.parent[key]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            # Smaller key becomes the root: the grouping never depends on input order.
            lo, hi = sorted((ra, rb))
            self.parent[hi] = lo


def leakage_groups(cands: Sequence[Candidate]) -> list[list[Candidate]]:
    """Groups of records that must share a split (same subject token or same dedup cluster)."""
    uf = UnionFind()
    for c in cands:
        uf.union("s:" + c.subject, "c:" + c.cluster)
    groups: dict[str, list[Candidate]] = {}
    for c in cands:
        groups.setdefault(uf.find("s:" + c.subject), []).append(c)
    return list(groups.values())


def _stratum(c: Candidate) -> tuple[str, bool]:
    # Synthetic records are a stratum of their own, so every split gets its fair share of them
    # and the per-split synthetic cap rarely has to drop anything.
    return (c.category, c.synthetic)


def assign_splits(cands: Sequence[Candidate], shares: Mapping[str, float], seed: int) -> dict[str, list[Candidate]]:
    """Split `cands` into `shares` (e.g. train/val/test), stratified by category (and synthetic or not), never
    separating a group."""
    names = list(shares)
    totals = Counter(_stratum(c) for c in cands)
    desired = {s: {cat: shares[s] * n for cat, n in totals.items()} for s in names}
    desired_total = {s: shares[s] * len(cands) for s in names}
    groups = leakage_groups(cands)
    # Largest groups first (they are the hardest to place), then a seeded order.
    groups.sort(key=lambda g: (-len(g), seeded_hash(seed, min(c.record_id for c in g))))
    out: dict[str, list[Candidate]] = {s: [] for s in names}
    for group in groups:
        counts = Counter(_stratum(c) for c in group)
        main = min(counts, key=lambda cat: (-counts[cat], cat))
        target = max(
            names,
            key=lambda s: (desired[s][main], desired_total[s], -names.index(s)),
        )
        out[target].extend(group)
        for cat, n in counts.items():
            desired[target][cat] -= n
        desired_total[target] -= len(group)
    for s in names:
        out[s].sort(key=lambda c: c.record_id)
    return out
