"""A generated corpus with planted near-duplicates at known edit distances (benchmark, tests).

Texts read like short coaching check-ins (a few sentences, ~300 characters: the length of a
check-in plus the coach's reply). A share of records copies an earlier record and applies a
known number of random character edits (substitution, insertion, deletion); edit count 0
means the same text with changed case and punctuation, i.e. an exact duplicate after
normalisation."""

from __future__ import annotations

import random
import string
from dataclasses import dataclass

_COMMON = [
    "i",
    "we",
    "you",
    "my",
    "our",
    "partner",
    "feel",
    "felt",
    "really",
    "today",
    "yesterday",
    "week",
    "talk",
    "talked",
    "listen",
    "listened",
    "time",
    "together",
    "walk",
    "dinner",
    "work",
    "stress",
    "tired",
    "happy",
    "calm",
    "angry",
    "sad",
    "hope",
    "want",
    "need",
    "try",
    "tried",
    "again",
    "because",
    "when",
    "after",
    "before",
    "about",
    "with",
    "without",
    "more",
    "less",
    "little",
    "lot",
    "always",
    "never",
    "sometimes",
    "should",
    "could",
    "would",
    "will",
    "can",
    "cannot",
    "did",
    "do",
    "does",
    "was",
    "were",
    "is",
    "are",
    "be",
    "been",
    "being",
    "have",
    "has",
    "had",
    "the",
    "a",
    "an",
    "and",
    "but",
    "or",
    "so",
    "if",
    "then",
    "that",
    "this",
    "these",
    "those",
    "it",
    "its",
    "they",
    "them",
    "their",
    "there",
    "here",
    "plan",
    "plans",
    "weekend",
    "morning",
    "evening",
    "night",
    "call",
    "message",
    "kids",
    "family",
    "friends",
    "money",
    "home",
    "trip",
    "argument",
    "conflict",
    "apology",
    "thank",
    "thanks",
    "grateful",
    "appreciate",
    "support",
    "space",
    "boundary",
    "boundaries",
    "coach",
    "suggest",
    "suggestion",
    "exercise",
    "gratitude",
    "check",
    "in",
    "share",
    "feelings",
    "honest",
    "honestly",
    "open",
]
EDIT_LEVELS = (0, 1, 2, 4, 8, 16, 32, 64)


@dataclass(frozen=True)
class Planted:
    index: int  # position of the copy in the corpus
    source: int  # position of the record it was copied from
    edits: int


def _word(rng: random.Random) -> str:
    return "".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 9)))


def _edit(text: str, edits: int, rng: random.Random) -> str:
    chars = list(text)
    for _ in range(edits):
        op = rng.random()
        pos = rng.randrange(len(chars) + (1 if op < 1 / 3 else 0)) if chars else 0
        if op < 1 / 3 or not chars:
            chars.insert(pos, rng.choice(string.ascii_lowercase + " "))
        elif op < 2 / 3:
            chars[pos] = rng.choice(string.ascii_lowercase)
        else:
            del chars[pos]
    return "".join(chars)


def _restyle(text: str, rng: random.Random) -> str:
    """Same normalised text: case and punctuation only."""
    words = text.split(" ")
    out = []
    for w in words:
        w = w.upper() if rng.random() < 0.1 else w
        out.append(w + ("," if rng.random() < 0.1 else ""))
    return " ".join(out) + rng.choice(["!", "?!", "...", ""])


def generate(
    n: int, seed: int = 7, duplicate_share: float = 0.3, window: int = 2000
) -> tuple[list[str], list[Planted]]:
    """`n` texts; about `duplicate_share` of them are edited copies of one of the previous
    `window` records (so a prefix sample holds both ends of most pairs)."""
    rng = random.Random(seed)
    vocab = _COMMON + [_word(rng) for _ in range(4000)]
    weights = [1.0 / (i + 1) ** 0.8 for i in range(len(vocab))]
    texts: list[str] = []
    planted: list[Planted] = []
    for i in range(n):
        if i > 0 and rng.random() < duplicate_share:
            src = rng.randrange(max(0, i - window), i)
            edits = rng.choice(EDIT_LEVELS)
            base = texts[src]
            texts.append(_restyle(base, rng) if edits == 0 else _edit(base, edits, rng))
            planted.append(Planted(i, src, edits))
            continue
        sentences = []
        for _ in range(rng.randint(3, 6)):
            words = rng.choices(vocab, weights=weights, k=rng.randint(6, 14))
            sentences.append(" ".join(words).capitalize() + rng.choice([".", ".", "!", "?"]))
        texts.append(" ".join(sentences))
    return texts, planted


def edited_copy(text: str, edits: int = 1, seed: int = 0) -> str:
    """`text` with `edits` random character edits (tests: 1-2 edits of a ~300-character text
    keep the exact Jaccard well above 0.85)."""
    return _edit(text, edits, random.Random(seed))
