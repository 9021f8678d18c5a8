"""Held-out figures for every learned or hand-made part of the scorer (scikit-learn's metrics).

Training writes them into the model artifact; `crucible bench score` recomputes them from the loaded
models on the same test split, so a bench figure is always the model actually serving.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import numpy as np

from crucible.common.categories import CATEGORIES
from crucible.scorer.crisis import second_opinion
from crucible.scorer.empathy import empathy_score
from crucible.scorer.heads import CoherenceCalibration, Heads, category_features
from crucible.scorer.labelled import CategoryExample, SafetyExample
from crucible.scorer.policy import SAFETY_LABELS


def _pairs(rows: list[CategoryExample], seed: int = 5) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Matching (user, reply) pairs and as many mismatched ones (a reply written for another conversation)."""
    rng = random.Random(seed)
    matched = [(e.user, e.assistant) for e in rows]
    mismatched = []
    for e in rows:
        other = rng.choice([o for o in rows if o.assistant != e.assistant])
        mismatched.append((e.user, other.assistant))
    return matched, mismatched


def _cosines(pairs: list[tuple[str, str]], embed: dict[str, np.ndarray], replies: dict[str, np.ndarray]) -> np.ndarray:
    return np.array([float(embed[u] @ replies[a]) for u, a in pairs])


def fit_coherence(
    rows: list[CategoryExample], embed: dict[str, np.ndarray], replies: dict[str, np.ndarray]
) -> CoherenceCalibration:
    from sklearn.linear_model import LogisticRegression

    matched, mismatched = _pairs(rows)
    x = np.concatenate([_cosines(matched, embed, replies), _cosines(mismatched, embed, replies)]).reshape(-1, 1)
    y = np.concatenate([np.ones(len(matched)), np.zeros(len(mismatched))])
    model = LogisticRegression(C=100.0, max_iter=1000).fit(x, y)
    return CoherenceCalibration(float(model.coef_[0, 0]), float(model.intercept_[0]))


def evaluate_category(
    heads: Heads, embed: dict[str, np.ndarray], replies: dict[str, np.ndarray], rows: list[CategoryExample]
) -> dict[str, Any]:
    from sklearn.metrics import accuracy_score, f1_score

    test = [e for e in rows if e.split == "test"]
    x = category_features(np.stack([embed[e.user] for e in test]), np.stack([replies[e.assistant] for e in test]))
    y = np.array([CATEGORIES.index(e.category) for e in test])
    pred = heads.category.probabilities(x).argmax(axis=1)
    per_class = f1_score(y, pred, labels=list(range(len(CATEGORIES))), average=None, zero_division=0)
    return {
        "accuracy": round(float(accuracy_score(y, pred)), 4),
        "macro_f1": round(float(np.mean(per_class)), 4),
        "per_class_f1": {c: round(float(f), 4) for c, f in zip(CATEGORIES, per_class, strict=True)},
        "n_test": len(test),
        "n_train": sum(1 for e in rows if e.split != "test"),
        "chance_accuracy": round(max(np.bincount(y)) / len(y), 4),
    }


