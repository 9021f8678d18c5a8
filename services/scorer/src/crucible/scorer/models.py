"""Loading the trained encoder and heads from the artifact store (training them first when missing)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from crucible.scorer.encoder import OnnxEncoder
from crucible.scorer.ensemble import SafetyEnsemble
from crucible.scorer.heads import Heads
from crucible.scorer.policy import ScorerPolicy
from crucible.scorer.replies import ReplyEncoder

log = logging.getLogger(__name__)

_FILES = ("encoder.onnx", "replies.npz", "heads.npz", "ensemble.npz")
_cache: dict[tuple[Any, ...], ScorerModels] = {}
_lock = threading.Lock()


class ModelsMissing(RuntimeError):
    """The artifact has no trained scorer models and training on demand is off."""


@dataclass(frozen=True)
class ScorerModels:
    encoder: OnnxEncoder  # a person's sentences (MiniLM)
    replies: ReplyEncoder  # the coach's replies (static, distilled from MiniLM)
    heads: Heads
    model_key: str
    metrics: dict[str, Any]
    # The safety ensemble (`ensemble.py`); None: the head alone decides (models built by hand in tests).
    ensemble: SafetyEnsemble | None = None


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
    enc = policy.encoder
    cache_key = (artifacts.root_url, key, enc.max_tokens, enc.batch_size, enc.batch_tokens, enc.reply_max_tokens)
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
            max_tokens=enc.max_tokens,
            batch_size=enc.batch_size,
            batch_tokens=enc.batch_tokens,
        )
        replies = ReplyEncoder.from_bytes(artifacts.read_bytes(f"{key}/replies.npz"))
        replies.max_tokens = enc.reply_max_tokens
        heads = Heads.from_bytes(artifacts.read_bytes(f"{key}/heads.npz"))
        metrics = artifacts.read_json(f"{key}/metrics.json") if artifacts.exists(f"{key}/metrics.json") else {}
        ensemble = SafetyEnsemble.from_bytes(artifacts.read_bytes(f"{key}/ensemble.npz"))
        models = ScorerModels(
            encoder=encoder, replies=replies, heads=heads, model_key=key, metrics=metrics, ensemble=ensemble
        )
        _cache[cache_key] = models
        return models


def forget_cached_models() -> None:
    """Drop loaded models (after retraining in the same process)."""
    with _lock:
        _cache.clear()
