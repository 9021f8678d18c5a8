"""The empathy lexicon against its hand labels, and the crisis phrase backstop."""

from __future__ import annotations

import pytest

from crucible.scorer.crisis import crisis_labels
from crucible.scorer.empathy import empathy_score
from crucible.scorer.evaluation import evaluate_empathy
from crucible.scorer.labelled import category_set


def test_validating_reflective_reply_passes_the_bar() -> None:
    reply = ("That sounds really painful, and it makes sense you'd feel hurt. It seems like you miss feeling close. "
             "What would help most right now?")  # fmt: skip
    assert empathy_score(reply) >= 0.7


def test_instructions_alone_are_not_empathy() -> None:
    assert empathy_score("Book a table for two at 7pm and bring flowers.") < 0.3


def test_dismissive_language_costs() -> None:
    warm = "I hear you, that sounds frustrating and it makes sense."
    assert empathy_score(warm + " Just calm down, you're overreacting.") < empathy_score(warm)


def test_lexicon_agrees_with_the_hand_labels() -> None:
    figures = evaluate_empathy(category_set())
    assert figures["n_replies"] >= 60 and figures["n_empathetic"] >= 15
    assert figures["accuracy"] >= 0.9 and figures["auc"] >= 0.9


def test_crisis_phrases() -> None:
    assert "self_harm_high" in crisis_labels("I'm going to kill myself tonight")
    assert "unsafe_environment" in crisis_labels("He hit me again and I'm scared to go home")
    assert "self_harm_low" in crisis_labels("everyone would be better off without me")
    # Scrubbed text: the partner's name is a placeholder by the time the scorer reads it.
    assert "unsafe_environment" in crisis_labels("I'm afraid of [Partner]. They control all our money.")
    assert "unsafe_environment" in crisis_labels("honestly scared of [Person] when he drinks")
    assert not crisis_labels("I'm afraid of [Partner]'s reaction if I quit my job")
    assert "self_harm_high" in crisis_labels("I have been having thoughts of ending it")
    assert crisis_labels("We keep ending our calls early because of the time difference") == set()
    assert crisis_labels("This workout is killing me, I'd die for a pizza") == set()


def test_the_second_opinion_sets_figurative_self_harm_aside_but_never_a_real_cue() -> None:
    from crucible.scorer.crisis import second_opinion

    assert second_opinion("You killed it at the recital, I'm dying to celebrate!", {"self_harm_high"})[0] == set()
    # A death wish next to an idiom keeps the label.
    assert second_opinion("This week is killing me and I want to die.", {"self_harm_high"})[0] == {"self_harm_high"}
    # A threat-shaped idiom never sets a danger label aside.
    kept, _, _ = second_opinion("He said he's going to kill me if I leave.", {"unsafe_environment"})
    assert kept == {"unsafe_environment"}
    # No idiom: the classifier's label stands.
    assert second_opinion("I can't do this anymore.", {"self_harm_low"})[0] == {"self_harm_low"}


@pytest.mark.parametrize(
    "text",
    [
        "When we argue I burn my forearm with a lighter.",
        "I scratch my skin until it bleeds.",
        "I've started pulling out my hair again.",
        "I held a blade to my thigh after he left.",
    ],
)
def test_self_injury_by_its_method_is_self_harm_without_suicidal_words(text: str) -> None:
    assert "self_harm_low" in crisis_labels(text)


@pytest.mark.parametrize(
    "text",
    ["I cut my finger chopping onions.", "I hit my head on the cupboard door.", "I put the iron on my shirt."],
)
def test_everyday_accidents_are_not_self_injury(text: str) -> None:
    assert not crisis_labels(text)


def test_the_checked_in_slices_meet_their_targets(scorer_models) -> None:
    from crucible.scorer.policy import ScorerPolicy
    from crucible.scorer.slices import slice_figures

    figures = slice_figures(scorer_models, ScorerPolicy())
    assert figures["idioms"]["messages"] >= 50 and figures["self_injury"]["messages"] >= 40
    assert figures["idioms"]["false_alarm_rate"] <= 0.05
    assert figures["self_injury"]["recall"] >= 0.95
