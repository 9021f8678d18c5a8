"""The safety decision as an ensemble of different views of a person's turn, combined by a calibrated
stacker (fitted in `stacking.py`, on validation data only):

- `minilm`: the MLP head on the MiniLM sentence vectors (`heads.SafetyHead`), read without its
  nearest-example gate (the gate is applied after the stacker, below);
- `lexical`: TF-IDF over character n-grams and a linear model (`lexical.py`);
- `backstop`: the crisis-phrase list and the figurative-speech check (`crisis.second_opinion`), applied
  after the stacker as it is after the head alone. It is not a stacker input: its patterns were written
  on the training and validation lines (v5's self-injury and idiom rows), so on validation it looks
  better than it is, and a stacker fitted there leaned on it and dropped the head's own self-harm catches
  (first fit: held-out `self_harm_low` recall as served 0.97 -> 0.76).

Per label, the stacker is a logistic regression on [logit(minilm), logit(lexical)]: its output is a
calibrated probability (Brier score and ECE in the figures), thresholded recall-first with the heads'
own rule (`training.tune_thresholds`). For the gated labels (self_harm_high, unsafe_environment) the
nearest-example gate still has to agree, as for the head alone.

The ensemble decides a label only where it won on validation (`use`, rule in `rule`, both stored with
the model); elsewhere the head alone decides, exactly as before. Serving needs numpy and scikit-learn's
vectorizer, no torch.
"""

from __future__ import annotations

import dataclasses
import io
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from crucible.scorer.crisis import crisis_labels
from crucible.scorer.heads import SafetyHead
from crucible.scorer.lexical import LexicalModel
from crucible.scorer.policy import SAFETY_LABELS

FEATURES = ("logit_minilm", "logit_lexical")
_CLIP = 8.0  # logits beyond this say nothing more; clipping keeps one saturated member from dominating


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6)
    return np.clip(np.log(p / (1 - p)), -_CLIP, _CLIP)


@dataclass(frozen=True)
class Readings:
    """What each member says about each turn (turns x labels)."""

    minilm: np.ndarray  # the head as served alone: thresholds apply, gate applied
    minilm_plain: np.ndarray  # the head without its gate: the stacker's input
    lexical: np.ndarray
    backstop: np.ndarray  # 0/1: the crisis-phrase list alone (a member in the figures, not a stacker input)


def read_turns(
    head: SafetyHead, lexical: LexicalModel, texts: list[str], turns: np.ndarray, sentences: list[np.ndarray]
) -> Readings:
    """Every member's reading of the person turns `texts` (with their MiniLM turn and sentence vectors)."""
    n = len(texts)
    minilm = head.turn_probabilities(turns, sentences) if n else np.zeros((0, len(SAFETY_LABELS)))
    plain = dataclasses.replace(head, gate_positives={}).turn_probabilities(turns, sentences) if n else minilm.copy()
    backstop = np.zeros((n, len(SAFETY_LABELS)), dtype=np.float32)
    for i, text in enumerate(texts):
        for label in crisis_labels(text):
            backstop[i, SAFETY_LABELS.index(label)] = 1.0
    return Readings(minilm, plain, lexical.turn_probabilities(texts), backstop)


def features(readings: Readings) -> np.ndarray:
    """The stacker's input: turns x labels x FEATURES."""
    return np.stack([_logit(readings.minilm_plain), _logit(readings.lexical)], axis=2)


def gated_labels(head: SafetyHead) -> list[int]:
    """Indices of the labels the head's nearest-example gate decides on."""
    return [
        SAFETY_LABELS.index(label)
        for label, pos in head.gate_positives.items()
        if len(pos) and len(head.gate_negatives.get(label, ())) > 0
    ]


@dataclass(frozen=True)
class SafetyEnsemble:
    lexical: LexicalModel
    coef: np.ndarray  # (labels, FEATURES): the stacker
    intercept: np.ndarray  # (labels,)
    thresholds: np.ndarray  # (labels,): the stacker's, tuned recall-first on out-of-fold validation probabilities
    use: np.ndarray  # (labels,) bool: where the ensemble decides (it won on validation)
    lexical_thresholds: np.ndarray  # (labels,): the lexical model alone (reported as a member)
    rule: dict[str, Any] = field(default_factory=dict)  # the keep rule and the validation figures behind `use`

    def stacked(self, head: SafetyHead, readings: Readings) -> np.ndarray:
        """The stacker's calibrated probability on every label, the gate applied to the gated labels (a turn
        keeps the label only where the gate let the head's own reading through: `minilm` > 0)."""
        x = features(readings)
        probs = 1.0 / (1.0 + np.exp(-(np.einsum("nlf,lf->nl", x, self.coef) + self.intercept)))
        for j in gated_labels(head):
            probs[:, j] = np.where(readings.minilm[:, j] > 0, probs[:, j], 0.0)
        return probs.astype(np.float32)

    def served(self, head: SafetyHead, readings: Readings) -> np.ndarray:
        """The probabilities that decide: the stacker's where it is used, the head's elsewhere."""
        if not self.use.any():
            return readings.minilm
        return np.where(self.use, self.stacked(head, readings), readings.minilm).astype(np.float32)

    def served_thresholds(self, head: SafetyHead) -> np.ndarray:
        return np.where(self.use, self.thresholds, head.thresholds).astype(np.float32)

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        np.savez(
            buf,
            lexical=np.frombuffer(self.lexical.to_bytes(), dtype=np.uint8),
            coef=self.coef,
            intercept=self.intercept,
            thresholds=self.thresholds,
            use=self.use,
            lexical_thresholds=self.lexical_thresholds,
            meta=np.frombuffer(
                json.dumps({"labels": SAFETY_LABELS, "features": FEATURES, "rule": self.rule}).encode(), dtype=np.uint8
            ),
        )
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> SafetyEnsemble:
        z = np.load(io.BytesIO(data), allow_pickle=False)
        meta = json.loads(bytes(z["meta"]).decode())
        if tuple(meta["labels"]) != SAFETY_LABELS or tuple(meta["features"]) != FEATURES:
            raise ValueError(f"ensemble was fitted for other labels or features: {meta['labels']}, {meta['features']}")
        return cls(
            lexical=LexicalModel.from_bytes(bytes(z["lexical"])),
            coef=z["coef"],
            intercept=z["intercept"],
            thresholds=z["thresholds"],
            use=z["use"].astype(bool),
            lexical_thresholds=z["lexical_thresholds"],
            rule=meta["rule"],
        )


def safety_probabilities(models: Any, texts: list[str], turns: np.ndarray, sentences: list[np.ndarray]) -> np.ndarray:
    """Per person turn and label, the probability that decides (the core, the slices and the bench all read
    safety through here): the ensemble where the models carry one, the head alone otherwise."""
    head = models.heads.safety
    ensemble = getattr(models, "ensemble", None)
    if not len(texts):
        return np.zeros((0, len(SAFETY_LABELS)), dtype=np.float32)
    if ensemble is None or not ensemble.use.any():
        return head.turn_probabilities(turns, sentences)
    return ensemble.served(head, read_turns(head, ensemble.lexical, texts, turns, sentences))


def safety_thresholds(models: Any) -> np.ndarray:
    ensemble = getattr(models, "ensemble", None)
    head = models.heads.safety
    return head.thresholds if ensemble is None else ensemble.served_thresholds(head)
