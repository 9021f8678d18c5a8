"""The gateway's policy section (`gateway:` in crucible.yaml) and its settings (environment).

Policy holds the numbers people tune (stages, durations, rollback criteria, sample minimums);
settings say where things are and hold the secret (admin token, TLS files, backend URLs).
Defaults are the seeds' values: stages 10/25/50/100 %, 3 days per stage, rollback on a
satisfaction drop > 0.5, an error-rate increase > 5 points, or any safety incident.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from crucible.common.config import PolicyModel as _Strict

DAY = 86_400.0


class RollbackCriteria(_Strict):
    max_satisfaction_drop: float = Field(
        default=0.5, ge=0.0, le=10.0, description="Roll back when canary mean rating is lower than stable's by more."
    )
    max_error_rate_increase_points: float = Field(
        default=5.0, ge=0.0, le=100.0, description="Roll back when canary error rate exceeds stable's by more (points)."
    )
    max_safety_incidents: int = Field(default=0, ge=0, le=1000, description="Roll back above this many incidents.")
    max_advice_acceptance_drop_points: float = Field(
        default=20.0,
        ge=0.0,
        le=100.0,
        description="Roll back when the share of canary ratings with advice accepted is lower than stable's by more "
        "(percentage points; needs 5 ratings on each side).",
    )


class EmbeddedRollout(_Strict):
    """The rollout `crucible run` drives on one machine: short stages, a built-in load generator."""

    # Long enough that a busy 2-core machine still gathers each stage's minimum sample before the
    # "inconclusive at twice the duration" pause (6 s paused under load average > 10).
    stage_duration_seconds: float = Field(default=10.0, gt=0, le=3600)
    analysis_interval_seconds: float = Field(default=1.0, gt=0, le=600)
    publish_interactions: bool = Field(
        default=True,
        description="The demo rollout publishes its exchanges as interaction records and stores the "
        "simulated users' feedback, so `crucible run` shows the whole loop (gateway.interactions stays "
        "the switch everywhere else).",
    )
    min_requests_per_stage: int = Field(default=15, ge=1, le=1_000_000)
    min_feedback_per_stage: int = Field(default=5, ge=0, le=1_000_000)
    # Many users, so sticky hashing gives the canary close to its weight even in a short stage.
    users: int = Field(default=1000, ge=1, le=100_000, description="Simulated users of the load generator.")
    concurrency: int = Field(default=4, ge=1, le=256)
    feedback_probability: float = Field(default=0.6, ge=0.0, le=1.0)
    max_new_tokens: int = Field(default=12, ge=1, le=4096)
    latency_slack_seconds: float = Field(
        default=0.5,
        ge=0,
        le=60,
        description="Both variants share one single-threaded CPU server here, so their latency is mostly queueing "
        "for it and answer length: differences below this never pause the embedded rollout.",
    )
    timeout_seconds: float = Field(default=240.0, gt=0, le=7200, description="Give up (abort) after this long.")


class RequestLimits(_Strict):
    """Checked at the gateway before any backend call: too large is 413, out of range 422/400."""

    max_body_bytes: int = Field(default=1_048_576, ge=1024, le=64 * 1_048_576, description="Request body size.")
    max_prompt_bytes: int = Field(
        default=262_144, ge=64, le=64 * 1_048_576, description="Prompt (or conversation) size."
    )
    max_new_tokens: int = Field(default=4096, ge=1, le=1_000_000, description="Largest max_new_tokens/max_tokens.")
    max_stop_sequences: int = Field(default=4, ge=0, le=64)
    max_n: int = Field(default=8, ge=1, le=128, description="Most OpenAI choices per request (`n`).")


class InteractionPolicy(_Strict):
    """Served exchanges published as `interaction` records on crucible.records.raw (issue 18).
    Off by default: an operator opts the deployment in, and any caller can opt a request out."""

    enabled: bool = Field(default=False, description="Publish served exchanges as interaction records.")
    sample_rate: float = Field(default=1.0, ge=0.0, le=1.0, description="Share of eligible exchanges published.")
    buffer_records: int = Field(
        default=10_000, ge=1, le=10_000_000, description="Exchanges waiting to be published; beyond, dropped (counted)."
    )
    batch_records: int = Field(default=256, ge=1, le=100_000, description="Records per published message.")
    flush_seconds: float = Field(default=0.5, gt=0, le=60, description="Longest a record waits in the buffer.")
    feedback_settle_seconds: float = Field(
        default=30.0,
        ge=0,
        le=DAY,
        description="A feedback record is published no sooner than this after its answer, so the exchange it "
        "updates is through the scrubber and scorer first (feedback comes late by design).",
    )


class FeedbackPolicy(_Strict):
    """Who may send feedback, how often, and for how long after the answer (issue 25 item 2)."""

    response_id_ttl_seconds: float = Field(
        default=7 * DAY, gt=0, le=365 * DAY, description="Feedback on an older response id is refused (expired)."
    )
    rate_per_second: float = Field(default=50.0, gt=0, le=1_000_000, description="Feedback per caller per second.")
    burst: int = Field(default=200, ge=1, le=1_000_000, description="Feedback a caller may send at once.")
    require_client_token: bool = Field(
        default=False, description="Feedback needs `Authorization: Bearer <client token>` (CLIENT_TOKENS)."
    )
    require_client_token_for_generation: bool = Field(default=False, description="Generation needs a client token too.")


class GatewayPolicy(_Strict):
    stages: list[float] = Field(default=[10.0, 25.0, 50.0, 100.0], min_length=1, description="Canary weights, %.")
    stage_duration_seconds: float = Field(default=3 * DAY, gt=0, le=90 * DAY, description="Time per stage.")
    analysis_interval_seconds: float = Field(default=60.0, gt=0, le=DAY)
    min_requests_per_stage: int = Field(
        default=200, ge=1, le=10_000_000, description="Canary requests a stage needs before it may promote."
    )
    min_feedback_per_stage: int = Field(
        default=30, ge=0, le=10_000_000, description="Canary ratings a stage needs before it may promote."
    )
    max_p95_latency_ratio: float = Field(
        default=1.5, gt=0, le=100, description="Canary p95 latency above stable's times this pauses the rollout."
    )
    max_ttft_ratio: float = Field(default=1.5, gt=0, le=100, description="Same for p95 time to first token.")
    latency_slack_seconds: float = Field(
        default=0.05, ge=0, le=60, description="Latency differences below this never pause a rollout."
    )
    rollback: RollbackCriteria = RollbackCriteria()
    safety_sample_rate: float = Field(
        default=1.0, ge=0.0, le=1.0, description="Share of canary responses the safety check reads."
    )
    stable_safety_sample_rate: float = Field(
        default=1.0, ge=0.0, le=1.0, description="Share of stable responses the safety check reads."
    )
    default_max_new_tokens: int = Field(default=256, ge=1, le=32_768, description="Sent when a client sends none.")
    backend_timeout_seconds: float = Field(default=60.0, gt=0, le=3600)
    retry_canary_on_stable: bool = Field(default=True, description="Retry a failed canary request once on stable.")
    delivery_timeout_seconds: float = Field(
        default=600.0,
        gt=0,
        le=7200,
        description="Longest an adapter delivery may take (a runtime load call, or a TGI restart to completion).",
    )
    limits: RequestLimits = RequestLimits()
    openai_passthrough: list[str] = Field(
        default_factory=list,
        description="OpenAI fields the fleet's models support and the gateway forwards (tools, tool_choice, "
        "response_format, ...); any other such field is refused with 400 instead of silently ignored.",
    )
    embedded: EmbeddedRollout = EmbeddedRollout()
    interactions: InteractionPolicy = InteractionPolicy()
    feedback: FeedbackPolicy = FeedbackPolicy()

    @field_validator("stages")
    @classmethod
    def _stages_increase_to_100(cls, v: list[float]) -> list[float]:
        if any(not 0 < s <= 100 for s in v):
            raise ValueError("each stage is a percentage in (0, 100]")
        if any(b <= a for a, b in itertools.pairwise(v)):
            raise ValueError("stages must strictly increase")
        if v[-1] != 100:
            raise ValueError("the last stage must be 100")
        return v


class GatewaySettings(BaseSettings):
    """Where things are. Every field is `CRUCIBLE_GATEWAY_<NAME>` in the environment."""

    model_config = SettingsConfigDict(env_prefix="CRUCIBLE_GATEWAY_", extra="ignore")

    admin_token: str | None = Field(default=None, description="Bearer token for StartRollout/Promote/Abort.")
    grpc_host: str = "0.0.0.0"
    grpc_port: int = Field(default=50051, ge=0, le=65535)
    http_host: str = "0.0.0.0"
    http_port: int = Field(default=8080, ge=0, le=65535)
    tls_cert: Path | None = Field(default=None, description="PEM certificate chain: serve gRPC over TLS.")
    tls_key: Path | None = None
    http_tls: bool = Field(
        default=False,
        description="Serve HTTP over TLS too, with the same certificate. Off: HTTP's TLS ends at the ingress or "
        "mesh (the chart's HTTP readiness probe is plaintext).",
    )
    stable_url: str | None = Field(default=None, description="Stable backend URL (TGI or OpenAI-compatible).")
    stable_model: str = Field(
        default="tiny-base",
        description="Model the stable backend serves; without stable_url, a base model (name or folder) for tgi-dev.",
    )
    backend_kind: str = Field(
        default="tgi",
        pattern="^(tgi|openai|vllm)$",
        description="The fleet's protocol: tgi (adapter_id per request), vllm (OpenAI API + runtime LoRA loading), "
        "openai (any OpenAI-compatible server; candidates on their own URL).",
    )
    candidate_url: str | None = Field(
        default=None,
        description="Serve candidates on this URL instead of as adapters on the fleet (a new base model).",
    )
    pool: str = Field(default="default", description="The serving pool this gateway fronts (registry `models.pool`).")
    adapter_dir: str | None = Field(
        default=None,
        description="vLLM: the folder where the server reads adapters (`crucible serving sync` fills it); "
        "unset = the artifact store's local path (embedded).",
    )
    restart_deployments: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="TGI: Deployments restarted to pick up a new adapter "
        "(their entrypoint runs `crucible serving prepare`).",
    )
    namespace: str = Field(default="default", description="Kubernetes namespace of `restart_deployments`.")

    @field_validator("restart_deployments", mode="before")
    @classmethod
    def _comma_separated(cls, v: object) -> object:
        if isinstance(v, str):  # CRUCIBLE_GATEWAY_RESTART_DEPLOYMENTS=tgi-a,tgi-b
            return [name.strip() for name in v.split(",") if name.strip()]
        return v

    response_secret: str | None = Field(
        default=None,
        description="HMAC key that signs response ids; every replica needs the same one (unset: a random key "
        "per process, so feedback only verifies on the replica that answered).",
    )
    client_tokens: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description="Client credentials as `name=token,name2=token2`: the name is the caller in rate limits "
        "and on stored feedback.",
    )

    @field_validator("client_tokens", mode="before")
    @classmethod
    def _name_token_pairs(cls, v: object) -> object:
        if isinstance(v, str):  # CRUCIBLE_GATEWAY_CLIENT_TOKENS=app=s3cret,console=t0ken
            pairs = [p.strip().split("=", 1) for p in v.split(",") if p.strip()]
            if any(len(p) != 2 or not p[0] or not p[1] for p in pairs):
                raise ValueError("client tokens are `name=token` pairs separated by commas")
            return {name: token for name, token in pairs}
        return v

    kv_bucket: str = "crucible_gateway"
    address: str = Field(default="localhost:50051", description="Where `crucible rollout` finds a gateway.")
