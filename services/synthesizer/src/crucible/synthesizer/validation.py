"""The distribution check: does a generated batch look like real records of its category?

Three figures, each against a policy bound: the cosine distance between the MiniLM centroids of
the batch and of the real records, and the ratios of mean characters per turn and mean turns per
conversation. A batch outside any bound drifts and is rejected whole (one bad prompt or provider
makes a batch drift together, so a per-record filter would keep its best-looking part).

Pure: embeddings come in as arrays (embedding.py computes them)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from crucible.synthesizer.policy import ValidationPolicy
from crucible.v1 import records_pb2


@dataclass(frozen=True)
class ShapeStats:
    conversations: int
    mean_turns: float
    mean_chars_per_turn: float


@dataclass(frozen=True)
class Verdict:
    passed: bool
    reasons: tuple[str, ...]
    figures: dict[str, float]


def conversation_text(record: records_pb2.Record, limit: int = 2000) -> str:
    return "\n".join(f"{t.role}: {t.text}" for t in record.turns)[:limit]


def shape_stats(records: Sequence[records_pb2.Record]) -> ShapeStats:
    if not records:
        return ShapeStats(0, 0.0, 0.0)
    turns = [len(r.turns) for r in records]
    chars = [len(t.text) for r in records for t in r.turns]
    return ShapeStats(len(records), float(np.mean(turns)), float(np.mean(chars)) if chars else 0.0)


def centroid_distance(a: np.ndarray, b: np.ndarray) -> float:
    """1 - cosine of the mean (L2-normalised) embeddings."""
    ca, cb = a.mean(axis=0), b.mean(axis=0)
    denom = float(np.linalg.norm(ca) * np.linalg.norm(cb))
    return 1.0 - float(ca @ cb) / denom if denom else 1.0


def _ratio(x: float, y: float) -> float:
    if x <= 0 or y <= 0:
        return float("inf")
    return max(x / y, y / x)


def distribution_check(
    batch: ShapeStats,
    reference: ShapeStats,
    batch_embeddings: np.ndarray,
    reference_embeddings: np.ndarray,
    policy: ValidationPolicy,
) -> Verdict:
    distance = centroid_distance(batch_embeddings, reference_embeddings)
    length_ratio = _ratio(batch.mean_chars_per_turn, reference.mean_chars_per_turn)
    turns_ratio = _ratio(batch.mean_turns, reference.mean_turns)
    reasons = []
    if distance > policy.max_centroid_distance:
        reasons.append(f"embedding centroid distance {distance:.3f} > {policy.max_centroid_distance:g}")
    if length_ratio > policy.max_length_ratio:
        reasons.append(f"characters per turn ratio {length_ratio:.2f} > {policy.max_length_ratio:g}")
    if turns_ratio > policy.max_turns_ratio:
        reasons.append(f"turns per conversation ratio {turns_ratio:.2f} > {policy.max_turns_ratio:g}")
    figures = {
        "centroid_distance": round(distance, 4),
        "length_ratio": round(length_ratio, 3),
        "turns_ratio": round(turns_ratio, 3),
        "batch_mean_turns": round(batch.mean_turns, 2),
        "reference_mean_turns": round(reference.mean_turns, 2),
        "batch_chars_per_turn": round(batch.mean_chars_per_turn, 1),
        "reference_chars_per_turn": round(reference.mean_chars_per_turn, 1),
        "batch": batch.conversations,
        "reference": reference.conversations,
    }
    return Verdict(not reasons, tuple(reasons), figures)
