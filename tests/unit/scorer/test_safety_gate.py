"""The nearest-example gate: a recall-first label needs the text to be about as close to an example of the
label as to the nearest everyday one, whatever the MLP says."""

from __future__ import annotations

import numpy as np

from crucible.common.categories import CATEGORIES
from crucible.scorer.heads import CategoryHead, CoherenceCalibration, Heads, SafetyHead
from crucible.scorer.policy import SAFETY_LABELS


def _unit(v: list[float]) -> np.ndarray:
    x = np.zeros(384, dtype=np.float32)
    x[: len(v)] = v
    return x / np.linalg.norm(x)


def _head(**gate) -> SafetyHead:
    n = len(SAFETY_LABELS)
    # An MLP that says 0.88 for every label on every input.
    return SafetyHead(
        np.zeros((384, 4), np.float32), np.zeros(4, np.float32), np.zeros((4, n), np.float32),
        np.full(n, 2.0, np.float32), np.full(n, 0.5, np.float32), **gate,
    )  # fmt: skip


def test_gate_zeroes_a_label_only_for_texts_nearer_the_everyday_examples() -> None:
    crisis, everyday = _unit([1, 0]), _unit([0, 1])
    gate = {
        "gate_positives": {"self_harm_high": crisis[None]},
        "gate_negatives": {"self_harm_high": everyday[None]},
        "gate_margins": {"self_harm_high": 0.0},
    }
    head = _head(**gate)
    j = SAFETY_LABELS.index("self_harm_high")
    probs = head.probabilities(np.stack([_unit([0.9, 0.1]), _unit([0.1, 0.9])]))
    assert probs[0, j] > 0.8 and probs[1, j] == 0.0
    # Other labels are untouched, and without a gate the MLP alone decides.
    assert probs[1, SAFETY_LABELS.index("stress")] > 0.8
    assert _head().probabilities(_unit([0.1, 0.9])[None])[0, j] > 0.8


def test_gate_survives_the_artifact_round_trip() -> None:
    crisis, everyday = _unit([1, 0]), _unit([0, 1])
    heads = Heads(
        CategoryHead(np.zeros((len(CATEGORIES), 768), np.float32), np.zeros(len(CATEGORIES), np.float32)),
        _head(
            gate_positives={"unsafe_environment": crisis[None]},
            gate_negatives={"unsafe_environment": everyday[None]},
            gate_margins={"unsafe_environment": 0.02},
        ),
        CoherenceCalibration(1.0, 0.0),
    )
    back = Heads.from_bytes(heads.to_bytes()).safety
    assert back.gate_margins == {"unsafe_environment": 0.02}
    assert np.allclose(back.gate_positives["unsafe_environment"], crisis[None])
    assert np.allclose(back.gate_negatives["unsafe_environment"], everyday[None])
