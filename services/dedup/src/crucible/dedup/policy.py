"""The `dedup` section of crucible.yaml."""

from __future__ import annotations

from pydantic import Field

from crucible.common.config import PolicyModel
from crucible.dedup.params import DedupParams
from crucible.dedup.redis_index import DEFAULT_PREFIX


class DedupPolicy(PolicyModel):
    threshold: float = Field(
        default=0.85,
        gt=0.0,
        le=1.0,
        description="Jaccard of character 5-gram sets at or above which two records are near-duplicates.",
    )
    num_perm: int = Field(default=128, ge=16, le=1024, description="MinHash permutations (signature length).")
    seed: int = Field(default=1, ge=0, le=2**32 - 1, description="Seed of the MinHash permutations.")
    # Candidates are confirmed by their estimated similarity, so a false positive of the
    # banding costs one signature comparison while a false negative is a missed duplicate:
    # weigh misses heavier than datasketch's (0.5, 0.5) default.
    false_positive_weight: float = Field(default=0.1, ge=0.0, le=1.0)
    false_negative_weight: float = Field(default=0.9, ge=0.0, le=1.0)
    redis_prefix: str = Field(default=DEFAULT_PREFIX, min_length=1, description="Key prefix of the Redis index.")
    redis_records_per_call: int = Field(
        default=256, ge=1, le=10_000, description="Records per atomic Redis script call."
    )
    snapshot_compact_segments: int = Field(
        default=64,
        ge=1,
        le=100_000,
        description="In-memory index: fold snapshot segments into one base after this many.",
    )

    def params(self) -> DedupParams:
        return DedupParams.for_threshold(
            self.threshold, self.num_perm, self.seed, self.false_positive_weight, self.false_negative_weight
        )
