"""The checked-in evaluation slices (`data/slices/*.jsonl`): held-out messages of one kind of language
each, written separately from the training fragments (`services/scorer/tools/
figurative_and_self_injury_messages.py`) and never trained on.

- `idioms`: everyday figurative speech about death and killing ("the suspense is killing me", "I'm
  dying to hear"). A message held for safety review is a false alarm; target at most 5 %.
- `self_injury`: self-injury described by its method, without suicidal words. A message not given a
  self-harm label (so not held for a person) is a miss; target recall at least 0.95.

Each is read as the scorer reads a person's turn (sentence by sentence, the safety head's thresholds),
by the classifier alone and with the second opinion (`crisis.second_opinion`) that serves.
"""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

from crucible.scorer.crisis import SELF_HARM, second_opinion
from crucible.scorer.encoder import embed_turns
from crucible.scorer.ensemble import safety_probabilities, safety_thresholds
from crucible.scorer.policy import SAFETY_LABELS, ScorerPolicy

SLICES = {"idioms": "no_self_harm", "self_injury": "self_harm"}
TARGETS = {"idioms": {"false_alarm_rate_max": 0.05}, "self_injury": {"recall_min": 0.95}}


def load_slice(name: str) -> list[str]:
    text = files("crucible.scorer").joinpath("data", "slices", f"{name}.jsonl").read_text(encoding="utf-8")
    rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    if any(r["expect"] != SLICES[name] for r in rows):
        raise ValueError(f"slice {name}: every row must expect {SLICES[name]!r}")
    return [r["text"] for r in rows]


def classifier_labels(models: Any, texts: list[str]) -> list[set[str]]:
    """The served safety labels per text (neutral left out; the ensemble where it decides, the head
    elsewhere), as the scorer's core reads a person's turn, before the second opinion."""
    embedded = embed_turns(models.encoder, texts)
    probs = safety_probabilities(models, texts, embedded.turns, embedded.sentences)
    thresholds = safety_thresholds(models)
    return [
        {label for label, p, t in zip(SAFETY_LABELS, row, thresholds, strict=True) if label != "neutral" and p >= t}
        for row in probs
    ]


def slice_figures(models: Any, policy: ScorerPolicy) -> dict[str, Any]:
    """Per slice: the rate that matters, for the classifier alone and as served (with the second opinion
    when `safety.crisis_backstop` is on), and the messages that still fail (they are checked in, not secret)."""
    review = set(policy.safety.review_labels)
    out: dict[str, Any] = {}
    for name in SLICES:
        texts = load_slice(name)
        alone = classifier_labels(models, texts)
        served = [
            second_opinion(t, a)[0] if policy.safety.crisis_backstop else a for t, a in zip(texts, alone, strict=True)
        ]
        if name == "idioms":
            figures = {
                "messages": len(texts),
                "false_alarm_rate": _share([bool(s & review) for s in served]),
                "false_alarm_rate_classifier_alone": _share([bool(a & review) for a in alone]),
                "self_harm_label_rate": _share([bool(s & SELF_HARM) for s in served]),
                "failures": [t for t, s in zip(texts, served, strict=True) if s & review],
            }
        else:
            figures = {
                "messages": len(texts),
                "recall": _share([bool(s & SELF_HARM) for s in served]),
                "recall_classifier_alone": _share([bool(a & SELF_HARM) for a in alone]),
                "held_for_review_rate": _share([bool(s & review) for s in served]),
                "failures": [t for t, s in zip(texts, served, strict=True) if not s & SELF_HARM],
            }
        out[name] = {**figures, "target": TARGETS[name]}
    return out


def _share(flags: list[bool]) -> float:
    return round(sum(flags) / max(len(flags), 1), 4)
