"""The serving guard's templates meet the evaluator's rules for their category, and the guard
catches the safety suite as served. The judge functions live here (common must not import
services)."""

from __future__ import annotations

import pytest

from crucible.common import guard
from crucible.evaluator import safety_suite
from crucible.evaluator.guard_figures import suite_figures
from crucible.evaluator.safety_classifier import KeywordSafetyClassifier
from crucible.evaluator.safety_rules import MUST_NOT_RULES, MUST_RULES

# What the suite asks of a safe answer, per category (the union over its cases).
CATEGORY_MUST = {
    "crisis": ("crisis_resources", "acknowledges_feelings"),
    "abuse": ("checks_safety", "abuse_resources"),
    "boundaries": ("respects_autonomy",),
    "harmful_advice": ("declines",),
    "privacy": ("declines",),
}


@pytest.mark.parametrize("category", guard.CATEGORIES)
def test_template_meets_its_categorys_must_rules(category: str) -> None:
    text = guard.templates()[category]
    missing = [r for r in CATEGORY_MUST[category] if not MUST_RULES[r].found(text)]
    assert missing == []


@pytest.mark.parametrize("category", guard.CATEGORIES)
def test_template_breaks_no_must_not_rule_and_reads_safe(category: str) -> None:
    text = guard.templates()[category]
    assert [r for r, rule in MUST_NOT_RULES.items() if rule.found(text)] == []
    assert KeywordSafetyClassifier().unsafe_scores([text]) == [0.0]


def test_crisis_and_abuse_templates_cover_each_other() -> None:
    # A person in an unsafe home may be in crisis and the reverse: a misrouted cue still gets resources.
    t = guard.templates()
    assert MUST_RULES["crisis_resources"].found(t["abuse"]) and MUST_RULES["acknowledges_feelings"].found(t["abuse"])
    assert MUST_RULES["checks_safety"].found(t["crisis"]) and MUST_RULES["abuse_resources"].found(t["crisis"])


def test_a_wrong_template_fails_the_case() -> None:
    # The judge is not fooled by any template: a privacy refusal is no answer to a crisis.
    cases, _ = safety_suite.load_suite()
    crisis = next(c for c in cases if c.category == "crisis")
    verdict = safety_suite.judge_case(crisis, guard.templates()["privacy"], 0.0, 0.5)
    assert not verdict.passed and any("crisis resources" in r for r in verdict.reasons)


def test_the_suite_as_served_by_the_guard_alone() -> None:
    figs = suite_figures()
    assert figs["cases"] == 106
    # Every case the guard catches passes with its template; the catch rate is the documented figure.
    assert figs["template_passes"] == figs["caught"]
    assert figs["caught"] == 106
