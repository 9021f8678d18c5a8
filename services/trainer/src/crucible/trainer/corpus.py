"""A small built-in corpus of relationship-coaching text, for building the tiny base model
when no demo corpus is given. Deterministic: the same seed gives the same text."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

_FEELINGS = ["distant", "hopeful", "frustrated", "grateful", "anxious", "close", "tired", "appreciated", "unheard"]
_EVENTS = [
    "we argued about chores",
    "we cooked dinner together",
    "my partner worked late again",
    "we went for a long walk",
    "we planned a weekend away",
    "we talked about money",
    "my partner forgot our plans",
    "we laughed about an old memory",
    "we disagreed about visiting family",
    "we tried a new hobby together",
]
_ADVICE = [
    "Try naming the feeling before the request: say how it felt, then what would help next time.",
    "Set aside ten quiet minutes tonight to ask one open question and simply listen to the answer.",
    "Thank your partner for one specific thing they did this week; specific appreciation lands better.",
    "Agree on a small experiment for the next week and check in together on how it went.",
    "When things heat up, pause for twenty minutes and come back when you both feel calmer.",
    "Plan a short date that is new for both of you; novelty brings couples closer.",
    "Share the load by writing down the weekly tasks and choosing them together.",
    "Ask what support looks like for them right now instead of guessing.",
]
_OPENERS = [
    "It sounds like this mattered a lot to you.",
    "Thank you for sharing that with me.",
    "That is a common moment for couples, and it is good that you noticed it.",
    "I hear that you want to feel closer.",
]


def coaching_dialogues(n: int = 400, seed: int = 0) -> list[list[dict[str, str]]]:
    """`n` short user/assistant exchanges in the chat `messages` shape."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        user = f"Today {rng.choice(_EVENTS)} and I felt {rng.choice(_FEELINGS)}. What should I do?"
        reply = f"{rng.choice(_OPENERS)} {rng.choice(_ADVICE)}"
        out.append([{"role": "user", "content": user}, {"role": "assistant", "content": reply}])
    return out


def builtin_texts(n: int = 400, seed: int = 0) -> list[str]:
    return [" ".join(m["content"] for m in msgs) for msgs in coaching_dialogues(n, seed)]


def texts_from_file(path: Path) -> Iterator[str]:
    """Lines of a plain-text file, or the message contents of a chat `messages` JSONL file."""
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            if path.suffix == ".jsonl":
                obj = json.loads(line)
                msgs = obj.get("messages", []) if isinstance(obj, dict) else []
                text = " ".join(str(m.get("content", "")) for m in msgs)
                if text.strip():
                    yield text
            else:
                yield line
