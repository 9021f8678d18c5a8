"""The load generator's simulated user: an answer that speaks to the question is rated higher than
one that does not, so rated traffic carries preferences (the embedded run's DPO round learns from them)."""

from __future__ import annotations

import random
import statistics

from crucible.gateway.loadgen import PROMPTS, simulated_rating, topic_words


def test_on_topic_answers_are_rated_higher_than_off_topic_ones() -> None:
    rng = random.Random(3)
    q = PROMPTS[0]  # chores
    on = [simulated_rating("Write the weekly chores down and choose them together.", rng, q) for _ in range(200)]
    off = [simulated_rating("Plan a short date that is new for both of you.", rng, q) for _ in range(200)]
    assert statistics.mean(on) - statistics.mean(off) >= 1.8
    assert min(on) >= 7  # rated up


def test_empty_and_repetitive_answers_stay_low_and_no_question_keeps_the_old_rule() -> None:
    rng = random.Random(1)
    assert max(simulated_rating("", rng, PROMPTS[1]) for _ in range(50)) <= 4
    assert "chore" in topic_words(PROMPTS[0]) and not topic_words("What can we do?")
    plain = [simulated_rating("Thank your partner for one specific thing today.", rng) for _ in range(50)]
    assert statistics.mean(plain) >= 9
