"""The seed's quality formula (seed 001): Engagement 3 + Outcome 3 + Content 2 + Diversity 2 = 0..10.

Pure arithmetic on measurements: every component is written into the breakdown, earned or not, so a
person can read why a record scored 6.5. The points and bars come from the policy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from crucible.scorer.policy import ScorerPolicy
from crucible.v1 import records_pb2

COMPONENTS = (
    "engagement.response_length",
    "engagement.turns",
    "engagement.satisfaction",
    "outcome.action_taken",
    "outcome.positive_outcome",
    "content.coherence",
    "content.empathy",
    "diversity.underrepresented",
    "diversity.unique_context",
)


@dataclass(frozen=True)
class Measures:
    reply_chars: float
    turns: int
    satisfaction: float | None
    action_taken: bool | None
    positive_outcome: bool | None
    coherence: float | None  # None: no user turn answered by an assistant turn
    empathy: float | None  # None: no assistant reply
    underrepresented: bool
    unique_context: bool
    extra: dict[str, float] = field(default_factory=dict)  # other numbers worth showing (shares, cosines)


def components(m: Measures, policy: ScorerPolicy) -> dict[str, float]:
    e, o, c, d = policy.engagement, policy.outcome, policy.content, policy.diversity
    return {
        "engagement.response_length": e.response_length_points if m.reply_chars > e.response_chars_above else 0.0,
        "engagement.turns": e.turns_points if m.turns >= e.min_turns else 0.0,
        "engagement.satisfaction": e.satisfaction_points
        if m.satisfaction is not None and m.satisfaction >= e.min_satisfaction
        else 0.0,
        "outcome.action_taken": o.action_taken_points if m.action_taken else 0.0,
        "outcome.positive_outcome": o.positive_outcome_points if m.positive_outcome else 0.0,
        "content.coherence": c.coherence_points if m.coherence is not None and m.coherence >= c.min_coherence else 0.0,
        "content.empathy": c.empathy_points if m.empathy is not None and m.empathy >= c.min_empathy else 0.0,
        "diversity.underrepresented": d.underrepresented_points if m.underrepresented else 0.0,
        "diversity.unique_context": d.unique_context_points if m.unique_context else 0.0,
    }


def quality_score(m: Measures, policy: ScorerPolicy) -> records_pb2.QualityScore:
    parts = components(m, policy)
    score = records_pb2.QualityScore(total=round(min(10.0, sum(parts.values())), 4))
    score.components.update(parts)
    measures: dict[str, float] = {
        "response_chars": round(m.reply_chars, 1),
        "turns": float(m.turns),
        "underrepresented": float(m.underrepresented),
        "unique_context": float(m.unique_context),
    }
    if m.satisfaction is not None:
        measures["satisfaction"] = m.satisfaction
    if m.action_taken is not None:
        measures["action_taken"] = float(m.action_taken)
    if m.positive_outcome is not None:
        measures["positive_outcome"] = float(m.positive_outcome)
    if m.coherence is not None:
        measures["coherence"] = round(m.coherence, 4)
    if m.empathy is not None:
        measures["empathy"] = round(m.empathy, 4)
    measures.update(m.extra)
    score.measures.update(measures)
    return score


def breakdown(score: records_pb2.QualityScore, threshold: float, issues: list[str], **more: object) -> str:
    """The reason text stored with a rejected or held record: JSON a person (or `crucible review show`) reads."""
    return json.dumps(
        {
            "total": round(score.total, 4),
            "threshold": threshold,
            "components": dict(sorted(score.components.items())),
            "measures": dict(sorted(score.measures.items())),
            "issues": issues,
            **more,
        },
        sort_keys=True,
    )
