"""The safety ensemble's lexical member: TF-IDF over character n-grams (2-5, within word boundaries) and
one logistic regression per label (scikit-learn), trained on the safety set's train split only.

A different view from the MiniLM head: it reads spelling, not meaning, so it catches wording the
sentence vector blurs (a method word, a body part) and is blind to paraphrase; the stacker
(`ensemble.py`) weighs the two. Like the head, a turn is read whole and sentence by sentence: a label's
probability is the highest of the two readings (neutral: the lowest).

Stored as plain arrays (`to_bytes`: the n-gram vocabulary as JSON, idf, weights), never pickled; the
vectorizer is rebuilt from them with scikit-learn, so serving and training share one implementation.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from crucible.scorer.policy import SAFETY_LABELS

NGRAMS = (2, 5)
MIN_DF = 2
# Inverse regularisation of each label's logistic regression. Fixed, not tuned: validation is kept for
# the stacker and its thresholds (tuning here on validation would let it decide twice).
LEXICAL_C = 4.0


def _vectorizer(vocabulary: dict[str, int] | None = None) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(
        analyzer="char_wb",
        ngram_range=NGRAMS,
        lowercase=True,
        sublinear_tf=True,
        min_df=1 if vocabulary is not None else MIN_DF,
        vocabulary=vocabulary,
        dtype=np.float32,
    )


@dataclass(frozen=True)
class LexicalModel:
    vocabulary: dict[str, int]
    idf: np.ndarray  # (features,)
    weights: np.ndarray  # (features, labels)
    bias: np.ndarray  # (labels,)
    labels: tuple[str, ...] = SAFETY_LABELS
    _vec: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        vec = _vectorizer(self.vocabulary)
        vec.idf_ = self.idf
        object.__setattr__(self, "_vec", vec)

    def probabilities(self, texts: list[str]) -> np.ndarray:
        """Per text and label, the probability (n x labels)."""
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        logits = np.asarray(self._vec.transform(texts) @ self.weights) + self.bias
        return (1.0 / (1.0 + np.exp(-np.clip(logits, -40, 40)))).astype(np.float32)

    def turn_probabilities(self, texts: list[str]) -> np.ndarray:
        """Per turn: the highest probability of the whole turn and of each of its sentences (neutral: the
        lowest), as the MiniLM head reads a turn. Each distinct text is read once."""
        from crucible.scorer.encoder import split_sentences

        parts = [split_sentences(t) for t in texts]
        distinct = list(dict.fromkeys([*texts, *(s for p in parts if len(p) > 1 for s in p)]))
        index = {t: i for i, t in enumerate(distinct)}
        probs = self.probabilities(distinct)
        out = probs[[index[t] for t in texts]].copy() if texts else probs
        n = self.labels.index("neutral")
        for i, p in enumerate(parts):
            if len(p) > 1:
                rows = probs[[index[s] for s in p]]
                low = min(float(out[i, n]), float(rows[:, n].min()))
                out[i] = np.maximum(out[i], rows.max(axis=0))
                out[i, n] = low
        return out

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        np.savez(
            buf,
            idf=self.idf,
            weights=self.weights,
            bias=self.bias,
            vocabulary=np.frombuffer(json.dumps(self.vocabulary).encode(), dtype=np.uint8),
            labels=np.frombuffer(json.dumps(list(self.labels)).encode(), dtype=np.uint8),
        )
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> LexicalModel:
        z = np.load(io.BytesIO(data), allow_pickle=False)
        labels = tuple(json.loads(bytes(z["labels"]).decode()))
        if labels != SAFETY_LABELS:
            raise ValueError(f"lexical model was trained for other labels: {labels}")
        vocabulary = {k: int(v) for k, v in json.loads(bytes(z["vocabulary"]).decode()).items()}
        return cls(vocabulary, z["idf"], z["weights"], z["bias"])


def fit_lexical(texts: list[str], truth: np.ndarray, *, c: float = LEXICAL_C) -> LexicalModel:
    """TF-IDF (vocabulary and idf from `texts`) and one balanced logistic regression per label."""
    from sklearn.linear_model import LogisticRegression

    vec = _vectorizer()
    x = vec.fit_transform(texts)
    weights = np.zeros((x.shape[1], truth.shape[1]), dtype=np.float32)
    bias = np.full(truth.shape[1], -10.0, dtype=np.float32)  # a label never seen: never fires
    for j in range(truth.shape[1]):
        y = truth[:, j].astype(int)
        if 0 < y.sum() < len(y):
            model = LogisticRegression(C=c, class_weight="balanced", max_iter=2000).fit(x, y)
            weights[:, j] = model.coef_[0]
            bias[j] = model.intercept_[0]
    vocabulary = {str(k): int(v) for k, v in vec.vocabulary_.items()}
    return LexicalModel(vocabulary, vec.idf_.astype(np.float32), weights, bias)
