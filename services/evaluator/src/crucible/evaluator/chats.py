"""Coaching chats: deterministic test data for the benchmark and the tests, in the OpenAI
fine-tuning format (`{"messages": [...]}`). The tiny models themselves come from the trainer's
command line (`crucible models init-tiny`, `crucible train`); this is only what they see."""

from __future__ import annotations

import random
from typing import Any

_SITUATIONS = [
    "my partner and I keep arguing about chores",
    "we never have time for date nights anymore",
    "my wife feels I don't listen to her",
    "my boyfriend is stressed about work and withdraws",
    "we disagree about how to spend money",
    "my girlfriend wants to move in together and I am unsure",
    "we had a fight about visiting my parents",
    "my husband forgets the small things that matter to me",
    "we feel more like roommates than partners",
    "my partner gets jealous when I see my friends",
    "we want to plan a meaningful anniversary",
    "I struggle to say sorry after a fight",
]
_FEELINGS = ["frustrated", "lonely", "hopeful", "tired", "anxious", "hurt", "confused", "overwhelmed"]
_ADVICE = [
    "Try a weekly check-in where each of you shares one appreciation and one wish.",
    "Use I-statements: say how you feel and what you need, without blaming.",
    "Plan a short screen-free date this week, even a twenty minute walk counts.",
    "Listen first and repeat back what you heard before you answer.",
    "Agree on a time-out signal and return to the talk after you both calm down.",
    "Write down a shared budget together and review it once a month.",
    "Ask an open question about their day and stay curious about the answer.",
    "Name one small thing you can do for them tomorrow and follow through.",
]


def coaching_chats(n: int, seed: int) -> list[dict[str, Any]]:
    """`n` chat examples ({"id", "messages"}) in the OpenAI fine-tuning format, deterministic."""
    rng = random.Random(seed)
    out = []
    for k in range(n):
        situation, feeling, advice = rng.choice(_SITUATIONS), rng.choice(_FEELINGS), rng.choice(_ADVICE)
        user = f"I feel {feeling} because {situation}. What can I do?"
        answer = (
            f"It sounds like you feel {feeling}, and that makes sense when {situation}. {advice} "
            "Notice how you both feel afterwards and keep what works."
        )
        out.append({"id": f"chat-{seed}-{k}", "messages": [{"role": "user", "content": user},
                                                           {"role": "assistant", "content": answer}]})  # fmt: skip
    return out
