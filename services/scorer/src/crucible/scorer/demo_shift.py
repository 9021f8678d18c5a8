"""Distribution shift: the safety decision on the demo app's messages, which the classifier never saw.

The demo app database comes from `crucible demo-db` (run as a command: services share data, not
code) and is read as plain SQLite. The generator plants crisis content (self-harm, abuse) in about
2.5 % of check-ins and conversations without marking the rows; like the app's own coach, the demo
answers those with crisis resources, so a row counts as planted crisis when the coach's reply
points to a crisis line, a hotline or emergency services. First names from the users table are
replaced with `[Partner]`, roughly what the scrubber does, since the scorer reads scrubbed text.
Figures: the share of ordinary rows held for a safety label (false review rate) and the share of
crisis rows held (recall).
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from crucible.v1 import records_pb2

_RESOURCES = re.compile(r"\b988\b|crisis line|hotline|emergency (?:number|services)", re.IGNORECASE)


def is_crisis_reply(reply: str) -> bool:
    """Whether a coach reply points to crisis resources (how the demo answers planted crisis rows)."""
    return bool(_RESOURCES.search(reply))


def write_demo_db(path: Path, users: int, seed: int) -> Path:
    subprocess.run(
        [sys.executable, "-m", "crucible.common.cli", "demo-db", "--out", str(path), "--users", str(users),
         "--seed", str(seed)],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    return path


def demo_messages(users: int = 100, seed: int = 7) -> list[tuple[str, list[tuple[str, str]], bool]]:
    """(kind, turns, crisis) for every check-in, conversation and activity of a demo database."""
    with tempfile.TemporaryDirectory(prefix="crucible-demo-shift-") as tmp:
        con = sqlite3.connect(write_demo_db(Path(tmp) / "demo.db", users, seed))
        con.row_factory = sqlite3.Row
        try:
            names = sorted(
                {r["first_name"] for r in con.execute("SELECT first_name FROM users") if r["first_name"]},
                key=len,
                reverse=True,
            )
            checkins = [(r["reflection"] or "", r["ai_reply"] or "") for r in con.execute("SELECT * FROM checkins")]
            messages = list(con.execute("SELECT conversation_id, seq, role, content FROM messages"))
            activities = [
                (r["feedback_text"] or "", r["ai_suggestion"] or "") for r in con.execute("SELECT * FROM activities")
            ]
        finally:
            con.close()
    name_re = re.compile(r"\b(?:" + "|".join(re.escape(n) for n in names) + r")\b") if names else None

    def scrub(text: str) -> str:
        return name_re.sub("[Partner]", text) if name_re else text

    out: list[tuple[str, list[tuple[str, str]], bool]] = []
    for person, reply in checkins:
        out.append(("checkin", [("user", scrub(person)), ("assistant", scrub(reply))], is_crisis_reply(reply)))
    by_conv: dict[int, list[tuple[int, str, str]]] = {}
    for m in messages:
        by_conv.setdefault(m["conversation_id"], []).append((m["seq"], m["role"], m["content"] or ""))
    for msgs in by_conv.values():
        turns = [(role, text) for _, role, text in sorted(msgs)]
        crisis = any(is_crisis_reply(t) for r, t in turns if r == "assistant")
        out.append(("conversation", [(r, scrub(t)) for r, t in turns], crisis))
    for person, reply in activities:
        out.append(("activity", [("user", scrub(person)), ("assistant", scrub(reply))], is_crisis_reply(reply)))
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
        "what": "demo app messages (`crucible demo-db`, names as [Partner], crisis = reply points to resources)",
        "users": users,
        "seed": seed,
        "messages": len(messages),
        "ordinary": n_ordinary,
        "planted_crisis": n_crisis,
        "false_review_rate": round(false_held / n_ordinary, 4) if n_ordinary else None,
        "crisis_recall": round(crisis_held / n_crisis, 4) if n_crisis else None,
        "by_kind": by_kind,
    }
