"""The distribution check rejects a drifting batch."""

from __future__ import annotations

import numpy as np

from crucible.synthesizer.policy import ValidationPolicy
from crucible.synthesizer.validation import ShapeStats, distribution_check

REAL = ShapeStats(100, 6.0, 120.0)


def cloud(center: np.ndarray, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = center + 0.3 * rng.standard_normal((n, center.size))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_a_batch_like_the_real_records_passes() -> None:
    c = np.ones(16) / 4
    verdict = distribution_check(
        ShapeStats(20, 5.0, 110.0), REAL, cloud(c, 20, 1), cloud(c, 100, 2), ValidationPolicy()
    )
    assert verdict.passed and verdict.figures["centroid_distance"] < 0.05


def test_a_batch_that_drifts_in_meaning_length_or_turns_is_rejected() -> None:
    a, b = np.eye(16)[0], np.eye(16)[1]
    policy = ValidationPolicy()
    off_topic = distribution_check(ShapeStats(20, 6.0, 120.0), REAL, cloud(a, 20, 1), cloud(b, 100, 2), policy)
    assert not off_topic.passed and "centroid distance" in off_topic.reasons[0]
    wordy = distribution_check(ShapeStats(20, 6.0, 900.0), REAL, cloud(a, 20, 1), cloud(a, 100, 2), policy)
    assert not wordy.passed and "characters per turn" in wordy.reasons[0]
    terse = distribution_check(ShapeStats(20, 2.0, 120.0), REAL, cloud(a, 20, 1), cloud(a, 100, 2), policy)
    assert not terse.passed and "turns per conversation" in terse.reasons[0]
