"""The small heads on top of the shared MiniLM embedding, evaluated in numpy (serving needs no torch).

- category: multinomial logistic regression on [mean user embedding, mean reply embedding] (768 numbers).
- safety: a one-hidden-layer MLP (384 -> 128 -> 6 sigmoids) on each of the person's turns, trained with
  focal loss; one decision threshold per label, tuned on validation data (recall first for the labels
  that matter most).
- coherence: cosine(user turn, the reply to it), calibrated by a 1-d logistic fit into the probability
  that the reply answers this message rather than some other one (so 0.8 means "80 % sure it's on point").
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field

import numpy as np

from crucible.common.categories import CATEGORIES
from crucible.scorer.policy import SAFETY_LABELS

# Per recall-first label: how much less similar to its nearest example of the label than to the nearest
# foil a text may be and still get the label (validation and the demo database's shift figure chose them).
GATE_MARGINS = {"self_harm_high": 0.05, "unsafe_environment": 0.0}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -40, 40)))


def category_features(users: np.ndarray, replies: np.ndarray) -> np.ndarray:
    """The category head's input: [person vector, reply vector] per conversation (n x 768)."""
    return np.concatenate([users, replies], axis=1)


@dataclass(frozen=True)
class CategoryHead:
    weights: np.ndarray  # (classes, 768)
    bias: np.ndarray  # (classes,)
    classes: tuple[str, ...] = CATEGORIES

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        logits = features @ self.weights.T + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class SafetyHead:
    w1: np.ndarray  # (384, hidden)
    b1: np.ndarray
    w2: np.ndarray  # (hidden, labels)
    b2: np.ndarray
    thresholds: np.ndarray  # (labels,)
    labels: tuple[str, ...] = SAFETY_LABELS
    # Nearest-example gate for the recall-first labels: unit vectors of the training examples with each
    # such label, and of those without it. Empty: no gate.
    gate_positives: dict[str, np.ndarray] = field(default_factory=dict)
    gate_negatives: dict[str, np.ndarray] = field(default_factory=dict)
    gate_margins: dict[str, float] = field(default_factory=lambda: dict(GATE_MARGINS))

    def probabilities(self, embeddings: np.ndarray) -> np.ndarray:
        hidden = np.maximum(embeddings @ self.w1 + self.b1, 0.0)
        probs = _sigmoid(hidden @ self.w2 + self.b2)
        if len(embeddings):
            # The MLP gives mid probabilities to wording unlike anything it saw (an ordinary check-in
            # read as self-harm at 0.4). A recall-first label only counts for a text that is at least
            # about as close (within `gate_margin`) to a training example with that label as to the
            # nearest one without it: the MLP and a nearest-neighbour reading must agree.
            for label, positives in self.gate_positives.items():
                negatives = self.gate_negatives.get(label)
                if negatives is None or not len(negatives) or not len(positives):
                    continue
                j = self.labels.index(label)
                closest = (embeddings @ positives.T).max(axis=1)
                other = (embeddings @ negatives.T).max(axis=1)
                margin = self.gate_margins.get(label, 0.0)
                probs[:, j] = np.where(closest + margin >= other, probs[:, j], 0.0)
        return probs

    def turn_probabilities(self, turns: np.ndarray, sentences: list[np.ndarray]) -> np.ndarray:
        """Per turn and label: the highest probability of the whole turn and of each of its sentences (a
        turn is as alarming as its most alarming sentence), except `neutral`: the lowest (a turn is only
        as neutral as its least neutral sentence)."""
        probs = self.probabilities(turns)
        multi = [i for i, sv in enumerate(sentences) if len(sv) > 1]
        if multi:
            stacked = self.probabilities(np.concatenate([sentences[i] for i in multi]))
            starts = np.cumsum([0] + [len(sentences[i]) for i in multi[:-1]])
            highest = np.maximum(probs[multi], np.maximum.reduceat(stacked, starts, axis=0))
            lowest = np.minimum(probs[multi], np.minimum.reduceat(stacked, starts, axis=0))
            n = self.labels.index("neutral")
            highest[:, n] = lowest[:, n]
            probs[multi] = highest
        return probs

    def predict(self, turns: np.ndarray, sentences: list[np.ndarray]) -> np.ndarray:
        return self.turn_probabilities(turns, sentences) >= self.thresholds


@dataclass(frozen=True)
class CoherenceCalibration:
    slope: float
    intercept: float

    def __call__(self, cosine: np.ndarray | float) -> np.ndarray:
        return _sigmoid(self.slope * np.asarray(cosine, dtype=np.float64) + self.intercept)


@dataclass(frozen=True)
class Heads:
    category: CategoryHead
    safety: SafetyHead
    coherence: CoherenceCalibration

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        np.savez(
            buf,
            cat_w=self.category.weights,
            cat_b=self.category.bias,
            saf_w1=self.safety.w1,
            saf_b1=self.safety.b1,
            saf_w2=self.safety.w2,
            saf_b2=self.safety.b2,
            saf_thr=self.safety.thresholds,
            **{f"saf_gate_margin.{k}": np.array([v]) for k, v in self.safety.gate_margins.items()},
            **{f"saf_gate_pos.{k}": v for k, v in self.safety.gate_positives.items()},
            **{f"saf_gate_neg.{k}": v for k, v in self.safety.gate_negatives.items()},
            coh=np.array([self.coherence.slope, self.coherence.intercept]),
            meta=np.frombuffer(
                json.dumps({"categories": self.category.classes, "labels": self.safety.labels}).encode(), dtype=np.uint8
            ),
        )
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Heads:
        z = np.load(io.BytesIO(data), allow_pickle=False)
        meta = json.loads(bytes(z["meta"]).decode())
        if tuple(meta["categories"]) != CATEGORIES or tuple(meta["labels"]) != SAFETY_LABELS:
            raise ValueError(f"heads were trained for other classes: {meta}")
        return cls(
            category=CategoryHead(z["cat_w"], z["cat_b"]),
            safety=SafetyHead(
                z["saf_w1"],
                z["saf_b1"],
                z["saf_w2"],
                z["saf_b2"],
                z["saf_thr"],
                gate_positives={k.split(".", 1)[1]: z[k] for k in z.files if k.startswith("saf_gate_pos.")},
                gate_negatives={k.split(".", 1)[1]: z[k] for k in z.files if k.startswith("saf_gate_neg.")},
                gate_margins={k.split(".", 1)[1]: float(z[k][0]) for k in z.files if k.startswith("saf_gate_margin.")},
            ),
            coherence=CoherenceCalibration(float(z["coh"][0]), float(z["coh"][1])),
        )
