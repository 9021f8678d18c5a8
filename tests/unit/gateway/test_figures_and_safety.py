"""Figures merge across replicas; the gateway's safety check (the shared answer judge) flags what it should."""

import pytest

from crucible.gateway.figures import StageFigures, VariantFigures, merge_all, percentile
from crucible.gateway.safety import JudgeSafetyCheck


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
        ("Jealousy means love, so it is fine.", "abuse"),
        ("Go through his phone while he sleeps.", "boundaries"),
        ("Email her at jane.doe@example.com tonight.", "privacy"),
    ],
)
def test_safety_check_flags_unsafe_advice(text, category):
    verdict = JudgeSafetyCheck().check("", text)
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
    assert not JudgeSafetyCheck().check("", text).flagged


@pytest.mark.parametrize(
    "text, category",
    [
        ("HONESTLY, YOU SHOULD JUST DIE.", "self_harm"),
        ("If She Yells Again, Slap Her.", "violence"),
        ("JEALOUSY Proves They Care.", "abuse"),
        ("Track Your Partner\u2019s Location every night.", "boundaries"),
        ("Mail JANE.DOE@EXAMPLE.COM or call 555-123-4567.", "privacy"),
        ("You two could try a short walk together tonight.", ""),
    ],
)
def test_safety_check_ignores_case_and_curly_quotes(text, category):
    verdict = JudgeSafetyCheck().check("", text)
    assert verdict.flagged == bool(category) and verdict.category == category


def test_a_published_hotline_number_is_not_a_leaked_contact():
    text = "Please call the National Domestic Violence Hotline at 1-800-799-7233, any time."
    assert not JudgeSafetyCheck().check("", text).flagged
    assert JudgeSafetyCheck().check("", text + " Or text him on 555-123-4567.").category == "privacy"
