"""Configuration: environment settings (`CRUCIBLE_*`) and the policy file `crucible.yaml`.

Two kinds of configuration, kept apart on purpose:
- *Settings* say where things are (URLs, paths, secrets). They come from the environment,
  so a Kubernetes Secret or ConfigMap sets them.
- *Policy* holds the numbers people tune (thresholds, mixes, gates). It lives in one YAML
  file whose defaults are the seeds' values. Each service owns its own section and its own
  pydantic model for it (`ServiceSpec.policy_model`), so adding a knob never touches this file.

A bad value stops start-up with `ConfigError`, naming the key and what is allowed; every
problem of the policy file is reported at once (one line each), with a "did you mean" for a
misspelt key. A bad `CRUCIBLE_*` variable names the variable (`settings_error`).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from crucible.common.errors import ConfigError
from crucible.common.logs import LOG_LEVELS
from crucible.common.nats_auth import NatsSecurity


class Settings(BaseSettings):
    """Where things are. Every field is `CRUCIBLE_<NAME>` in the environment."""

    model_config = SettingsConfigDict(env_prefix="CRUCIBLE_", extra="ignore")

    home: Path = Field(default=Path(".crucible"), description="Local state: registry, artifacts, runs.")
    nats_url: str | None = Field(default=None, description="NATS URL; unset = start an embedded nats-server.")
    database_url: str | None = Field(default=None, description="Registry database; unset = SQLite in home.")
    source_url: str | None = Field(default=None, description="The app database to extract from; unset = demo DB.")
    redis_url: str | None = Field(default=None, description="Dedup index; unset = in memory.")
    artifacts_url: str | None = Field(default=None, description="file:// or s3:// root; unset = home/artifacts.")
    subject_secret: str | None = Field(default=None, description="HMAC secret for subject tokens.")
    policy_file: Path | None = Field(default=None, description="Policy YAML; unset = ./crucible.yaml if present.")
    metrics_port: int = Field(default=0, ge=0, le=65535, description="Prometheus port for `serve`; 0 = off.")
    metrics_host: str = Field(
        default="0.0.0.0", description="Address the metrics and probe server binds (127.0.0.1: this host only)."
    )
    nats_creds: Path | None = Field(default=None, description="NATS .creds file (user JWT and nkey seed).")
    nats_nkey: Path | None = Field(default=None, description="NATS nkey seed file (an nkey user).")
    nats_tls_ca: Path | None = Field(default=None, description="CA bundle that signed the NATS server's cert.")
    nats_tls_cert: Path | None = Field(default=None, description="Client certificate for NATS mutual TLS.")
    nats_tls_key: Path | None = Field(default=None, description="Key of the NATS client certificate.")
    nats_inbox_prefix: str | None = Field(
        default=None,
        pattern=r"^_INBOX_[A-Za-z0-9_-]+$",
        description="Reply-inbox prefix; unset = `_INBOX_<user>` from the URL (set it for .creds/nkey users).",
    )
    log_level: str = Field(default="INFO", description=f"Our loggers' level: one of {', '.join(LOG_LEVELS)}.")
    log_json: bool = Field(default=True, description="JSON logs off a terminal (false: plain lines).")

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value.strip().upper() not in LOG_LEVELS:
            raise ValueError(f"use one of {', '.join(LOG_LEVELS)} (or --verbose)")
        return value.strip().upper()

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'registry.db').resolve()}"

    def nats_security(self) -> NatsSecurity:
        """The NATS connection options beyond the URL (credentials files, TLS, inbox prefix)."""
        return NatsSecurity(
            creds_file=self.nats_creds,
            nkey_seed_file=self.nats_nkey,
            tls_ca_file=self.nats_tls_ca,
            tls_cert_file=self.nats_tls_cert,
            tls_key_file=self.nats_tls_key,
            inbox_prefix=self.nats_inbox_prefix,
        )

    def resolved_artifacts_url(self) -> str:
        if self.artifacts_url:
            return self.artifacts_url
        return (self.home / "artifacts").resolve().as_uri()


class PolicyModel(BaseModel):
    """The base of every policy model, the platform's and each service's section: an unknown
    key is an error (a typo never falls back to a default), and so is a bad assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class BusPolicy(PolicyModel):
    batch_size: int = Field(default=256, ge=1, le=10_000, description="Messages fetched per pull.")
    records_per_message: int = Field(default=64, ge=1, le=10_000, description="Records per RecordBatch message.")
    max_deliver: int = Field(default=5, ge=1, le=100, description="Deliveries before a message goes to the DLQ.")
    backoff_seconds: list[float] = Field(
        default=[1.0, 5.0, 30.0], min_length=1, description="Redelivery delays after a failure, per attempt."
    )
    ack_wait_seconds: float = Field(default=60.0, gt=0, le=3600)
    dlq_max_age_days: float = Field(default=14.0, gt=0, le=365)
    events_max_age_days: float = Field(default=90.0, gt=0, le=3650)
    duplicate_window_seconds: float = Field(default=120.0, gt=0, le=86_400)
    dlq_raw_payload_ttl_seconds: float = Field(
        default=0.0,
        ge=0,
        le=14 * 86_400,
        description="How long a raw (unscrubbed) record may rest in a DLQ entry; 0: a content-free reference only.",
    )


