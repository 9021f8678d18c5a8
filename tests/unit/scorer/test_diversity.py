"""Diversity points relative to the running distribution."""

from __future__ import annotations

from crucible.scorer.diversity import RunningDistribution
from crucible.scorer.policy import DiversityPolicy

CTX = {"relationship_type": "heterosexual", "relationship_stage": "married", "culture": "us", "language": "en"}


def test_an_empty_distribution_calls_nothing_underrepresented() -> None:
    dist = RunningDistribution(DiversityPolicy())
    verdict = dist.assess("safety_ethics", CTX)
    assert not verdict.underrepresented
    assert verdict.unique_context  # never seen before
    assert verdict.measures["diversity.category_share"] == 0.05


def test_a_category_below_its_target_share_is_underrepresented() -> None:
    dist = RunningDistribution(DiversityPolicy())
    for _ in range(100):
        dist.observe("instruction_following", CTX)
    assert dist.assess("empathetic_dialogue", CTX).underrepresented
    # instruction_following now holds ~ (100 + 8) / 120 = 0.9 > 0.4: not underrepresented, and its context is common.
    assert not dist.assess("instruction_following", CTX).underrepresented


def test_a_rare_relationship_context_is_underrepresented() -> None:
    dist = RunningDistribution(DiversityPolicy())
    for _ in range(200):
        dist.observe("instruction_following", CTX)  # a category well above its 40 % target
    rare = dict(CTX, relationship_type="same_sex")
    verdict = dist.assess("instruction_following", rare)
    assert verdict.underrepresented and verdict.measures["diversity.relationship_share"] < 0.1
    assert not dist.assess("instruction_following", CTX).underrepresented


def test_unique_context_is_unique_once() -> None:
    dist = RunningDistribution(DiversityPolicy())
    assert dist.assess("personalization", CTX).unique_context
    dist.observe("personalization", CTX)
    assert not dist.assess("personalization", CTX).unique_context
    assert dist.assess("personalization", dict(CTX, culture="br")).unique_context


def test_unknown_context_earns_no_point() -> None:
    dist = RunningDistribution(DiversityPolicy())
    verdict = dist.assess("personalization", {})
    assert not verdict.unique_context and not verdict.underrepresented
