"""Loading the trained encoder and heads from the artifact store (training them first when missing)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from crucible.scorer.encoder import OnnxEncoder
from crucible.scorer.heads import Heads
from crucible.scorer.policy import ScorerPolicy

log = logging.getLogger(__name__)

_FILES = ("encoder.onnx", "heads.npz")
_cache: dict[tuple[str, str, int, int], ScorerModels] = {}
_lock = threading.Lock()


class ModelsMissing(RuntimeError):
    """The artifact has no trained scorer models and training on demand is off."""


@dataclass(frozen=True)
class ScorerModels:
    encoder: OnnxEncoder
    heads: Heads
    model_key: str
    metrics: dict[str, Any]


def models_present(artifacts: Any, policy: ScorerPolicy) -> bool:
    key = policy.model_key.rstrip("/")
    return all(artifacts.exists(f"{key}/{name}") for name in _FILES)


def load_models(
    artifacts: Any,
    policy: ScorerPolicy,
    *,
    train_if_missing: bool | None = None,
    progress: Callable[[str], None] = log.info,
) -> ScorerModels:
    """The models under `policy.model_key`, trained first when missing (policy `train_if_missing`).
    Cached per process: every stage and command in one process shares one encoder session."""
    key = policy.model_key.rstrip("/")
    cache_key = (artifacts.root_url, key, policy.encoder.max_tokens, policy.encoder.batch_size)
    with _lock:
        if cache_key in _cache:
            return _cache[cache_key]
        if not models_present(artifacts, policy):
            allowed = policy.train_if_missing if train_if_missing is None else train_if_missing
            if not allowed:
                raise ModelsMissing(f"no scorer models at {artifacts.uri(key)}: run `crucible scorer train`")
            from crucible.scorer.training import train_models

            progress(f"no scorer models at {artifacts.uri(key)}: training them now (about a minute)")
            train_models(artifacts, policy, progress=progress)
        encoder = OnnxEncoder(
            artifacts.read_bytes(f"{key}/encoder.onnx"),
            max_tokens=policy.encoder.max_tokens,
            batch_size=policy.encoder.batch_size,
        )
        heads = Heads.from_bytes(artifacts.read_bytes(f"{key}/heads.npz"))
        metrics = artifacts.read_json(f"{key}/metrics.json") if artifacts.exists(f"{key}/metrics.json") else {}
        models = ScorerModels(encoder=encoder, heads=heads, model_key=key, metrics=metrics)
        _cache[cache_key] = models
        return models


def forget_cached_models() -> None:
    """Drop loaded models (after retraining in the same process)."""
    with _lock:
        _cache.clear()