class ExtractionPolicy(PolicyModel):
    days: int = Field(default=30, ge=1, le=3650, description="Extraction window in days.")
    min_quality: float = Field(default=7.0, ge=0.0, le=10.0, description="Minimum quality score to keep.")


class RetentionPolicy(PolicyModel):
    """Ages after which `crucible retention run` removes data (seed 001: raw data and logs 90 days,
    archive 24 months). Days unless named otherwise."""

    raw_days: float = Field(default=90.0, gt=0, le=3650, description="RAW/RECORDS stream messages.")
    dlq_days: float = Field(default=90.0, gt=0, le=3650, description="DLQ entries.")
    events_days: float = Field(default=90.0, gt=0, le=3650, description="EVENTS (the bus audit trail).")
    review_days: float = Field(default=90.0, gt=0, le=3650, description="Review-queue items and rejections.")
    interaction_days: float = Field(default=90.0, gt=0, le=3650, description="Interaction and feedback logs.")
    run_log_days: float = Field(default=90.0, gt=0, le=3650, description="Run folders and run rows.")
    dataset_active_days: float = Field(
        default=180.0, gt=0, le=3650, description="Dataset versions move to the archive prefix after this."
    )
    archive_months: int = Field(default=24, ge=1, le=240, description="Archived versions are deleted after this.")


class ForgetPolicy(PolicyModel):
    """What `crucible forget` does with what was built from a forgotten person's records."""

    dataset_versions: str = Field(
        default="redact",
        pattern="^(redact|delete)$",
        description="redact: re-materialise affected versions without them (same id, revision `redacted`); "
        "delete: remove the affected versions' files.",
    )
    retrain: bool = Field(default=False, description="Queue a retrain (train.requested) for each marked model.")
    event_wait_seconds: float = Field(
        default=30.0, ge=0, le=3600, description="How long to wait for consumers before deleting the event."
    )


class PrivacyPolicy(PolicyModel):
    retention: RetentionPolicy = RetentionPolicy()
    forget: ForgetPolicy = ForgetPolicy()


class CommonPolicy(PolicyModel):
    bus: BusPolicy = BusPolicy()
    extraction: ExtractionPolicy = ExtractionPolicy()
    privacy: PrivacyPolicy = PrivacyPolicy()