def evaluate_safety(
    heads: Heads,
    embed: dict[str, np.ndarray],
    sentences: dict[str, np.ndarray],
    rows: list[SafetyExample],
    review_labels: Sequence[str] = ("unsafe_environment", "self_harm_low", "self_harm_high"),
) -> dict[str, Any]:
    """Per-label figures of the classifier alone, the same with the crisis phrase backstop, and the figure
    that decides what a person sees: of the held-out messages that need review, the share held (recall),
    and of those that don't, the share held anyway (false_review_rate)."""
    from sklearn.metrics import f1_score, precision_score, recall_score

    test = [e for e in rows if e.split == "test"]
    x = np.stack([embed[e.text] for e in test])
    y = np.stack([e.vector() for e in test]).astype(int)
    pred = heads.safety.predict(x, [sentences[e.text] for e in test]).astype(int)
    backstop = pred.copy()
    for i, e in enumerate(test):
        fired = {label for label, on in zip(SAFETY_LABELS, pred[i], strict=True) if on and label != "neutral"}
        final, _, _ = second_opinion(e.text, fired)
        for label in SAFETY_LABELS[1:]:
            backstop[i, SAFETY_LABELS.index(label)] = int(label in final)

    def per_label(fn: Any, p: np.ndarray) -> dict[str, float]:
        values = fn(y, p, average=None, zero_division=0)
        return {label: round(float(v), 4) for label, v in zip(SAFETY_LABELS, values, strict=True)}

    review = [SAFETY_LABELS.index(label) for label in review_labels]
    needs_review = y[:, review].any(axis=1)
    flagged = backstop[:, review].any(axis=1)
    return {
        "review": {
            "labels": list(review_labels),
            "recall": round(float(flagged[needs_review].mean()), 4),
            "false_review_rate": round(float(flagged[~needs_review].mean()), 4),
            "n_needing_review": int(needs_review.sum()),
        },
        "macro_f1": round(float(f1_score(y, pred, average="macro", zero_division=0)), 4),
        "per_class_recall": per_label(recall_score, pred),
        "per_class_precision": per_label(precision_score, pred),
        "per_class_f1": per_label(f1_score, pred),
        "with_backstop": {
            "macro_f1": round(float(f1_score(y, backstop, average="macro", zero_division=0)), 4),
            "per_class_recall": per_label(recall_score, backstop),
        },
        "thresholds": {
            label: round(float(t), 4) for label, t in zip(SAFETY_LABELS, heads.safety.thresholds, strict=True)
        },
        "support_test": {label: int(n) for label, n in zip(SAFETY_LABELS, y.sum(0), strict=True)},
        "n_test": len(test),
        "n_train": sum(1 for e in rows if e.split == "train"),
        "n_val": sum(1 for e in rows if e.split == "val"),
    }


def evaluate_coherence(
    heads: Heads,
    embed: dict[str, np.ndarray],
    replies: dict[str, np.ndarray],
    rows: list[CategoryExample],
    min_coherence: float,
) -> dict[str, Any]:
    from sklearn.metrics import roc_auc_score

    matched, mismatched = _pairs([e for e in rows if e.split == "test"])
    pos = heads.coherence(_cosines(matched, embed, replies))
    neg = heads.coherence(_cosines(mismatched, embed, replies))
    y = np.concatenate([np.ones(len(pos)), np.zeros(len(neg))])
    return {
        "auc": round(float(roc_auc_score(y, np.concatenate([pos, neg]))), 4),
        "matched_at_or_above_bar": round(float((pos >= min_coherence).mean()), 4),
        "mismatched_at_or_above_bar": round(float((neg >= min_coherence).mean()), 4),
        "slope": round(heads.coherence.slope, 4),
        "intercept": round(heads.coherence.intercept, 4),
        "cosine_at_bar": round(
            float((np.log(min_coherence / (1 - min_coherence)) - heads.coherence.intercept) / heads.coherence.slope), 4
        ),
        "n_test_pairs": len(matched),
    }


def evaluate_empathy(rows: list[CategoryExample], min_empathy: float = 0.7) -> dict[str, Any]:
    """The lexicon against the hand labels. The lexicon was written alongside these replies: the figure
    checks it does what it says, it is not an estimate on unseen text."""
    from sklearn.metrics import accuracy_score, precision_score, recall_score, roc_auc_score

    replies = {e.assistant: e.empathetic for e in rows}
    y = np.array(list(replies.values()), dtype=int)
    s = np.array([empathy_score(r) for r in replies])
    pred = (s >= min_empathy).astype(int)
    return {
        "accuracy": round(float(accuracy_score(y, pred)), 4),
        "precision": round(float(precision_score(y, pred, zero_division=0)), 4),
        "recall": round(float(recall_score(y, pred, zero_division=0)), 4),
        "auc": round(float(roc_auc_score(y, s)), 4),
        "n_replies": len(y),
        "n_empathetic": int(y.sum()),
    }


def evaluate_all(
    heads: Heads,
    embed: dict[str, np.ndarray],
    sentences: dict[str, np.ndarray],
    replies: dict[str, np.ndarray],
    cat: list[CategoryExample],
    saf: list[SafetyExample],
    *,
    min_coherence: float = 0.8,
    min_empathy: float = 0.7,
    review_labels: Sequence[str] = ("unsafe_environment", "self_harm_low", "self_harm_high"),
) -> dict[str, Any]:
    return {
        "category": evaluate_category(heads, embed, replies, cat),
        "safety": evaluate_safety(heads, embed, sentences, saf, review_labels),
        "coherence": evaluate_coherence(heads, embed, replies, cat, min_coherence),
        "empathy": evaluate_empathy(cat, min_empathy),
    }
