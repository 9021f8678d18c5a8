"""The scorer's section of `crucible.yaml`. Defaults are the seed's numbers (seed 001: the 0-10 quality
formula and the 7.0 threshold; the category mix; seed 003: the safety labels)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from crucible.common.answer_judge import INCIDENT_CATEGORIES
from crucible.common.categories import CATEGORIES, TARGET_SHARES
from crucible.common.config import PolicyModel

SAFETY_LABELS = ("neutral", "stress", "unsafe_environment", "emotional_distress", "self_harm_low", "self_harm_high")


class EngagementPolicy(PolicyModel):
    response_length_points: float = Field(default=1.0, ge=0, le=10)
    response_chars_above: int = Field(default=50, ge=0, le=100_000, description="Mean reply length must exceed this.")
    turns_points: float = Field(default=1.0, ge=0, le=10)
    min_turns: int = Field(default=3, ge=0, le=10_000)
    satisfaction_points: float = Field(default=1.0, ge=0, le=10)
    min_satisfaction: float = Field(default=8.0, ge=1, le=10)


class OutcomePolicy(PolicyModel):
    action_taken_points: float = Field(default=1.5, ge=0, le=10)
    positive_outcome_points: float = Field(default=1.5, ge=0, le=10)


class ContentPolicy(PolicyModel):
    coherence_points: float = Field(default=1.0, ge=0, le=10)
    min_coherence: float = Field(default=0.8, ge=0, le=1)
    empathy_points: float = Field(default=1.0, ge=0, le=10)
    min_empathy: float = Field(default=0.7, ge=0, le=1)


class DiversityPolicy(PolicyModel):
    underrepresented_points: float = Field(default=1.0, ge=0, le=10)
    unique_context_points: float = Field(default=1.0, ge=0, le=10)
    # Target shares of the seed's categories; a category below its target share is underrepresented.
    category_targets: dict[str, float] = Field(default_factory=lambda: dict(TARGET_SHARES))
    # Relationship contexts (these keys of record.context) rarer than this share are underrepresented.
    relationship_keys: list[str] = Field(default=["relationship_type", "relationship_stage"], min_length=1)
    rare_context_share: float = Field(default=0.10, ge=0, le=1)
    # Pseudo-count pulling an empty distribution towards its targets, so the first records are not all "rare".
    prior_weight: float = Field(default=20.0, ge=0, le=1_000_000)
    # A context (these keys) seen at most this many times before is unique.
    unique_context_keys: list[str] = Field(
        default=[
            "relationship_stage",
            "relationship_type",
            "age_band",
            "culture",
            "language",
            "topic",
            "activity_type",
        ],
        min_length=1,
    )
    unique_max_seen: int = Field(default=0, ge=0, le=1_000_000)

    @model_validator(mode="after")
    def _targets_are_categories(self) -> DiversityPolicy:
        unknown = set(self.category_targets) - set(CATEGORIES)
        if unknown:
            raise ValueError(f"unknown categories {sorted(unknown)}; allowed: {list(CATEGORIES)}")
        if any(not 0 <= v <= 1 for v in self.category_targets.values()):
            raise ValueError("category_targets are shares between 0 and 1")
        return self


class ReplyScreenPolicy(PolicyModel):
    # The coach's replies read by the shared answer-safety judge (crucible.common.answer_judge).
    action: Literal["reject", "hold", "off"] = Field(
        default="reject", description="An unsafe reply: reject the record, hold it for a person, or do not screen."
    )
    # One sign of these judge categories is enough to screen a reply (serving needs the judge's full threshold).
    strict_categories: list[str] = Field(default=["medical", "legal"])
    # A disclosed crisis (a review label) whose replies give no resource, safety check or professional help.
    crisis_response_required: bool = True

    @model_validator(mode="after")
    def _categories_known(self) -> ReplyScreenPolicy:
        unknown = set(self.strict_categories) - set(INCIDENT_CATEGORIES)
        if unknown:
            raise ValueError(f"unknown answer-judge categories {sorted(unknown)}; allowed: {list(INCIDENT_CATEGORIES)}")
        return self


class FreshnessPolicy(PolicyModel):
    # Seed 001: outdated is older than two years with low quality. 0 days: no age cutoff.
    max_age_days: int = Field(default=730, ge=0, le=36_500)
    min_quality: float = Field(default=8.0, ge=0, le=10, description="The quality an outdated record needs to stay.")


class SafetyPolicy(PolicyModel):
    # Any of these labels holds the record for review, whatever its score.
    review_labels: list[str] = Field(default=["unsafe_environment", "self_harm_low", "self_harm_high"])
    # A phrase list that flags crisis wording even if the classifier misses it, and sets aside self-harm
    # labels on figurative speech about death and killing (the second opinion, crisis.py).
    crisis_backstop: bool = True
    reply_screen: ReplyScreenPolicy = ReplyScreenPolicy()

    @model_validator(mode="after")
    def _labels_known(self) -> SafetyPolicy:
        unknown = set(self.review_labels) - set(SAFETY_LABELS)
        if unknown:
            raise ValueError(f"unknown safety labels {sorted(unknown)}; allowed: {list(SAFETY_LABELS)}")
        return self


class EncoderPolicy(PolicyModel):
    max_tokens: int = Field(default=128, ge=8, le=512, description="Each sentence of a person's turn is cut here.")
    reply_max_tokens: int = Field(
        default=64, ge=8, le=512, description="A coach's reply is read whole by the static reply encoder, cut here."
    )
    batch_size: int = Field(default=8, ge=1, le=1024, description="Most sentences per encoder call.")
    # Sentences are length-sorted and batched freely: per-token int8 scales make a vector independent of
    # its batch. Past ~256 tokens per call the activations outgrow the core's cache and a token costs more
    # (bench sentences: 8 rows / 256 tokens 165-194 µs per token, 32 / 512 235, 256 / 4096 469).
    batch_tokens: int = Field(default=256, ge=16, le=65_536, description="Most tokens (rows x longest) per call.")
    max_turns: int = Field(default=24, ge=2, le=10_000, description="Turns encoded per record (the latest).")
    quantized: bool = Field(default=True, description="int8 (per-token) ONNX Runtime encoder; false = float32 ONNX.")


class SafetyHeadPolicy(PolicyModel):
    """How the safety MLP is trained (`crucible scorer search` proposes values for these keys)."""

    hidden_sizes: list[int] = Field(
        default=[64, 128, 256], min_length=1, description="Hidden sizes tried; the best on validation macro-F1 is kept."
    )
    learning_rate: float = Field(default=3e-3, gt=0, le=1.0, description="AdamW learning rate (full batch).")
    weight_decay: float = Field(default=1e-3, ge=0, le=1.0, description="AdamW weight decay.")
    dropout: float = Field(default=0.1, ge=0, lt=1.0, description="Dropout after the hidden layer.")
    epochs: int = Field(default=400, ge=10, le=10_000, description="Most epochs (stops after 8 checks without gain).")
    focal_gamma: float = Field(default=2.0, ge=0, le=10.0, description="Focal loss gamma (0 = cross-entropy).")


class ScorerPolicy(PolicyModel):
    threshold: float = Field(
        default=7.0, ge=0, le=10, description="Keep at or above; record.extraction.min_quality overrides when > 0."
    )
    review_margin: float = Field(
        default=0.5, ge=0, le=10, description="Scores within this of the threshold are held for review."
    )
    engagement: EngagementPolicy = EngagementPolicy()
    outcome: OutcomePolicy = OutcomePolicy()
    content: ContentPolicy = ContentPolicy()
    diversity: DiversityPolicy = DiversityPolicy()
    safety: SafetyPolicy = SafetyPolicy()
    encoder: EncoderPolicy = EncoderPolicy()
    safety_head: SafetyHeadPolicy = SafetyHeadPolicy()
    freshness: FreshnessPolicy = FreshnessPolicy()
    relevance: bool = Field(default=True, description="Reject records with no relationship, partner or feeling word.")
    model_key: str = Field(default="scorer/models/v6", description="Artifact key of the trained encoder and heads.")
    train_if_missing: bool = Field(default=True, description="Train the models when the artifact is missing.")

    @model_validator(mode="after")
    def _total_is_ten_at_most(self) -> ScorerPolicy:
        total = max_points(self)
        if total > 10 + 1e-9:
            raise ValueError(f"the quality points add up to {total:g}; the scale is 0-10")
        return self


def max_points(policy: ScorerPolicy) -> float:
    e, o, c, d = policy.engagement, policy.outcome, policy.content, policy.diversity
    return (
        e.response_length_points
        + e.turns_points
        + e.satisfaction_points
        + o.action_taken_points
        + o.positive_outcome_points
        + c.coherence_points
        + c.empathy_points
        + d.underrepresented_points
        + d.unique_context_points
    )


def app_signal_share(policy: ScorerPolicy) -> float:
    """The share of the quality points that only the app's own signals can earn (satisfaction,
    action taken, positive outcome): what a synthetic conversation can never have."""
    e, o = policy.engagement, policy.outcome
    total = max_points(policy)
    signals = e.satisfaction_points + o.action_taken_points + o.positive_outcome_points
    return signals / total if total > 0 else 0.0
