"""The `dataset` section of crucible.yaml, with the seeds' values as defaults.

Validation errors carry the field path, so `crucible.common.config.validate_section` names the
key (e.g. `dataset.splits: shares must sum to 1`).
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, field_validator, model_validator

from crucible.common.categories import TARGET_SHARES
from crucible.common.config import PolicyModel

FormatName = Literal["chat", "alpaca", "sharegpt", "seed"]
ALL_FORMATS: tuple[FormatName, ...] = ("chat", "alpaca", "sharegpt", "seed")
SPLITS = ("train", "val", "test")

DEFAULT_SYSTEM_PROMPT = (
    "You are Better Together's relationship coach. Give warm, specific, actionable advice that fits the "
    "couple's relationship stage and context. Validate feelings before suggesting steps, respect boundaries, "
    "and when someone may be unsafe, put their safety first and point to professional help."
)
AUDIT_DIMENSIONS = (
    "relationship_stage",
    "relationship_type",
    "age_band",
    "language",
    "culture",
    "gender_user",
    "gender_partner",
)
_SUM_TOLERANCE = 1e-6


class SplitShares(PolicyModel):
    train: float = Field(default=0.90, gt=0.0, lt=1.0)
    val: float = Field(default=0.05, ge=0.0, lt=1.0)
    test: float = Field(default=0.05, ge=0.0, lt=1.0)

    @model_validator(mode="after")
    def _sums_to_one(self) -> SplitShares:
        total = self.train + self.val + self.test
        if not math.isclose(total, 1.0, abs_tol=_SUM_TOLERANCE):
            raise ValueError(f"train + val + test must sum to 1, got {total:g}")
        return self

    def as_dict(self) -> dict[str, float]:
        return {"train": self.train, "val": self.val, "test": self.test}


class AuditPolicy(PolicyModel):
    dimensions: list[str] = Field(
        default=list(AUDIT_DIMENSIONS), min_length=1, description="record.context keys the bias audit looks at."
    )
    min_coverage: float = Field(
        default=0.2,
        ge=0.0,
        le=1.0,
        description="A dimension known for fewer records than this share is reported as unaudited, not scored.",
    )
    underrepresented_ratio: float = Field(
        default=0.5,
        gt=0.0,
        le=1.0,
        description="A group is a gap when its share is below this fraction of parity (1/groups).",
    )
    expected_values: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Groups that should appear per dimension even when absent from the data (absent = share 0).",
    )

    @field_validator("dimensions")
    @classmethod
    def _unique_dimensions(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value) or any(not v.strip() for v in value):
            raise ValueError("dimensions must be unique, non-empty context keys")
        return value


class PreferencePolicy(PolicyModel):
    """How preference pairs are made (`dataset.preferences`): see `preferences.py`."""

    up_min_rating: int = Field(default=7, ge=1, le=10, description="A rating at or above this is rated up.")
    down_max_rating: int = Field(default=4, ge=1, le=10, description="A rating at or below this is rated down.")
    min_rating_gap: int = Field(
        default=2, ge=1, le=9, description="Chosen minus rejected rating, at least (2 on 1-10: above a rater's noise)."
    )
    prompt_threshold: float = Field(
        default=0.85, gt=0.0, le=1.0, description="Prompt 5-gram Jaccard at which two prompts are the same question."
    )
    max_pairs_per_prompt: int = Field(default=16, ge=1, le=100_000)
    pairing: Literal["margin", "polarity"] = Field(
        default="margin",
        description="The chosen answer is rated up; the rejected one is rated down (polarity) or at least "
        "min_rating_gap below the chosen one (margin: ratings skew high, a clearly worse answer is the preference).",
    )
    min_pairs: int = Field(default=4, ge=1, description="A preference build with fewer pairs fails.")

    @model_validator(mode="after")
    def _up_above_down(self) -> PreferencePolicy:
        if self.down_max_rating >= self.up_min_rating:
            raise ValueError("down_max_rating must be below up_min_rating")
        return self


class DatasetPolicy(PolicyModel):
    category_mix: dict[str, float] = Field(
        default_factory=lambda: dict(TARGET_SHARES),
        description="Target share of each category (fractions summing to 1).",
    )
    synthetic_cap: float = Field(default=0.30, ge=0.0, le=1.0, description="Max share of synthetic records per split.")
    splits: SplitShares = SplitShares()
    fairness_target: float = Field(default=85.0, ge=0.0, le=100.0, description="Bias audit target score (0-100).")
    fairness_gate: Literal["enforce", "warn", "off"] = Field(
        default="enforce",
        description="Below the target: enforce = built and reported, not published as dataset.ready; warn = "
        "published, marked; off = published, no warning. Unset on an embedded run (`crucible run`): warn.",
    )
    auto_build_min_new_records: int = Field(
        default=1000, ge=1, description="`serve` builds a version once this many records arrived since the last one."
    )
    auto_build_check_seconds: float = Field(default=30.0, gt=0.0, le=86_400.0)
    min_records: int = Field(default=10, ge=1, description="A build with fewer eligible records fails.")
    system_prompt: str = Field(default=DEFAULT_SYSTEM_PROMPT, min_length=1)
    formats: list[FormatName] = Field(default=list(ALL_FORMATS), min_length=1)
    build_memory_mib: int = Field(
        default=4096,
        ge=256,
        description="Memory the out-of-core build may use (MiB); a store that needs more is refused before any work.",
    )
    seed: int = Field(default=42, ge=0, description="Seed of every sampling decision (byte-identical rebuilds).")
    audit: AuditPolicy = AuditPolicy()
    preferences: PreferencePolicy = PreferencePolicy()

    @field_validator("category_mix")
    @classmethod
    def _valid_mix(cls, value: dict[str, float]) -> dict[str, float]:
        if not value:
            raise ValueError("at least one category is required")
        for name, share in value.items():
            if not name or name != name.strip().lower():
                raise ValueError(f"category names are lower-case identifiers, got {name!r}")
            if not (0.0 < share <= 1.0):
                raise ValueError(f"share of {name!r} must be in (0, 1], got {share!r}")
        total = sum(value.values())
        if not math.isclose(total, 1.0, abs_tol=_SUM_TOLERANCE):
            raise ValueError(f"shares must sum to 1, got {total:g}")
        return value

    @field_validator("formats")
    @classmethod
    def _unique_formats(cls, value: list[FormatName]) -> list[FormatName]:
        if len(set(value)) != len(value):
            raise ValueError("formats must not repeat")
        return value


def effective_fairness_gate(policy: DatasetPolicy, *, embedded: bool) -> str:
    """The gate in force. Production (a NATS URL) gets the policy's value, enforce by default. An embedded
    run (`crucible run` on one machine, the demo) gets warn unless the policy sets the gate: the demo's
    dataset is a few dozen records whose fairness sits near the target by chance of the generator, and the
    run exists to show the whole loop; the version is still marked below target in the registry, event
    and report."""
    if embedded and "fairness_gate" not in policy.model_fields_set:
        return "warn"
    return policy.fairness_gate
