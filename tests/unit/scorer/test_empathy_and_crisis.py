"""The empathy lexicon against its hand labels, and the crisis phrase backstop."""

from __future__ import annotations

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
