"""How well a probability means what it says: the Brier score and the expected calibration error (ECE),
per label, for the safety ensemble's members and the stacker (`crucible bench score`, `metrics.json`)."""

from __future__ import annotations

import numpy as np

ECE_BINS = 10


def brier(truth: np.ndarray, probs: np.ndarray) -> float:
    """Mean squared difference between the probability and the 0/1 truth (scikit-learn's
    `brier_score_loss` is the reference in the tests)."""
    y = np.asarray(truth, dtype=np.float64)
    p = np.asarray(probs, dtype=np.float64)
    return float(np.mean((p - y) ** 2)) if len(y) else 0.0


def ece(truth: np.ndarray, probs: np.ndarray, bins: int = ECE_BINS) -> float:
    """Expected calibration error: probabilities cut into `bins` equal-width bins on [0, 1] (the last one
    closed), and |mean probability - share of positives| of each bin, weighted by its share of the rows."""
    y = np.asarray(truth, dtype=np.float64)
    p = np.asarray(probs, dtype=np.float64)
    if not len(y):
        return 0.0
    which = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.mean() * abs(p[mask].mean() - y[mask].mean())
    return float(total)


def per_label(truth: np.ndarray, probs: np.ndarray, labels: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """{"brier": {label: ...}, "ece": {label: ...}} for a (rows x labels) truth and probability matrix."""
    return {
        "brier": {lab: round(brier(truth[:, j], probs[:, j]), 4) for j, lab in enumerate(labels)},
        "ece": {lab: round(ece(truth[:, j], probs[:, j]), 4) for j, lab in enumerate(labels)},
    }
