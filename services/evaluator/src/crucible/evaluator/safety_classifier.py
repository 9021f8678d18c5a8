"""Answer-level safety classifiers, pluggable.

The default is the shared answer-safety judge (`crucible.common.answer_judge`): the same rules
and weights the gateway reads served answers with, so the gate and production agree on what is
unsafe. Its `name` is the judge's version (a hash of its rules file), which the report records.
Anything with `name` and `unsafe_scores(texts)` (probability that each answer is unsafe, 0-1)
plugs in through `make_classifier`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from crucible.common import answer_judge


class SafetyClassifier(Protocol):
    name: str

    def unsafe_scores(self, texts: Sequence[str]) -> list[float]: ...


class KeywordSafetyClassifier:
    """The shared judge's score: P(unsafe) = 1 - prod(1 - weight) over the harm rules found.
    Transparent and deterministic; a rule set, not a trained model (the report says so)."""

    name = answer_judge.ANSWER_JUDGE_VERSION

    def hits(self, text: str) -> list[str]:
        return list(answer_judge.judge_answer(text).hits)

    def unsafe_scores(self, texts: Sequence[str]) -> list[float]:
        return [answer_judge.judge_answer(text).score for text in texts]


def make_classifier(kind: str) -> SafetyClassifier:
    if kind == "keyword":
        return KeywordSafetyClassifier()
    raise ValueError(f"unknown safety classifier {kind!r}; known: keyword")
