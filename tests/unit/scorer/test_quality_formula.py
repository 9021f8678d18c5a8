"""The seed's formula on hand-computed cases, and its points and bars read from the policy."""

from __future__ import annotations

import pytest

from crucible.common.config import ConfigError, load_policy
from crucible.scorer.policy import ScorerPolicy
from crucible.scorer.quality import COMPONENTS, Measures, quality_score


def measures(**overrides: object) -> Measures:
    base = dict(
        reply_chars=0.0, turns=0, satisfaction=None, action_taken=None, positive_outcome=None,
        coherence=None, empathy=None, underrepresented=False, unique_context=False,
    )  # fmt: skip
    base.update(overrides)
    return Measures(**base)  # type: ignore[arg-type]


def test_every_point_earned_scores_ten() -> None:
    m = measures(reply_chars=60, turns=4, satisfaction=9, action_taken=True, positive_outcome=True,
                 coherence=0.85, empathy=0.75, underrepresented=True, unique_context=True)  # fmt: skip
    q = quality_score(m, ScorerPolicy())
    assert q.total == 10.0
    assert set(q.components) == set(COMPONENTS)


def test_hand_computed_six_and_a_half() -> None:
    # response 1 + turns 1 + satisfaction 0 (7 < 8) + action 1.5 + outcome 0 + coherence 1 + empathy 0 (0.69)
    # + underrepresented 0 + unique 1 + ... = 5.5; with positive outcome 1.5 -> 7.0; here: 6.5 with empathy.
    m = measures(reply_chars=51, turns=3, satisfaction=7, action_taken=True, positive_outcome=False,
                 coherence=0.8, empathy=0.7, underrepresented=False, unique_context=True)  # fmt: skip
    q = quality_score(m, ScorerPolicy())
    assert dict(q.components) == {
        "engagement.response_length": 1.0,
        "engagement.turns": 1.0,
        "engagement.satisfaction": 0.0,
        "outcome.action_taken": 1.5,
        "outcome.positive_outcome": 0.0,
        "content.coherence": 1.0,
        "content.empathy": 1.0,
        "diversity.underrepresented": 0.0,
        "diversity.unique_context": 1.0,
    }
    assert q.total == 6.5
    assert q.measures["coherence"] == 0.8 and q.measures["empathy"] == 0.7 and q.measures["satisfaction"] == 7


@pytest.mark.parametrize(
    ("overrides", "component", "points"),
    [
        ({"reply_chars": 50}, "engagement.response_length", 0.0),  # "> 50 chars": 50 is not enough
        ({"reply_chars": 50.5}, "engagement.response_length", 1.0),
        ({"turns": 2}, "engagement.turns", 0.0),
        ({"turns": 3}, "engagement.turns", 1.0),
        ({"satisfaction": 7.99}, "engagement.satisfaction", 0.0),
        ({"satisfaction": 8.0}, "engagement.satisfaction", 1.0),
        ({"coherence": 0.7999}, "content.coherence", 0.0),
        ({"empathy": 0.6999}, "content.empathy", 0.0),
        ({"action_taken": None}, "outcome.action_taken", 0.0),
        ({"positive_outcome": True}, "outcome.positive_outcome", 1.5),
    ],
)
def test_each_bar_is_where_the_seed_puts_it(overrides: dict, component: str, points: float) -> None:
    assert quality_score(measures(**overrides), ScorerPolicy()).components[component] == points


def test_unknown_measures_earn_nothing_and_are_not_invented() -> None:
    q = quality_score(measures(), ScorerPolicy())
    assert q.total == 0.0
    assert "coherence" not in q.measures and "satisfaction" not in q.measures


def test_points_and_bars_come_from_the_policy_file(tmp_path) -> None:
    path = tmp_path / "crucible.yaml"
    path.write_text(
        "scorer:\n  threshold: 6.0\n  outcome:\n    action_taken_points: 2.0\n    positive_outcome_points: 1.0\n"
        "  engagement:\n    min_satisfaction: 9\n"
    )
    policy = load_policy(path, {"scorer": ScorerPolicy}).section("scorer")
    assert policy.threshold == 6.0
    q = quality_score(measures(action_taken=True, positive_outcome=True, satisfaction=8), policy)
    assert q.components["outcome.action_taken"] == 2.0
    assert q.components["engagement.satisfaction"] == 0.0  # 8 < 9 now
    assert q.total == 3.0


def test_points_beyond_ten_are_a_config_error_naming_the_key(tmp_path) -> None:
    path = tmp_path / "crucible.yaml"
    path.write_text("scorer:\n  outcome:\n    action_taken_points: 5\n")
    with pytest.raises(ConfigError, match="scorer"):
        load_policy(path, {"scorer": ScorerPolicy})
    path.write_text("scorer:\n  threshold: 11\n")
    with pytest.raises(ConfigError, match=r"scorer\.threshold"):
        load_policy(path, {"scorer": ScorerPolicy})