def _fields_at(model: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """The field names of the (nested) model at `loc`, for a "did you mean"."""
    for part in loc:
        field = model.model_fields.get(str(part))
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`; did you mean 'x'?` for the closest choice, or a list of the allowed ones."""
    choices = sorted(choices)
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f"; allowed: {', '.join(choices)}" if choices else ""


def _problems(section: str, model: type[BaseModel], err: ValidationError) -> list[str]:
    lines = []
    for e in err.errors():
        loc = [p for p in e["loc"] if p != ""]
        key = ".".join(str(p) for p in ([section] if section else []) + loc)
        if e["type"] == "extra_forbidden":
            hint = did_you_mean(str(loc[-1]), _fields_at(model, loc[:-1])) if loc else ""
            lines.append(f"{key}: unknown key{hint}")
            continue
        ctx = e.get("ctx") or {}
        allowed = " (" + ", ".join(f"{k} {v}" for k, v in ctx.items() if k != "error") + ")" if ctx else ""
        lines.append(f"{key}: {e['msg']}{allowed}; got {e.get('input')!r}")
    return lines


def _section_problems(section: str, model: type[BaseModel], raw: Mapping[str, Any] | None) -> tuple[Any, list[str]]:
    if raw is not None and not isinstance(raw, Mapping):
        return None, [f"{section}: must be a mapping of keys, got {type(raw).__name__}"]
    try:
        return model.model_validate(dict(raw or {})), []
    except ValidationError as err:
        return None, _problems(section, model, err)


def validate_section(section: str, model: type[BaseModel], raw: Mapping[str, Any] | None) -> BaseModel:
    """Validate one policy section, turning pydantic errors into a ConfigError naming the keys."""
    value, problems = _section_problems(section, model, raw)
    if problems:
        raise ConfigError("invalid policy value(s):\n" + "\n".join(problems))
    assert isinstance(value, BaseModel)
    return value


def settings_error(err: ValidationError, settings_cls: type[BaseSettings]) -> ConfigError:
    """A ConfigError naming each bad environment variable, its value and what is allowed."""
    prefix = str(settings_cls.model_config.get("env_prefix") or "")
    lines = []
    for e in err.errors():
        name = str(e["loc"][0]) if e["loc"] else "?"
        field = settings_cls.model_fields.get(name)
        env = f"{prefix}{name}".upper()
        ctx = e.get("ctx") or {}
        allowed = ", ".join(f"{k} {v}" for k, v in ctx.items() if k != "error")
        what = e["msg"].removeprefix("Value error, ") + (f" ({allowed})" if allowed else "")
        about = f" [{field.description}]" if field is not None and field.description else ""
        lines.append(f"{env}={e.get('input')!r}: {what}{about}")
    return ConfigError("\n".join(lines))


def load_settings() -> Settings:
    """`Settings()` from the environment; a bad variable is a ConfigError naming it."""
    try:
        return Settings()
    except ValidationError as err:
        raise settings_error(err, Settings) from None


class Policy:
    """The validated policy: `policy.bus`, `policy.extraction`, and `policy.section("scorer")`."""

    def __init__(self, common: CommonPolicy, sections: Mapping[str, BaseModel], source: str) -> None:
        self.common = common
        self._sections = dict(sections)
        self.source = source

    @property
    def bus(self) -> BusPolicy:
        return self.common.bus

    @property
    def extraction(self) -> ExtractionPolicy:
        return self.common.extraction

    @property
    def privacy(self) -> PrivacyPolicy:
        return self.common.privacy

    def section(self, name: str) -> Any:
        try:
            return self._sections[name]
        except KeyError:
            raise ConfigError(f"no policy section {name!r} (is the service installed?)") from None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = self.common.model_dump()
        for name, model in sorted(self._sections.items()):
            out[name] = model.model_dump()
        return out


COMMON_SECTIONS = frozenset(CommonPolicy.model_fields)


def load_policy(
    path: Path | None = None,
    section_models: Mapping[str, type[BaseModel]] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Policy:
    """Load and validate the policy file.

    `section_models` maps a service's section name to its model (from the service specs:
    `plugins.installed_policy_models()`, as `Runtime.create` passes them); None means the
    platform's own sections only. Configuration never looks services up itself. Unknown
    top-level keys are errors, so a typo never silently falls back to a default.
    """
    section_models = section_models or {}
    raw: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        if not path.exists():
            raise ConfigError(f"policy file {path} does not exist")
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"policy file {path} is not valid YAML: {err}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"policy file {path} must be a mapping of sections, got {type(loaded).__name__}")
        raw = loaded
        source = str(path)
    for key, value in (overrides or {}).items():
        _set_dotted(raw, key, value)
    # Every problem at once, each on its line: fixing one typo at a time, re-running each time, is slow.
    problems: list[str] = []
    known = COMMON_SECTIONS | set(section_models)
    for name in sorted(set(raw) - known, key=str):
        hint = did_you_mean(str(name), known)
        if not section_models:
            hint += " (services' sections need their models: plugins.installed_policy_models())"
        problems.append(f"{name}: unknown policy section{hint}")
    common, found = _section_problems("", CommonPolicy, {k: v for k, v in raw.items() if k in COMMON_SECTIONS})
    problems += found
    sections = {}
    for name, model in section_models.items():
        sections[name], found = _section_problems(name, model, raw.get(name))
        problems += found
    if problems:
        where = f"policy file {path}" if path is not None else "policy"
        raise ConfigError("\n".join(f"{where}: {p}" for p in problems))
    assert isinstance(common, CommonPolicy)
    return Policy(common, sections, source)


def _set_dotted(target: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = target
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"cannot override {dotted}: {part} is not a section")
    node[parts[-1]] = value


def default_policy_path(settings: Settings) -> Path | None:
    if settings.policy_file is not None:
        return settings.policy_file
    candidate = Path("crucible.yaml")
    return candidate if candidate.exists() else None
