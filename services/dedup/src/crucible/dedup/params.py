"""The numbers that define one dedup index: a signature and band layout plus the threshold.
Two indexes (or a snapshot and a process) must agree on all of them to be comparable."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from crucible.dedup.banding import optimal_bands_rows


@dataclass(frozen=True)
class DedupParams:
    threshold: float = 0.85
    num_perm: int = 128
    seed: int = 1
    bands: int = 11
    rows: int = 11

    @classmethod
    def for_threshold(
        cls,
        threshold: float = 0.85,
        num_perm: int = 128,
        seed: int = 1,
        false_positive_weight: float = 0.1,
        false_negative_weight: float = 0.9,
    ) -> DedupParams:
        bands, rows = optimal_bands_rows(threshold, num_perm, false_positive_weight, false_negative_weight)
        return cls(threshold=threshold, num_perm=num_perm, seed=seed, bands=bands, rows=rows)

    @property
    def min_matches(self) -> int:
        """Equal signature slots needed for an estimated similarity >= threshold."""
        return math.ceil(self.threshold * self.num_perm - 1e-9)

    def layout(self) -> dict[str, Any]:
        """What must match between a stored index and this process (the threshold may change)."""
        d = asdict(self)
        d.pop("threshold")
        return d
