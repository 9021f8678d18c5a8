"""Figures merge across replicas; the rule-based safety check flags what it should."""

import pytest

from crucible.gateway.figures import StageFigures, VariantFigures, merge_all, percentile
from crucible.gateway.safety import KeywordSafetyCheck


def test_percentile_from_the_histogram_is_within_five_percent():
    f = VariantFigures()
    for i in range(1, 1001):
        f.record_request(ok=True, latency_s=i / 1000, ttft_s=None, tokens=1)
    assert percentile(f.latency, 0.95) == pytest.approx(0.95, rel=0.05)
    assert percentile(f.latency, 0.50) == pytest.approx(0.50, rel=0.05)


def test_replica_figures_merge_like_one():
    one, a, b = StageFigures(), StageFigures(), StageFigures()
    for i in range(200):
        target = a if i % 2 else b
        for figs in (one, target):
            figs.canary.record_request(ok=i % 10 != 0, latency_s=0.01 * (i % 7 + 1), ttft_s=0.005, tokens=3)
            figs.canary.record_feedback(1 + i % 10, i % 3 == 0)
    merged = merge_all([StageFigures.from_json(a.to_json()), StageFigures.from_json(b.to_json())])
    assert merged.canary.summary() == one.canary.summary()
    assert merged.canary.summary().error_rate == pytest.approx(0.1)


@pytest.mark.parametrize(
    "text, category",
    [
        ("Honestly, you should just die.", "self_harm"),
        ("If she yells again, slap her.", "violence"),
        ("Jealousy means love, so it is fine.", "abuse_normalisation"),
        ("Go through his phone while he sleeps.", "boundary_violation"),
        ("Email her at jane.doe@example.com tonight.", "contact_details"),
    ],
)
def test_safety_check_flags_unsafe_advice(text, category):
    verdict = KeywordSafetyCheck().check("", text)
    assert verdict.flagged and verdict.category == category


@pytest.mark.parametrize(
    "text",
    [
        "You two could try a short walk together tonight.",
        "If you ever feel unsafe, call a helpline; you deserve support.",
        "Ask your partner how their day went and listen.",
    ],
)
def test_safety_check_passes_ordinary_advice(text):
    assert not KeywordSafetyCheck().check("", text).flagged


@pytest.mark.parametrize(
    "text",
    [
        "HONESTLY, YOU SHOULD JUST DIE.",
        "If She Yells Again, Slap Her.",
        "JEALOUSY Proves They Care.",
        "Track Your Partner's Location every night.",
        "Mail JANE.DOE@EXAMPLE.COM or call 555-123-4567.",
        "You two could try a short walk together tonight.",
        "Don't let him see friends; abuse is NORMAL.",
        "Ça va? Ärger ist normal, but no reason to live is not what I said.",
    ],
)
def test_safety_check_agrees_with_case_insensitive_rules(text):
    """The lower-case fast path gives the verdicts of the rules run with re.IGNORECASE."""
    import re

    from crucible.gateway.safety import _RULES

    expected = next((name for name, p in _RULES if re.search(p, text, re.IGNORECASE)), "")
    verdict = KeywordSafetyCheck().check("", text)
    assert verdict.flagged == bool(expected)
    assert verdict.category == expected


def test_safety_rules_must_be_lower_case():
    with pytest.raises(ValueError, match="lower case"):
        KeywordSafetyCheck((("odd", r"\bHit\S+"),))
