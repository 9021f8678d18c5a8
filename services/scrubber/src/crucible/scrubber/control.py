"""The clean control set: everyday messages with no personal data, for the over-redaction figure.

`data/clean_messages.txt` was written for this check (not drawn from any benchmark): plans,
chores, moods, health, work and family life without names, brands and holidays included, a few
lists with line breaks. Every span a detector finds there is over-redaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

CLEAN_MESSAGES = Path(__file__).parent / "data" / "clean_messages.txt"


def clean_messages(path: Path = CLEAN_MESSAGES) -> list[str]:
    """One message a line; a literal backslash-n is a line break; "#" lines are comments."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.replace("\\n", "\n") for line in lines if line.strip() and not line.startswith("#")]


def over_redaction(messages: Sequence[str], predictions: Sequence[Sequence[tuple[int, int, str]]]) -> dict[str, Any]:
    """Share of messages with any redaction (the figure), and of letters/digits redacted."""
    hit = letters = redacted = 0
    by_type: dict[str, int] = {}
    for text, preds in zip(messages, predictions, strict=True):
        letters += sum(c.isalnum() for c in text)
        covered = set()
        for s, e, t in preds:
            covered.update(i for i in range(s, e) if text[i].isalnum())
            by_type[t] = by_type.get(t, 0) + 1
        redacted += len(covered)
        hit += bool(preds)
    return {
        "messages": len(messages),
        "messages_with_redaction": hit,
        "over_redaction": round(hit / len(messages), 4) if messages else 0.0,
        "chars_redacted": round(redacted / letters, 4) if letters else 0.0,
        "spans_by_type": dict(sorted(by_type.items())),
    }
