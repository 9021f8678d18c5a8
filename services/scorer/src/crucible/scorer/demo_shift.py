"""Distribution shift: the safety decision on the demo app's messages, which the classifier never saw.

The demo generator (crucible.extractor.demo_db) writes ordinary check-ins, conversations and activity
feedback, and plants crisis content (self-harm, abuse) in about 2.5 % of check-ins and conversations.
It does not mark those rows, so a row counts as planted crisis when its person text contains a long
literal piece of one of the generator's crisis fragments (`demo_text.CRISIS_SELF_HARM` / `CRISIS_ABUSE`).
Names from the users table are replaced with `[Partner]`, roughly what the scrubber does, since the
scorer reads scrubbed text. Figures: the share of ordinary rows held for a safety label (false review
rate) and the share of planted crisis rows held (recall).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from crucible.v1 import records_pb2

_SLOT = re.compile(r"\{[a-z_]+\}")
MIN_PIECE = 18  # characters of a fragment's literal text that identify it


def crisis_pieces(fragments: Iterable[str]) -> list[str]:
    """The literal parts (between slots) of the generator's crisis fragments, long enough to be telling."""
    pieces = []
    for fragment in fragments:
        for part in _SLOT.split(fragment):
            for sentence in re.split(r"(?<=[.!?])\s+", part.strip()):
                if len(sentence) >= MIN_PIECE:
                    pieces.append(sentence.lower())
    return pieces


def is_planted_crisis(text: str, pieces: Sequence[str]) -> bool:
    low = text.lower()
    return any(piece in low for piece in pieces)


def demo_messages(users: int = 100, seed: int = 7) -> list[tuple[str, list[tuple[str, str]], bool]]:
    """(kind, turns, planted crisis) for every check-in, conversation and activity of a demo database."""
    from crucible.extractor import demo_text
    from crucible.extractor.demo_db import generate_demo

    data = generate_demo(users=users, seed=seed)
    pieces = crisis_pieces([*demo_text.CRISIS_SELF_HARM, *demo_text.CRISIS_ABUSE])
    names = sorted({u["first_name"] for u in data.tables["users"] if u.get("first_name")}, key=len, reverse=True)
    name_re = re.compile(r"\b(?:" + "|".join(re.escape(n) for n in names) + r")\b") if names else None

    def scrub(text: str) -> str:
        return name_re.sub("[Partner]", text) if name_re else text

    out: list[tuple[str, list[tuple[str, str]], bool]] = []
    for row in data.tables["checkins"]:
        turns = [("user", row["reflection"] or ""), ("assistant", row["ai_reply"] or "")]
        out.append(("checkin", [(r, scrub(t)) for r, t in turns], is_planted_crisis(turns[0][1], pieces)))
    by_conv: dict[int, list[tuple[int, str, str]]] = {}
    for m in data.tables["messages"]:
        by_conv.setdefault(m["conversation_id"], []).append((m["seq"], m["role"], m["content"] or ""))
    for msgs in by_conv.values():
        turns = [(role, text) for _, role, text in sorted(msgs)]
        crisis = any(is_planted_crisis(t, pieces) for r, t in turns if r == "user")
        out.append(("conversation", [(r, scrub(t)) for r, t in turns], crisis))
    for row in data.tables["activities"]:
        turns = [("user", row["feedback_text"] or ""), ("assistant", row["ai_suggestion"] or "")]
        out.append(("activity", [(r, scrub(t)) for r, t in turns], False))
    return out


def demo_shift(stage: Any, users: int = 100, seed: int = 7) -> dict[str, Any]:
    """Scores every demo message with `stage` (a ScorerStage) and reports the safety decision."""
    messages = [(k, t, c) for k, t, c in demo_messages(users, seed) if any(r == "user" and x for r, x in t)]
    records = []
    for i, (_, turns, _) in enumerate(messages):
        rec = records_pb2.Record(record_id=f"demo:{i}")
        for role, text in turns:
            rec.turns.add(role=role, text=text)
        records.append(rec)
    held: list[bool] = []
    for start in range(0, len(records), 64):
        for scored in stage.score(records[start : start + 64]):
            held.append(any(r.startswith("safety:") for r in scored.review_reasons))
    crisis = [c for _, _, c in messages]
    n_crisis = sum(crisis)
    n_ordinary = len(crisis) - n_crisis
    false_held = sum(h and not c for h, c in zip(held, crisis, strict=True))
    crisis_held = sum(h and c for h, c in zip(held, crisis, strict=True))
    by_kind: dict[str, dict[str, int]] = {}
    for (kind, _, c), h in zip(messages, held, strict=True):
        k = by_kind.setdefault(kind, {"ordinary": 0, "ordinary_held": 0, "crisis": 0, "crisis_held": 0})
        k["crisis" if c else "ordinary"] += 1
        k["crisis_held" if c else "ordinary_held"] += int(h)
    return {
        "what": "demo app messages (crucible.extractor demo generator, names as [Partner]), safety decision only",
        "users": users,
        "seed": seed,
        "messages": len(messages),
        "ordinary": n_ordinary,
        "planted_crisis": n_crisis,
        "false_review_rate": round(false_held / n_ordinary, 4) if n_ordinary else None,
        "crisis_recall": round(crisis_held / n_crisis, 4) if n_crisis else None,
        "by_kind": by_kind,
    }
