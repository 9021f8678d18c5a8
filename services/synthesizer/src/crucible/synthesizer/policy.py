"""The `synthesizer` section of crucible.yaml: the endpoint chain, generation and admission."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from crucible.common.config import PolicyModel

# With no provider configured the chain's one endpoint is the project's own tgi-dev
# (`crucible serve tgi-dev`, port 8081): the demo's output is poor and validation says so.
TGI_DEV = {"name": "tgi-dev", "kind": "tgi", "url": "http://127.0.0.1:8081", "model": "tgi"}


class EndpointPolicy(PolicyModel):
    """One provider of the fallback chain (tried in list order)."""

    name: str = Field(min_length=1, max_length=64, description="Label in accounting, provenance and metrics.")
    kind: Literal["openai", "tgi"] = Field(
        default="openai", description="openai: POST {url}/v1/chat/completions; tgi: POST {url}/generate."
    )
    url: str = Field(min_length=1, description="Base URL (no trailing /v1).")
    model: str = Field(default="tgi", min_length=1, description="Model name sent to the endpoint.")
    api_key_env: str = Field(default="", description="Environment variable holding the bearer token (never the key).")
    timeout_seconds: float = Field(default=60.0, gt=0.0, le=600.0, description="Per request.")
    retries: int = Field(default=2, ge=0, le=10, description="Retries on this endpoint before falling back.")
    backoff_seconds: float = Field(default=0.5, ge=0.0, le=60.0, description="First back-off (full jitter, doubling).")
    backoff_max_seconds: float = Field(default=10.0, ge=0.0, le=600.0)
    rate_per_second: float = Field(default=10.0, gt=0.0, le=10_000.0, description="Token-bucket refill rate.")
    burst: int = Field(default=8, ge=1, le=10_000, description="Token-bucket capacity.")
    breaker_failures: int = Field(
        default=5, ge=1, le=1000, description="Consecutive failed requests that open the circuit."
    )
    breaker_cooldown_seconds: float = Field(
        default=30.0, ge=0.0, le=3600.0, description="How long an open circuit skips the endpoint."
    )
    cost_per_1k_prompt_tokens: float = Field(default=0.0, ge=0.0, description="Accounting, in the team's currency.")
    cost_per_1k_completion_tokens: float = Field(default=0.0, ge=0.0)


class ValidationPolicy(PolicyModel):
    """The distribution check of a generated batch against real records of the same category."""

    # Calibrated on MiniLM (docs/synthesizer.md): two coaching sets written apart ~0.23, coaching vs
    # baking recipes ~0.93, two halves of one set ~0.003.
    max_centroid_distance: float = Field(
        default=0.45,
        ge=0.0,
        le=2.0,
        description="Cosine distance between the MiniLM centroids of the batch and the real records.",
    )
    max_length_ratio: float = Field(
        default=2.5, ge=1.0, description="Mean characters per turn, batch vs real, either way."
    )
    max_turns_ratio: float = Field(default=2.5, ge=1.0, description="Mean turns per conversation, either way.")
    min_reference_records: int = Field(
        default=20, ge=1, description="Real records needed to compare against; fewer = the batch is held."
    )
    reference_records: int = Field(default=300, ge=1, le=100_000, description="Real records sampled per category.")


class ReviewPolicy(PolicyModel):
    sample_size: int = Field(default=5, ge=0, le=1000, description="Records of each batch a person reviews first.")
    auto_admit: bool = Field(
        default=False, description="Publish a validated batch without review (tests, demos; off in production)."
    )


class SynthesizerPolicy(PolicyModel):
    endpoints: list[EndpointPolicy] = Field(
        default_factory=lambda: [EndpointPolicy(**TGI_DEV)], min_length=1, description="The chain, in order."
    )
    on_dataset_ready: bool = Field(
        default=False, description="`crucible serve synthesizer` plans and generates on dataset.ready with deficits."
    )
    templates: str = Field(default="v1", pattern=r"^v[0-9]+$", description="Prompt template version.")
    temperature: float = Field(default=0.9, ge=0.0, le=2.0)
    top_p: float = Field(default=0.95, gt=0.0, le=1.0)
    seed: int = Field(default=7, ge=0, le=2**31 - 1, description="Base seed; each plan item derives its own.")
    max_new_tokens_scenario: int = Field(default=200, ge=16, le=4096)
    max_new_tokens_conversation: int = Field(default=900, ge=32, le=16_384)
    min_turns: int = Field(default=4, ge=2, le=64, description="A conversation shorter than this is rejected.")
    concurrency: int = Field(default=8, ge=1, le=256, description="Plan items generated at once.")
    max_per_plan: int = Field(default=500, ge=1, le=100_000, description="Cap on one plan's conversations.")
    min_quality: float = Field(
        default=0.0,
        ge=0.0,
        le=10.0,
        description="Scorer threshold for synthetic records (record.extraction.min_quality); 0 = the scorer's own. "
        "They carry no app signals (satisfaction, action taken, positive outcome: 4 of the 10 points), so at "
        "the default 7.0 none can pass; 4.2 is the same bar on the 6 points they can earn.",
    )
    synthetic_cap: float = Field(
        default=0.30, ge=0.0, le=1.0, description="Plan no more than this share of synthetic records (as dataset)."
    )
    validation: ValidationPolicy = Field(default_factory=ValidationPolicy)
    review: ReviewPolicy = Field(default_factory=ReviewPolicy)

    @field_validator("endpoints")
    @classmethod
    def _unique_names(cls, value: list[EndpointPolicy]) -> list[EndpointPolicy]:
        names = [e.name for e in value]
        if len(set(names)) != len(names):
            raise ValueError(f"endpoint names must be unique, got {names}")
        return value
