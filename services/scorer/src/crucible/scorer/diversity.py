"""The running distribution behind the two diversity points.

- *Underrepresented scenario*: the record's category holds less than its target share of what has been
  kept so far, or its relationship context (policy `relationship_keys`, e.g. type x stage) holds less than
  `rare_context_share`. Shares are smoothed with `prior_weight` pseudo-records placed at the targets, so an
  empty distribution calls nothing rare and a few records cannot swing it.
- *Unique context*: the combination of `unique_context_keys` (stage, type, age band, culture, language,
  topic, activity) has been seen at most `unique_max_seen` times.

Keys a record does not carry are unknown, never rare: a record with no relationship context earns no
point for it. The counts start from the curated store (`seed`) and grow with every record the scorer keeps.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from crucible.scorer.policy import DiversityPolicy


@dataclass(frozen=True)
class DiversityVerdict:
    underrepresented: bool
    unique_context: bool
    measures: dict[str, float]


@dataclass
class RunningDistribution:
    policy: DiversityPolicy
    categories: Counter[str] = field(default_factory=Counter)
    relationships: Counter[tuple[str, ...]] = field(default_factory=Counter)
    contexts: Counter[tuple[str, ...]] = field(default_factory=Counter)
    total: int = 0
    relationship_total: int = 0

    def _relationship(self, context: Mapping[str, str]) -> tuple[str, ...] | None:
        key = tuple(context.get(k, "").strip().lower() for k in self.policy.relationship_keys)
        return key if any(key) else None

    def _context(self, context: Mapping[str, str]) -> tuple[str, ...] | None:
        key = tuple(context.get(k, "").strip().lower() for k in self.policy.unique_context_keys)
        return key if any(key) else None

    def assess(self, category: str, context: Mapping[str, str]) -> DiversityVerdict:
        p = self.policy
        measures: dict[str, float] = {}
        under = False
        target = p.category_targets.get(category)
        if target is not None:
            share = (self.categories[category] + p.prior_weight * target) / (self.total + p.prior_weight or 1)
            measures["diversity.category_share"] = round(share, 4)
            measures["diversity.category_target"] = target
            under = share < target
        rel = self._relationship(context)
        if rel is not None:
            rel_share = (self.relationships[rel] + p.prior_weight * p.rare_context_share) / (
                self.relationship_total + p.prior_weight or 1
            )
            measures["diversity.relationship_share"] = round(rel_share, 4)
            under = under or rel_share < p.rare_context_share
        ctx = self._context(context)
        unique = False
        if ctx is not None:
            seen = self.contexts[ctx]
            measures["diversity.context_seen"] = float(seen)
            unique = seen <= p.unique_max_seen
        return DiversityVerdict(under, unique, measures)

    def observe(self, category: str, context: Mapping[str, str]) -> None:
        self.total += 1
        if category:
            self.categories[category] += 1
        rel = self._relationship(context)
        if rel is not None:
            self.relationships[rel] += 1
            self.relationship_total += 1
        ctx = self._context(context)
        if ctx is not None:
            self.contexts[ctx] += 1

    def seed(self, items: Iterable[tuple[str, Mapping[str, str]]]) -> int:
        n = 0
        for category, context in items:
            self.observe(category, context)
            n += 1
        return n

    def to_json(self) -> dict[str, object]:
        """The counts as JSON (tuple keys as lists), for a persisted snapshot."""
        return {
            "categories": dict(sorted(self.categories.items())),
            "relationships": sorted([list(k), n] for k, n in self.relationships.items()),
            "contexts": sorted([list(k), n] for k, n in self.contexts.items()),
            "total": self.total,
            "relationship_total": self.relationship_total,
        }

    @classmethod
    def from_json(cls, policy: DiversityPolicy, data: Mapping[str, object]) -> RunningDistribution:
        dist = cls(policy)
        dist.categories.update(data.get("categories") or {})  # type: ignore[arg-type]
        for key, n in data.get("relationships") or []:  # type: ignore[attr-defined]
            dist.relationships[tuple(key)] = int(n)
        for key, n in data.get("contexts") or []:  # type: ignore[attr-defined]
            dist.contexts[tuple(key)] = int(n)
        dist.total = int(data.get("total") or 0)  # type: ignore[call-overload]
        dist.relationship_total = int(data.get("relationship_total") or 0)  # type: ignore[call-overload]
        return dist

    def plus(self, observed: Iterable[tuple[str, Mapping[str, str]]]) -> RunningDistribution:
        """A copy with `observed` added (this one is left as it is: a snapshot never changes)."""
        out = RunningDistribution(
            self.policy,
            Counter(self.categories),
            Counter(self.relationships),
            Counter(self.contexts),
            self.total,
            self.relationship_total,
        )
        out.seed(observed)
        return out
